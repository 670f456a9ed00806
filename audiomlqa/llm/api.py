"""Any OpenAI-compatible chat-completions endpoint (vLLM, SGLang, TGI, ``transformers serve``, a hosted API).

Requests go out ``concurrency`` at a time; the ``openai`` client retries 429s, 5xx and dropped connections with
exponential backoff (``retries``) and gives up after ``timeout`` seconds a request. The key is read from the
environment variable the spec *names* and is never printed, logged or cached. Greedy: temperature 0.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from audiomlqa.audio import SAMPLE_RATE
from audiomlqa.errors import AudioMLQAError, first_line
from audiomlqa.llm import SPEECH


def audio_content(speech_prompt: str, audio: np.ndarray) -> list[dict]:
    """The user message for a served Speech LLM: the prompt's text around the placeholder, and the audio where
    the placeholder was, as OpenAI's ``input_audio`` content part (16 kHz mono WAV, base64)."""
    import soundfile as sf

    before, _, after = speech_prompt.partition(SPEECH)
    wav = io.BytesIO()
    sf.write(wav, np.asarray(audio, dtype=np.float32), SAMPLE_RATE, format="WAV", subtype="PCM_16")
    parts = [{"type": "text", "text": before}] if before.strip() else []
    parts.append(
        {"type": "input_audio", "input_audio": {"data": base64.b64encode(wav.getvalue()).decode(), "format": "wav"}}
    )
    if after.strip():
        parts.append({"type": "text", "text": after})
    return parts


class ChatAPI:
    """Chat completions from one served model; ``complete`` keeps the order of its requests."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str | None = None,
        concurrency: int = 4,
        retries: int = 5,
        timeout: float = 120.0,
        max_tokens: int = 32,
        generation: dict | None = None,
    ) -> None:
        try:
            import openai
        except ImportError:
            raise AudioMLQAError("kind api needs the openai client: pip install 'audiomlqa[api]'") from None
        key = "EMPTY"  # local servers take any key
        if api_key_env:
            key = os.environ.get(api_key_env, "")
            if not key:
                raise AudioMLQAError(
                    f"the environment variable {api_key_env} (api_key_env) is not set: export the server's key there"
                )
        self.base_url, self.model, self.concurrency = base_url, model, concurrency
        self.settings = {"temperature": 0.0, "max_tokens": max_tokens, **(generation or {})}
        self._openai = openai
        self._client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=retries, timeout=timeout)
        self.retries, self.timeout = retries, timeout

    def check(self) -> None:
        """Reach the server once before any work: a dead server or a refused key fails in one line."""
        try:
            self._client.models.list()
        except self._openai.AuthenticationError:
            raise AudioMLQAError(
                f"{self.base_url} refused the key (401): check the variable named by api_key_env"
            ) from None
        except self._openai.APIConnectionError as e:
            raise AudioMLQAError(f"cannot reach {self.base_url} ({first_line(e)}): is the server running?") from None
        except self._openai.APIStatusError as e:
            if e.status_code != 404:  # some servers have no /models: the first request will tell
                raise AudioMLQAError(f"{self.base_url} answered {e.status_code}: {first_line(e)}") from None

    def complete(self, contents: Sequence[str | list[dict]]) -> list[str]:
        """One answer per user message (text, or content parts), requested ``concurrency`` at a time."""
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(self._one, contents))

    def _one(self, content: str | list[dict]) -> str:
        try:
            reply = self._client.chat.completions.create(
                model=self.model, messages=[{"role": "user", "content": content}], **self.settings
            )
        except self._openai.AuthenticationError:
            raise AudioMLQAError(f"{self.base_url} refused the key (401)") from None
        except self._openai.APIError as e:
            raise AudioMLQAError(
                f"{self.base_url} failed after {self.retries} retries ({e.__class__.__name__}: {first_line(e)})"
            ) from None
        return (reply.choices[0].message.content or "").strip()

    def describe(self) -> dict:
        return {
            "base_url": self.base_url,
            "model": self.model,
            "concurrency": self.concurrency,
            "retries": self.retries,
            "timeout": self.timeout,
            "generation": self.settings,
        }
