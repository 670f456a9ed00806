"""Served models' errors say why, and never show a key: only what a retry can fix is retried (429, 5xx, time-outs,
dropped connections); any other 4xx fails at once in one line with the server's own reason; a server that echoes the
key it was sent (in a 400, a 500, its model list or an answer), whichever variable holds it, never gets the key's
value (nor its start, nor an escaped form) into stdout, stderr or any file written; a 200 that is not a chat completion
(HTML, wrong types, no choice) fails in one line naming the server and what was wrong, for models and judges alike."""

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


SERVER_LOG = "requests.jsonl"
"""What the scripted server itself writes (the headers it was sent): the one file allowed to hold the key."""
ECHOES = [
    ("echo-400", "model", "LLM_AUTH"),
    ("echo-answer", "model", "OPENAI_API_KEY"),
    pytest.param("echo-500", "model", "HF_TOKEN", marks=pytest.mark.slow),
    pytest.param("echo-models", "model", "LLM_AUTH", marks=pytest.mark.slow),
    pytest.param("echo-400", "judge", "HF_TOKEN", marks=pytest.mark.slow),
    pytest.param("echo-500", "judge", "LLM_AUTH", marks=pytest.mark.slow),
    pytest.param("echo-models", "judge", "OPENAI_API_KEY", marks=pytest.mark.slow),
    pytest.param("echo-answer", "judge", "LLM_AUTH", marks=pytest.mark.slow),
]
"""(server mode, who the server is, the variable the spec's api_key_env names): a name that says nothing secret
(LLM_AUTH: only the spec naming it can mask it) and the common token variables."""


@pytest.mark.parametrize("mode, role, variable", ECHOES)
def test_a_key_the_server_echoes_back_never_appears_in_output_or_files(
    mode,
    role,
    variable,
    scripted,  # noqa: F811
    dataset,
    tmp_path,
):
    url, work, out = scripted(mode), tmp_path / "work", tmp_path / "work" / "out"
    served = spec(tmp_path, url, api_key_env=variable, retries=1, max_new_tokens=4, concurrency=1)
    if role == "model":
        args = ["score", served, "--dataset", dataset, "--predictions-dir", out]
    else:  # a predictions file judged by the served judge; the judgements are cached beside it
        from audiomlqa.sources import read_mlqa_dir

        [gold] = read_mlqa_dir(ROOT / "audiomlqa" / "data" / "mlqa-sample", "dev", [("en", "en")])
        out.mkdir(parents=True)
        (out / "en.json").write_text(json.dumps({q.id: q.answer_texts[0] for q in gold.questions[:2]}))
        args = ["score", out / "en.json", "--dataset", gold.path, "--judge", served]
    home = {k: str(tmp_path / "home" / k) for k in ("HOME", "HF_HOME", "XDG_CACHE_HOME", "AUDIOMLQA_CACHE", "TMPDIR")}
    for folder in [work, *map(Path, home.values())]:
        folder.mkdir(parents=True, exist_ok=True)
    result = audiomlqa(*args, env={variable: KEY, **home}, cwd=work)  # every file written lands under tmp_path
    if mode == "echo-answer":  # a 200 whose answer holds the key: the run succeeds, the answer is cached masked
        assert result.returncode == 0, result.stderr
        assert "***" in "".join(p.read_text() for p in out.rglob("*.json") if p.name != "en.json")
    else:
        line = result.stderr.strip().splitlines()[-1]  # (after the lines that say what runs)
        assert result.returncode == 2 and line.startswith("error: ") and "Traceback" not in result.stderr, result.stderr
        assert "***" in line, line  # the key was echoed: its place is marked, its value gone
        assert ("400" if mode != "echo-500" else "failed after 1 retry (500") in line
        assert requests_seen(tmp_path) == {"echo-400": 1, "echo-500": 2, "echo-models": 0}[mode], "a 500 is retried"
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != SERVER_LOG]
    assert KEY not in result.stdout + result.stderr
    assert [str(p) for p in written if KEY.encode() in p.read_bytes()] == []


BROKEN = {
    "html": "answered with text/html that is not JSON ('<!DOCTYPE html>'), not a chat completion",
    "choices-nope": "sent a reply that is not a chat completion: choices: expected a list, got 'nope'",
    "choices-empty": "sent a reply that is not a chat completion: choices: list should have at least 1 item",
    "no-message": "sent a reply that is not a chat completion: choices[0].message: required",
    "content-number": "sent a reply that is not a chat completion: choices[0].message.content: expected text, got 42",
    "usage-text": "sent a reply that is not a chat completion: usage.prompt_tokens: expected an integer, got 'many'",
    "list-body": "sent a reply that is not a chat completion: expected a mapping",
}
"""Scripted server modes that answer 200 with something else than a chat completion → what the error says."""


@pytest.mark.parametrize("role", ["model", "judge"])
@pytest.mark.parametrize("mode", BROKEN)
def test_a_reply_that_is_not_a_chat_completion_fails_in_one_line_naming_the_server_and_what_is_wrong(
    mode,
    role,
    scripted,  # noqa: F811
    tmp_path,
):
    from audiomlqa.evaluation.judge import Judge, ToJudge

    url = scripted(mode)
    served = load_spec(spec(tmp_path, url, retries=3, concurrency=1))
    with pytest.raises(AudioMLQAError) as failed:
        if role == "model":
            load_runner(served).answer(questions(2))
        else:
            Judge(served).scores([ToJudge("en-en", "q1", "Who?", ("Ada",), "Ada")])
    message = str(failed.value)
    assert message.startswith(url + " ") and BROKEN[mode] in message and "\n" not in message, message
    assert requests_seen(tmp_path) == 1, "a reply that is not a completion is not retried"


def test_a_model_list_the_server_garbles_leaves_the_window_unknown_and_the_answers_come(scripted, tmp_path):  # noqa: F811
    runner = load_runner(load_spec(spec(tmp_path, scripted("models-garbage"), concurrency=1)))
    assert runner.api.window is None and runner.answer(questions(2)).texts == ["short", "short"]


def test_a_key_is_masked_before_a_long_reason_is_cut_short(scripted, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("LLM_AUTH", KEY)
    runner = load_runner(load_spec(spec(tmp_path, scripted("echo-long"), api_key_env="LLM_AUTH", concurrency=1)))
    with pytest.raises(AudioMLQAError) as failed:
        runner.answer(questions(1))
    message = str(failed.value)
    assert "Bearer ***" in message and KEY[:6] not in message, message  # not even the start of the key


@pytest.mark.parametrize("key", [f"{KEY}\nX", f"{KEY[:8]} {KEY[8:]}", f"{KEY}é"])
def test_a_key_no_header_can_carry_is_refused_in_one_line_without_showing_it(key, scripted, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("LLM_AUTH", key)
    with pytest.raises(AudioMLQAError) as failed:
        load_runner(load_spec(spec(tmp_path, scripted("echo-400"), api_key_env="LLM_AUTH", concurrency=1)))
    message = str(failed.value)
    assert "LLM_AUTH" in message and "no HTTP header can carry" in message and "\n" not in message, message
    assert KEY[:8] not in message and KEY[8:] not in message and requests_seen(tmp_path) == 0


def test_a_key_read_with_its_line_break_is_sent_without_it_and_masked(scripted, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("LLM_AUTH", KEY + "\n")  # as `export LLM_AUTH="$(cat key.txt)"` leaves none, a file may
    runner = load_runner(load_spec(spec(tmp_path, scripted("echo-answer"), api_key_env="LLM_AUTH", concurrency=1)))
    assert runner.answer(questions(1)).texts == ["the key was Bearer ***"]


def test_a_secret_is_masked_as_messages_show_it_escaped_or_in_parts(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_abcdefghijklmnop\n")
    shown = 'b\'Bearer hf_abcdefghijklmnop\\n\' / "sk-0123456789\\"x" / hf_abcdefghijklmnop'
    assert mask_secrets(shown, ['sk-0123456789"x']) == "b'Bearer ***' / \"***\" / ***"
    assert mask_secrets("part one-two-three and four-five-six", ["one-two-three four-five-six"]) == "part *** and ***"


def test_credentials_in_a_base_url_are_never_shown_nor_recorded():
    from audiomlqa.errors import public_url, url_secrets
    from audiomlqa.llm.api import ChatAPI

    url = "http://me:hunter2-password@127.0.0.1:9/v1?api_key=sk-in-the-query&region=eu"
    shown = public_url(url)
    assert "hunter2" not in shown and "sk-in-the-query" not in shown
    assert shown.startswith("http://me:***@127.0.0.1:9/v1?") and "region=eu" in shown
    assert sorted(url_secrets(url)) == ["hunter2-password", "sk-in-the-query"]
    api = ChatAPI(url, "m")
    assert api.describe()["base_url"] == shown
    assert "hunter2" not in api.mask("the server said: hunter2-password / sk-in-the-query")
    assert public_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
