"""One config layer: recipes, training configs and model specs fail in one line naming the path of the mistake,
before anything is written; numbers are numbers however YAML read them; every command takes key=value overrides."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from helpers import FAST_MODEL, assert_one_line, audiomlqa, espeak_corpus
from hypothesis import given
from hypothesis import strategies as st

from audiomlqa.config import apply_overrides, load_yaml
from audiomlqa.errors import AudioMLQAError
from audiomlqa.synthesis import SynthesisConfig, load_synthesis_config

ROOT = Path(__file__).resolve().parents[1]


def cli(*args) -> subprocess.CompletedProcess:
    return audiomlqa(*args, timeout=300)


# -- synthesis recipes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        ("asr: {backend: faster-whisper, beem_size: 5}\n", "asr: unknown setting(s) beem_size (known: "),
        (
            "tts:\n  en: {backend: kokoro, options: {thread: 2}}\n",
            "tts.en.options: unknown setting(s) thread (known: threads)",
        ),
        (
            "tts:\n  en: {backend: kokoro, options: {threads: many}}\n",
            "tts.en.options.threads: expected an integer, got 'many'",
        ),
        ("tts:\n  en: {backend: festival}\n", "tts.en: unknown choice 'festival'"),
        ("asr: {beam_size: five}\n", "asr.beam_size: expected an integer, got 'five'"),
        ("thresholds: {en: high}\n", "thresholds.en: expected a number, got 'high'"),
        ("thresholds: {fr: 0.2}\n", "thresholds.fr[key]: unknown language 'fr'"),
        ("max_attempts: 0\n", "max_attempts: input should be greater than or equal to 1, got 0"),
        ("per_language: 2.5\n", "per_language: expected an integer, got 2.5"),
        ("shard: 4/2\n", "shard: bad shard '4/2'"),
        ("shard: [a, 2]\n", "shard: bad shard a/2"),
        ("thresholds: {en: .nan}\n", "thresholds.en: input should be a finite number"),
    ],
)
def test_a_synthesis_recipe_mistake_fails_in_one_line_naming_its_path_and_writes_nothing(tmp_path, recipe, message):
    path = tmp_path / "recipe.yaml"
    path.write_text(recipe)
    out = cli("synthesize", "--recipe", path, "-o", tmp_path / "out")
    assert_one_line(out, f"recipe.yaml: {message}")
    assert not (tmp_path / "out").exists()


def test_synthesis_overrides_reach_nested_settings_and_numbers_are_numbers(tmp_path):
    cfg = load_synthesis_config(
        None, ["asr.beam_size=5", "thresholds.en=1e-3", "tts.en.backend=espeak", "rates=[1, 0.9]"]
    )
    assert cfg.asr.beam_size == 5 and cfg.thresholds["en"] == 0.001 and cfg.tts["en"].backend == "espeak"
    assert cfg.rates == [1.0, 0.9] and cfg.thresholds["de"] == 0.2  # the rest of the default map stays
    assert cfg.tts["de"].backend == "kokoro" and cfg.tts["default"].backend == "espeak"
    recipe = tmp_path / "r.yaml"
    recipe.write_text("thresholds: {en: 1.0e9, de: 1e-3}\n")  # both are text to YAML 1.1
    assert load_synthesis_config(recipe).thresholds == {"en": 1e9, "de": 0.001}
    out = cli("synthesize", "asr.beam_size=five", "-o", tmp_path / "o")
    assert_one_line(out, "asr.beam_size: expected an integer, got 'five'")
    assert_one_line(cli("synthesize", "nokey", "-o", tmp_path / "o"), "bad override 'nokey': write key=value")


def test_options_override_the_recipe_and_keep_its_other_asr_settings(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("asr: {backend: faster-whisper, beam_size: 3}\nseed: 4\n")
    cfg = load_synthesis_config(recipe, asr_model="/models/whisper", seed=7, tts="espeak")
    assert (cfg.asr.model, cfg.asr.beam_size, cfg.seed) == ("/models/whisper", 3, 7)
    assert set(cfg.tts) == {"default"} and cfg.tts["default"].backend == "espeak"


def test_a_run_recorded_with_fewer_defaults_spelled_out_still_resumes(tmp_path):
    """run.json of an earlier version held only the settings then known; reading it through today's schema
    fills in the rest, so the same settings are recognised as the same."""
    from audiomlqa.synthesis.pipeline import _changed_settings

    cfg = SynthesisConfig.from_dict({"languages": ["en"], "tts": {"default": {"backend": "espeak"}}})
    old = cfg.fingerprint()
    old["tts"] = {"default": {"backend": "espeak", "voices": None, "options": {}}}  # as the dataclass wrote it
    assert _changed_settings(old, cfg) == []
    assert _changed_settings({**old, "seed": 9}, cfg) == ["seed"]


# -- training recipes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.gates=conv", "model: unknown setting(s) gates (known: whisper, llm, languages"),
        pytest.param("data.text_colum=text", "data: unknown setting(s) text_colum", marks=pytest.mark.slow),
        pytest.param(
            "model.loss_weights.kl=1",
            "model.loss_weights.kl[key]: expected 'lid', 'in' or 'out', got 'kl'",
            marks=pytest.mark.slow,
        ),
        pytest.param("max_steps=2.5", "max_steps: expected an integer, got 2.5", marks=pytest.mark.slow),
        pytest.param("learning_rate=fast", "learning_rate: expected a number, got 'fast'", marks=pytest.mark.slow),
        pytest.param(
            "deepspeed.zero_stage=5", "deepspeed.zero_stage: expected 0, 1, 2 or 3, got 5", marks=pytest.mark.slow
        ),
    ],
)
def test_a_train_recipe_mistake_fails_in_one_line_before_any_model_loads(tmp_path, override, message):
    out = cli(
        "train-reference",
        "--recipe",
        ROOT / "recipes" / "train-tiny-cpu.yaml",
        override,
        f"output_dir={tmp_path / 'run'}",
    )
    assert_one_line(out, f"train-tiny-cpu.yaml: {message}")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_learning_rate_written_1e_3_trains_at_one_thousandth(tmp_path):
    """YAML 1.1 reads 1e-3 as text; AdamW must still get the number. The corpus: two eSpeak clips written as an
    audio folder (what asr-corpus writes), no ASR needed."""
    espeak_corpus(tmp_path / "asr", [("en", "en-us", "Where is the station?"), ("de", "de", "Wo ist der Bahnhof?")])
    out = cli(
        "train-reference",
        "--recipe",
        ROOT / "recipes" / "train-tiny-cpu.yaml",
        "learning_rate=1e-3",
        "max_steps=2",
        "warmup_steps=0",
        *FAST_MODEL,
        f"data.source={tmp_path / 'asr'}",
        f"output_dir={tmp_path / 'run'}",
        "--json",
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout)["steps"] == 2
    saved = json.loads((tmp_path / "run" / "train_config.json").read_text())
    assert saved["learning_rate"] == 0.001
    log = [json.loads(x) for x in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    # the rate each step used: the first the full 1e-3 (no warm-up), the second the cosine's halfway value
    assert log[0]["lr"] == pytest.approx(0.001) and log[1]["lr"] == pytest.approx(0.001 * 0.5)


# -- model specs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"kind": "cascade", "llm": "tiny-random/llm", "asr": {"backend": "transformers", "beem": 2}},
            "asr: unknown setting(s) beem (known: ",
        ),
        pytest.param(
            {"kind": "cascade", "llm": "tiny-random/llm", "asr": {"beam_size": "five"}},
            "asr.beam_size: expected an integer",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            {"kind": "text", "llm": "tiny-random/llm", "batch_size": "four"},
            "batch_size: expected an integer, got 'four'",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            {"kind": "text", "llm": "tiny-random/llm", "prefill": "chunked"},
            "prefill: expected 'separate' or 'padded'",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            {"kind": "text", "llm": "tiny-random/llm", "dtype": "float8"},
            "dtype: expected 'auto', 'float32', 'float16' or 'bfloat16'",
            marks=pytest.mark.slow,
        ),
        ({"kind": "text", "llm": 3}, "llm: expected text, got 3"),
    ],
)
def test_a_model_spec_mistake_fails_in_one_line_naming_its_path(tmp_path, spec, message, sample_dir):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"name": "m", **spec}))
    out = cli("score", path, "--dataset", tmp_path / "nowhere", "--predictions-dir", tmp_path / "p")
    assert_one_line(out, f"spec.json: {message}")
    assert not (tmp_path / "p").exists()


def test_spec_overrides_are_checked_like_the_spec(tmp_path):
    from audiomlqa.evaluation import load_spec

    spec = load_spec(ROOT / "models" / "tiny-text.json", ["batch_size=2", "generation.num_beams=2"])
    assert spec.fields.batch_size == 2 and spec.fields.generation == {"num_beams": 2}
    assert spec.sha256 != load_spec(ROOT / "models" / "tiny-text.json").sha256  # generation changes the answers
    assert spec.sha256 == load_spec(ROOT / "models" / "tiny-text.json", ["generation.num_beams=2"]).sha256
    with pytest.raises(AudioMLQAError, match=r"tiny-text.json: max_new_tokens: expected an integer, got 'lots'"):
        load_spec(ROOT / "models" / "tiny-text.json", ["max_new_tokens=lots"])
    with pytest.raises(AudioMLQAError, match=r"name: string should match pattern"):
        load_spec(ROOT / "models" / "tiny-text.json", ["name=../../elsewhere"])


# -- the override syntax itself -------------------------------------------------------------------------


@given(
    st.dictionaries(
        st.from_regex(r"[a-z]{1,6}", fullmatch=True),
        st.integers()
        | st.booleans()
        | st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=8),
        max_size=4,
    )
)
def test_an_override_sets_exactly_what_yaml_reads_and_leaves_the_input_alone(values):
    import yaml

    data = {"section": {"keep": 1}}
    items = [
        f"section.{k}={yaml.safe_dump(v, default_style=None).strip().removesuffix('...').strip()}"
        for k, v in values.items()
    ]
    out = apply_overrides(data, items)
    assert data == {"section": {"keep": 1}}
    for k, v in values.items():
        if k != "keep":
            assert out["section"][k] == v


def test_an_override_into_a_value_is_refused(tmp_path):
    with pytest.raises(AudioMLQAError, match="bad override 'seed.x=1': seed is not a section"):
        apply_overrides({"seed": 3}, ["seed.x=1"])
    (tmp_path / "list.yaml").write_text("- a\n")
    with pytest.raises(AudioMLQAError, match="a recipe is a YAML mapping"):
        load_yaml(tmp_path / "list.yaml")
