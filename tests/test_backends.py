"""TTS and ASR backends on their real code paths, with tiny random models saved like real checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

from audiomlqa.errors import AudioMLQAError
from audiomlqa.manifest import read_manifest
from audiomlqa.synthesis import SynthesisConfig, synthesize
from audiomlqa.tts import TTSBackend, load_backend

pytest.importorskip("transformers")
from tiny_models import make_tiny_vits  # noqa: E402


@pytest.fixture(scope="module")
def tiny_vits(tmp_path_factory):
    return make_tiny_vits(tmp_path_factory.mktemp("vits"))


def test_espeak_speaks_every_mlqa_language():
    tts = load_backend("espeak")
    assert isinstance(tts, TTSBackend)
    for lang, text in {
        "en": "Where is it?",
        "de": "Wo ist es?",
        "es": "¿Dónde está?",
        "ar": "أين هو؟",
        "hi": "यह कहाँ है?",
        "vi": "Nó ở đâu?",
        "zh": "它在哪里？",
    }.items():
        speech = tts.synthesize(text, lang, tts.voices(lang)[0])
        assert speech.sample_rate == 22050 and 0.3 < speech.duration < 5 and np.abs(speech.samples).max() > 0.1
    slow = tts.synthesize("Where is it?", "en", "en-us", rate=0.6)
    assert slow.duration > tts.synthesize("Where is it?", "en", "en-us").duration * 1.3


def test_mms_vits_is_seeded_and_rate_controlled(tiny_vits):
    tts = load_backend("mms", models={"en": str(tiny_vits)})
    a = tts.synthesize("hello there?", "en", tts.voices("en")[0], seed=1)
    assert a.sample_rate == 16000 and a.samples.dtype == np.float32 and len(a.samples) > 0
    assert np.array_equal(a.samples, tts.synthesize("hello there?", "en", str(tiny_vits), seed=1).samples)
    assert not np.array_equal(a.samples, tts.synthesize("hello there?", "en", str(tiny_vits), seed=2).samples)
    assert tts.describe()["license"].startswith("CC-BY-NC")
    with pytest.raises(AudioMLQAError, match="no MMS-TTS checkpoint configured for 'zh'"):
        tts.voices("zh")
    with pytest.raises(AudioMLQAError, match="cannot load MMS-TTS checkpoint"):
        tts.synthesize("x", "en", str(tiny_vits / "missing"))


def test_transformers_whisper_batches_forces_language_and_caps_length(tiny_whisper):
    from audiomlqa.asr import length_cap, load_asr

    asr = load_asr("transformers", model=str(tiny_whisper))
    audios = [np.zeros(16000, dtype=np.float32), np.random.default_rng(0).normal(0, 0.1, 40000).astype(np.float32)]
    texts = asr.transcribe(audios, "de", ["Hallo", "Wie geht es?"])
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)
    tokenizer = asr.processor.tokenizer
    cap = length_cap(len(tokenizer("Wie geht es?", add_special_tokens=False).input_ids))
    # the cap bounds generated tokens; re-tokenising the decoded text can split merges (a few extra), while an
    # uncapped random model runs to the decoder's 64 positions
    assert all(len(tokenizer(t, add_special_tokens=False).input_ids) <= cap + 8 for t in texts)


def test_pipeline_runs_on_mms_and_transformers_backends(tmp_path, tiny_vits, tiny_whisper):
    cfg = SynthesisConfig.from_dict(
        {
            "languages": ["en"],
            "per_language": 2,
            "output": str(tmp_path),
            "max_attempts": 2,
            "tts": {"en": {"backend": "mms", "options": {"models": {"en": str(tiny_vits)}}}},
            "asr": {"backend": "transformers", "model": str(tiny_whisper)},
            "thresholds": {"en": 0.0},
        }
    )
    synthesize(cfg, progress=False)
    rows = read_manifest(tmp_path / "manifest.jsonl")
    assert len(rows) == 4 and {r.backend for r in rows} == {"mms"} and [r.seed for r in rows[:2]] == [0, 0]
    assert all(r.asr_model == str(tiny_whisper) and r.transcript is not None and not r.accepted for r in rows)


def test_missing_extras_and_unknown_backends_are_one_line_errors():
    with pytest.raises(AudioMLQAError, match="unknown TTS backend 'festival'"):
        load_backend("festival")
    try:
        import TTS  # noqa: F401
    except ImportError:
        with pytest.raises(AudioMLQAError, match=r"pip install 'audiomlqa\[coqui\]'"):
            load_backend("coqui")
