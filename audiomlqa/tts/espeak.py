"""eSpeak NG through ctypes, using the library and voice data bundled by the PyPI wheel ``espeakng-loader``.

eSpeak has no Python synthesis API; this wraps ``espeak_Initialize`` in synchronous mode, a
synthesis callback that collects int16 samples, ``espeak_SetVoiceByName`` and ``espeak_Synth``.
libespeak-ng is GPL-3.0-or-later and is only loaded at run time (an optional dependency).
The library keeps global state, so calls are serialised with a lock; use processes to parallelise.
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np

from audiomlqa.errors import AudioMLQAError
from audiomlqa.tts import Speech

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_RATE, _PITCH = 1, 3
_DEFAULT_WPM = 175
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

# Base voice per MLQA language, and the variants tried on retries (male/female timbres).
BASE_VOICE = {"en": "en-us", "de": "de", "es": "es", "ar": "ar", "hi": "hi", "vi": "vi", "zh": "cmn", "id": "id"}
VARIANTS = ("", "+m3", "+f3", "+m1", "+f2")


class _Espeak:
    """The process-wide library handle (eSpeak can be initialised once per process)."""

    _instance: _Espeak | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        self.lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self.lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
        self.lib.espeak_Info.restype = ctypes.c_char_p
        self.lib.espeak_Info.argtypes = [ctypes.c_void_p]
        data = espeakng_loader.get_data_path().encode()
        self.sample_rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, 0)
        if self.sample_rate <= 0:
            raise AudioMLQAError("libespeak-ng failed to initialise; reinstall espeakng-loader")
        self._chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._collect)  # keep a reference: C holds the pointer
        self.lib.espeak_SetSynthCallback(self._callback)
        self.version = self.lib.espeak_Info(None).decode()

    def _collect(self, wav, n, _events) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    @classmethod
    def get(cls) -> _Espeak:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def speak(self, text: str, voice: str, wpm: int) -> np.ndarray:
        with self._lock:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise AudioMLQAError(
                    f"eSpeak has no voice {voice!r} (try e.g. en-us, de, cmn, with variants like +m3 or +f3)"
                )
            self.lib.espeak_SetParameter(_RATE, wpm, 0)
            self._chunks = []
            data = text.encode("utf-8") + b"\0"
            self.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            self.lib.espeak_Synchronize()
            chunks, self._chunks = self._chunks, []
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)

    def phonemes(self, text: str, voice: str, tie: str = "^") -> str:
        """IPA for ``text`` as eSpeak reads it, clause by clause; multi-letter phonemes joined by ``tie``."""
        mode = 0x02 | 0x80 | (ord(tie) << 8)  # IPA, with a tie character between multi-letter phonemes
        with self._lock:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise AudioMLQAError(f"eSpeak has no voice {voice!r}")
            buf = ctypes.create_string_buffer(text.encode("utf-8"))
            ptr = ctypes.c_void_p(ctypes.addressof(buf))
            clauses = []
            while ptr.value:
                out = self.lib.espeak_TextToPhonemes(ctypes.byref(ptr), _CHARS_UTF8, mode)
                if out:
                    clauses.append(out.decode("utf-8"))
        return " ".join(c.strip() for c in clauses if c.strip())


def phonemize(text: str, lang: str, voice: str | None = None) -> str:
    """eSpeak NG's IPA for ``text`` in ``lang`` (used by phoneme-input TTS models such as Kokoro)."""
    return _Espeak.get().phonemes(text, voice or BASE_VOICE[lang])


class EspeakBackend:
    """Offline default voice for all seven MLQA languages (robotic, but always available)."""

    name = "espeak"
    license = "GPL-3.0-or-later (libespeak-ng, loaded at run time); audio output unrestricted"

    def __init__(self, voices: dict[str, list[str]] | None = None) -> None:
        self._engine = _Espeak.get()
        self._voices = voices or {}

    def voices(self, lang: str) -> list[str]:
        if lang in self._voices:
            return list(self._voices[lang])
        if lang not in BASE_VOICE:
            raise AudioMLQAError(f"eSpeak backend has no voice for language {lang!r}")
        return [BASE_VOICE[lang] + v for v in VARIANTS]

    def synthesize(self, text: str, lang: str, voice: str, *, seed: int = 0, rate: float = 1.0) -> Speech:
        # The seed changes nothing here. eSpeak NG keeps state between utterances, so the same text
        # comes out a few milliseconds longer or shorter from call to call: audio is reproducible in
        # content, not bit for bit.
        pcm = self._engine.speak(text, voice, max(80, round(_DEFAULT_WPM * rate)))
        return Speech((pcm.astype(np.float32) / 32768.0), self._engine.sample_rate)

    def voice_origin(self, lang: str) -> str:
        return "eSpeak NG formant synthesis from pronunciation rules: not a recorded voice, robotic but consistent"

    def describe(self) -> dict:
        return {"backend": self.name, "engine": f"eSpeak NG {self._engine.version}", "license": self.license}
