"""Served models' errors say why, and never show a key: only what a retry can fix is retried (429, 5xx, time-outs,
dropped connections); any other 4xx fails at once in one line with the server's own reason; a server that echoes the
key it was sent (in a 400, a 500, or its model list) never gets the key's value into stdout, stderr or any file."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

pytest.importorskip("openai")
pytest.importorskip("datasets")

from helpers import audiomlqa  # noqa: E402
from test_api import scripted  # noqa: E402, F401 - the scripted server, as a fixture
from test_context_window import sample_questions, text_dataset  # noqa: E402

from audiomlqa.errors import AudioMLQAError, mask_secrets  # noqa: E402
from audiomlqa.evaluation import Item, load_runner, load_spec  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-echo-0123456789abcdef"
"""Held in a variable whose name says nothing secret (LLM_AUTH): only the spec naming it can mask it."""


def spec(tmp_path: Path, url: str, **fields) -> Path:
    path = tmp_path / f"{fields.get('name', 'served')}.json"
    path.write_text(json.dumps({"name": "served", "kind": "api", "base_url": url, "model": "scripted", **fields}))
    return path


def questions(n: int) -> list[Item]:
    return [Item(f"q{i}", "", "", None, "en", "en", f"Question {i}: short", "") for i in range(n)]


def requests_seen(folder: Path) -> int:
    log = folder / "requests.jsonl"
    return len(log.read_text().splitlines()) if log.exists() else 0


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """Two short English questions, text only."""
    return text_dataset(tmp_path_factory.mktemp("errors") / "dataset", {"en": sample_questions("en", ["688e43ec"])})


@pytest.mark.parametrize(
    "mode, reason",
    [("bad", "temperature must be at most 2, got 7"), ("bad-text", "Bad Request: this server takes no audio")],
)
def test_a_400_fails_at_once_in_one_line_naming_the_servers_reason(mode, reason, scripted, tmp_path):  # noqa: F811
    runner = load_runner(load_spec(spec(tmp_path, scripted(mode), retries=5, concurrency=1)))
    start = time.monotonic()
    with pytest.raises(AudioMLQAError) as failed:
        runner.answer(questions(3))
    message = str(failed.value)
    assert "answered 400, not retried: " + reason in message and "\n" not in message, message
    assert "Traceback" not in message and requests_seen(tmp_path) == 1, "no retry, and no request after the failure"
    assert time.monotonic() - start < 2


def test_a_500_is_retried_then_fails_naming_the_servers_reason(scripted, tmp_path):  # noqa: F811
    runner = load_runner(load_spec(spec(tmp_path, scripted("down"), retries=2)))
    with pytest.raises(AudioMLQAError, match=r"failed after 2 retries \(500: the engine died \(CUDA error"):
        runner.answer(questions(1))
    assert requests_seen(tmp_path) == 3, "retries + 1"


def test_secrets_are_masked_by_value_the_configured_key_and_every_secret_named_variable(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_abcdefghijklmnop")
    monkeypatch.setenv("MY_SERVICE_SECRET", "s3cr3t-value")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")  # a secret-looking name with a short value: left alone
    text = "hf_abcdefghijklmnop / s3cr3t-value / abc / false"
    assert mask_secrets(text, ["abc"]) == "*** / *** / *** / false"
    assert mask_secrets("sk-1 and sk-12", ["sk-12", "sk-1"]) == "*** and ***", "the longer key first, masked whole"


@pytest.mark.parametrize(
    "mode",
    ["echo-400", pytest.param("echo-500", marks=pytest.mark.slow), pytest.param("echo-models", marks=pytest.mark.slow)],
)
@pytest.mark.parametrize("role", ["model", pytest.param("judge", marks=pytest.mark.slow)])
def test_a_key_the_server_echoes_back_never_appears_in_output_or_files(role, mode, scripted, dataset, tmp_path):  # noqa: F811
    url, out = scripted(mode), tmp_path / "out"
    served = spec(tmp_path, url, api_key_env="LLM_AUTH", retries=1, max_new_tokens=4, concurrency=1)
    if role == "model":
        args = ["score", served, "--dataset", dataset, "--predictions-dir", out, "--quiet"]
    else:  # a predictions file judged by the served judge; the judgements would be cached beside it
        from audiomlqa.sources import read_mlqa_dir

        [gold] = read_mlqa_dir(ROOT / "audiomlqa" / "data" / "mlqa-sample", "dev", [("en", "en")])
        out.mkdir()
        (out / "en.json").write_text(json.dumps({q.id: q.answer_texts[0] for q in gold.questions[:2]}))
        args = ["score", out / "en.json", "--dataset", gold.path, "--judge", served]
    result = audiomlqa(*args, env={"LLM_AUTH": KEY})
    line = result.stderr.strip().splitlines()[-1]  # (after the lines that say what runs)
    assert result.returncode == 2 and line.startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    assert "***" in line, line  # the key was echoed: its place is marked, its value gone
    assert ("400" if mode != "echo-500" else "failed after 1 retry (500") in line
    written = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
    leaked = [str(p) for p in written if KEY.encode() in p.read_bytes()]
    assert KEY not in result.stdout + result.stderr and leaked == []
    assert requests_seen(tmp_path) == {"echo-400": 1, "echo-500": 2, "echo-models": 0}[mode], "only the 500 is retried"
