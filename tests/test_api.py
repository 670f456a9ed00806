"""kind: api against real servers on 127.0.0.1: `transformers serve` with a tiny model (answers must equal the
in-process runner's), and a scripted OpenAI-protocol server for what a model server will not do on demand."""

from __future__ import annotations

import base64
import io
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("openai")
pytest.importorskip("fastapi")
pytest.importorskip("transformers")

from helpers import assert_one_line, audiomlqa  # noqa: E402

from audiomlqa.evaluation import Item, load_runner, load_spec, short_answer_prompt  # noqa: E402
from audiomlqa.sources import load_questions  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "audiomlqa" / "data" / "mlqa-sample"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited: {proc.stderr.read()[-2000:] if proc.stderr else ''}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up in {seconds} s")


@pytest.fixture(scope="module")
def tiny_llm() -> str:
    from audiomlqa.llm.names import resolve

    return resolve("tiny-random/llm")


@pytest.fixture(scope="module")
def served(tiny_llm):
    """`transformers serve` with the tiny random Llama, on a free port of 127.0.0.1."""
    port = free_port()
    proc = subprocess.Popen(
        [
            Path(sys.executable).with_name("transformers"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--device",
            "cpu",
            tiny_llm,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/health", proc)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def scripted(tmp_path):
    procs = []

    def start(mode: str) -> str:
        port = free_port()
        proc = subprocess.Popen([sys.executable, ROOT / "tests" / "scripted_server.py", str(port), mode], cwd=tmp_path)
        procs.append(proc)
        wait_for(f"http://127.0.0.1:{port}/health", proc)
        return f"http://127.0.0.1:{port}/v1"

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def items(n: int = 6, audio: bool = False) -> list[Item]:
    questions = load_questions(SAMPLE, pairs=["en", "de"])[:n]
    clips = [None] * len(questions)
    if audio:
        from audiomlqa.audio import prepare
        from audiomlqa.tts import load_backend

        tts = load_backend("espeak")
        clips = [
            prepare(tts.synthesize(q.question, q.question_lang, tts.voices(q.question_lang)[0])).samples
            for q in questions
        ]
    return [
        Item(
            q.id,
            q.context,
            q.question,
            a,
            q.context_lang,
            q.question_lang,
            short_answer_prompt(q.context, q.question, q.context_lang),
            short_answer_prompt(q.context, None, q.context_lang),
        )
        for q, a in zip(questions, clips)
    ]


def api_spec(tmp_path: Path, **fields) -> Path:
    path = tmp_path / f"{fields.get('name', 'served')}.json"
    path.write_text(json.dumps({"name": "served", "kind": "api", "max_new_tokens": 6, **fields}))
    return path


@pytest.mark.slow
def test_text_answers_through_transformers_serve_equal_the_in_process_runner(served, tiny_llm, tmp_path):
    batch = items()  # two of the six prompts are longer than the tiny model's window (512 tokens)
    local = load_runner(load_spec(ROOT / "models" / "tiny-text.json", ["device=cpu"])).answer(batch)
    runner = load_runner(load_spec(api_spec(tmp_path, base_url=served, model=tiny_llm, concurrency=3)))
    got = runner.answer(batch)
    assert got.texts == local.texts and got.over_window == local.over_window == [False, True, True, False, False, False]
    assert runner.describe()["base_url"] == served and runner.describe()["concurrency"] == 3


@pytest.mark.slow
def test_the_cascade_transcribes_here_and_asks_the_server(served, tiny_llm, tmp_path):
    pytest.importorskip("espeakng_loader")
    batch = items(4, audio=True)
    local = load_runner(load_spec(ROOT / "models" / "tiny-cascade.json", ["device=cpu"])).answer(batch)
    asr = {"backend": "transformers", "model": "tiny-random/whisper"}
    runner = load_runner(load_spec(api_spec(tmp_path, base_url=served, model=tiny_llm, question="transcript", asr=asr)))
    got = runner.answer(batch)
    assert runner.needs_audio and got.transcripts == local.transcripts and got.texts == local.texts
    assert got.over_window == local.over_window and any(local.over_window)


def test_an_audio_question_goes_out_as_an_input_audio_part_and_429_and_500_are_retried(scripted, tmp_path):
    pytest.importorskip("espeakng_loader")
    import soundfile as sf

    url = scripted("flaky")
    runner = load_runner(
        load_spec(api_spec(tmp_path, base_url=url, model="scripted", question="audio", concurrency=1, retries=3))
    )
    [item] = items(1, audio=True)
    assert runner.answer([item]).texts == ["audio"]
    sent = [json.loads(x) for x in (tmp_path / "requests.jsonl").read_text().splitlines()]
    assert len(sent) == 3, "a 429 and a 500, each retried, then the answer"
    message = sent[-1]["body"]["messages"][-1]
    assert message["role"] == "user" and [p["type"] for p in message["content"]] == ["text", "input_audio", "text"]
    part = message["content"][1]["input_audio"]
    samples, rate = sf.read(io.BytesIO(base64.b64decode(part["data"])))
    assert part["format"] == "wav" and rate == 16000 and len(samples) == len(item.audio)
    before, after = item.speech_prompt.split("<speech>")
    assert message["content"][0]["text"] == before and message["content"][2]["text"] == after
    assert sent[-1]["body"]["temperature"] == 0.0 and sent[-1]["body"]["max_tokens"] == 6


@pytest.fixture(scope="module")
def dataset(spoken_dataset) -> Path:
    pytest.importorskip("espeakng_loader")
    pytest.importorskip("faster_whisper")
    return spoken_dataset(["en"], 2)  # the one test_official_prompts reads


@pytest.mark.slow
def test_a_dead_server_a_refused_key_and_a_missing_key_fail_in_one_line_and_the_key_never_shows(
    scripted, dataset, tmp_path
):
    dead = api_spec(tmp_path, name="dead", base_url=f"http://127.0.0.1:{free_port()}/v1", model="m", retries=0)
    assert_one_line(
        audiomlqa("score", dead, "--dataset", dataset, "--predictions-dir", tmp_path / "p"), "cannot reach http://127.0"
    )
    unset = api_spec(tmp_path, name="unset", base_url="http://127.0.0.1:9/v1", model="m", api_key_env="NO_SUCH_KEY_V")
    assert_one_line(audiomlqa("score", unset, "--dataset", dataset), "NO_SUCH_KEY_V (api_key_env) is not set")
    locked = api_spec(tmp_path, name="locked", base_url=scripted("locked"), model="m", api_key_env="SERVED_KEY")
    out = audiomlqa(
        "score",
        locked,
        "--dataset",
        dataset,
        "--predictions-dir",
        tmp_path / "p",
        env={"SERVED_KEY": "sk-very-secret-value"},
    )
    assert_one_line(out, "refused the key (401)")
    assert "sk-very-secret-value" not in out.stderr + out.stdout


@pytest.mark.slow
def test_score_runs_a_served_model_end_to_end_and_caches_without_the_key(served, tiny_llm, dataset, tmp_path):
    spec = api_spec(tmp_path, base_url=served, model=tiny_llm, api_key_env="SERVED_KEY")
    out = audiomlqa(
        "score",
        spec,
        "--dataset",
        dataset,
        "--predictions-dir",
        tmp_path / "p",
        "--json",
        env={"SERVED_KEY": "sk-very-secret-value"},
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)["models"][0]
    assert report["configs"]["en"]["total"] == 2 and report["provenance"]["runner"]["base_url"] == served
    cached = "".join(p.read_text() for p in (tmp_path / "p").rglob("*.json"))
    assert "sk-very-secret-value" not in cached + out.stderr + out.stdout
    again = audiomlqa(
        "score",
        spec,
        "--dataset",
        dataset,
        "--predictions-dir",
        tmp_path / "p",
        "--quiet",
        env={"SERVED_KEY": "sk-very-secret-value"},
    )
    assert "0 answer(s) generated, 2 reused" in again.stderr


@pytest.mark.slow
def test_a_judge_behind_transformers_serve_judges_through_the_same_score(served, tiny_llm, dataset, tmp_path):
    judge = api_spec(tmp_path, name="served-judge", base_url=served, model=tiny_llm, max_new_tokens=4)
    out = audiomlqa(
        "score",
        ROOT / "models" / "tiny-text.json",
        "--dataset",
        dataset,
        "--predictions-dir",
        tmp_path / "p",
        "--judge",
        judge,
        "--judge-check",
        "1",
        "--json",
        "--quiet",
    )
    assert out.returncode == 0, out.stderr
    model = json.loads(out.stdout)["models"][0]
    en = model["configs"]["en"]
    assert en["judge_parsed"] + en["judge_unparsed"] == en["total"] == 2  # a random model rarely writes a digit
    assert model["judge"]["base_url"] == served and model["judge"]["prompt_sha256"]


@pytest.mark.slow
def test_a_prompt_over_the_window_has_the_same_outcome_and_count_through_transformers_serve_and_in_process(
    served, tiny_llm, dataset, tmp_path
):
    """The dataset's two questions: one prompt fits the tiny model's 512 tokens, one (736 tokens) does not."""
    spec = api_spec(tmp_path, base_url=served, model=tiny_llm)
    local_spec = ROOT / "models" / "tiny-text.json"
    report = tmp_path / "report.json"  # what --json prints; the tables go to stdout
    out = audiomlqa(
        "score", local_spec, spec, "--dataset", dataset, "--predictions-dir", tmp_path / "p", "--markdown",
        "--output", report, "--quiet",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    local, remote = json.loads(report.read_text())["models"]
    assert local["over_window"] == remote["over_window"] == 1 and local["configs"] == remote["configs"]
    assert local["configs"]["en"]["over_window"] == 1 and local["configs"]["en"]["total"] == 2
    assert "tiny-text: over window: 1 (en 1)" in out.stdout and "served: over window: 1 (en 1)" in out.stdout
    for name in ("en.json", "en.raw.json"):
        mine, theirs = (json.loads((tmp_path / "p" / m / name).read_text()) for m in ("tiny-text", "served"))
        assert mine.get("raw", mine) == theirs.get("raw", theirs) and mine.get("over_window") == theirs.get(
            "over_window"
        )


@pytest.mark.slow
def test_a_prompt_leaving_too_little_room_is_over_window_through_a_server_given_the_window(served, tiny_llm, tmp_path):
    """`transformers serve` refuses only a prompt as long as its window, and does not list the window: a spec that
    states it applies the in-process rule to a prompt that leaves less room than max_new_tokens."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llm)

    def count(prompt: str) -> int:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
        return len(tokenizer(text, add_special_tokens=False).input_ids)

    tight = next(p for p in ("a" + " a" * n for n in range(600)) if count(p) == 510)  # 510 + 6 new > 512
    batch = [Item("tight", "", "", None, "en", "en", tight, tight)]
    local = load_runner(load_spec(ROOT / "models" / "tiny-text.json", ["device=cpu"])).answer(batch)
    told = load_runner(load_spec(api_spec(tmp_path, base_url=served, model=tiny_llm, context_window=512)))
    untold = load_runner(load_spec(api_spec(tmp_path, base_url=served, model=tiny_llm)))
    assert local.over_window == told.answer(batch).over_window == [True]
    assert untold.answer(batch).over_window == [False], "the server alone answers past the window"
