"""Any OpenAI-compatible chat-completions endpoint (vLLM, SGLang, TGI, ``transformers serve``, a hosted API).

Requests go out ``concurrency`` at a time. Only what a retry can fix is retried (``retries`` times, with exponential
backoff): a 408 or 429, a 5xx, a time-out, a refused or dropped connection. Any other 4xx is the request's fault and
fails at once, in one line that carries the server's own reason, except a refusal that says the prompt is too long:
that item is over the model's context window (:mod:`~audiomlqa.llm.window`), as it would be in-process. So is an
answer whose prompt tokens (the reply's ``usage``) and ``max_tokens`` exceed the window the spec states or the server
lists, for servers that refuse only a prompt longer than the whole window (``transformers serve``). The key is
read from the environment variable the spec *names*; its value is masked in every message (servers echo headers)
and never logged or cached. Greedy: temperature 0. A reply is read as a typed chat completion (:class:`ChatReply`):
one that is not JSON, or lacks what is read, fails in one line naming the server and what was wrong.
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from audiomlqa.audio import SAMPLE_RATE
from audiomlqa.config import describe_error
from audiomlqa.errors import AudioMLQAError, first_line, mask_secrets, public_url, url_secrets
from audiomlqa.llm import SPEECH
from audiomlqa.llm.window import fits

T = TypeVar("T")
TOO_LONG = re.compile(
    r"context.length|context (window|size)|maximum context|max.model.len|maximum model length|takes at most \d+"
    r"|(prompt|input) is too long|too many (input )?tokens|must be <= \d+|longer than the model",
    re.IGNORECASE,
)
"""How servers say a prompt does not fit (vLLM, SGLang, TGI, llama.cpp, ``transformers serve``, OpenAI)."""
WINDOW_KEYS = ("max_model_len", "context_length", "context_window", "max_context_length")
"""Where a server's ``/v1/models`` entry states the model's window (vLLM and SGLang: ``max_model_len``)."""
REASON_CHARS = 200
MAX_BACKOFF = 8.0
MAX_RETRY_AFTER = 60.0


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


def retryable(status: int) -> bool:
    """What a retry can fix: a time-out (408), a rate limit (429), the server's own failure (5xx)."""
    return status in (408, 429) or status >= 500


def server_reason(body: object, limit: int = REASON_CHARS) -> str:
    """The server's own words in an error body: ``error.message`` / ``detail`` / ``message`` of a JSON body (a
    FastAPI validation list's ``msg``), else the first line of a text body, shortened to ``limit`` characters."""
    text = ""
    if isinstance(body, dict):
        for value in (body.get("error"), body.get("detail"), body.get("message")):
            if isinstance(value, dict):
                value = value.get("message") or value.get("detail")
            if isinstance(value, list):
                value = "; ".join(str(v.get("msg", v)) if isinstance(v, dict) else str(v) for v in value)
            if isinstance(value, str) and value.strip():
                text = value
                break
        else:
            text = json.dumps(body, ensure_ascii=False)
    elif body is not None:
        text = str(body)
    line = (text.strip().splitlines() or ["(no reason given)"])[0].strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


class _Reply(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ReplyMessage(_Reply):
    content: str | None = None
    """None (or absent): the model said nothing (an empty answer); any other type is the server's fault."""


class ReplyChoice(_Reply):
    message: ReplyMessage


class ReplyUsage(_Reply):
    prompt_tokens: int | None = Field(None, ge=0)


class ChatReply(_Reply):
    """What is read of a chat completion, typed: a reply without it (a proxy's HTML page, ``"choices": []``) is
    reported as the server's fault instead of failing somewhere inside the client."""

    choices: list[ReplyChoice] = Field(min_length=1)
    usage: ReplyUsage | None = None
    model: object = None
    """The model id the server answered with (a hosted API names the dated snapshot behind an alias); recorded
    where it is text, and never a reason to refuse the reply."""


def header_key(variable: str) -> str:
    """The key in the environment variable ``variable``, without surrounding whitespace (a line break read with it
    from a file); a key no HTTP header can carry is refused without showing it (the client's error would)."""
    key = os.environ.get(variable, "").strip()
    if not key:
        raise AudioMLQAError(
            f"the environment variable {variable} (api_key_env) is not set: export the server's key there"
        )
    if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
        raise AudioMLQAError(
            f"the key in {variable} (api_key_env) holds a space, a control or a non-ASCII character, which no HTTP "
            "header can carry: set the variable to the key alone"
        )
    return key


def read_reply(text: str, content_type: str, server: str) -> ChatReply:
    """A 200 reply's body (masked by the caller) as a :class:`ChatReply`, else an :class:`AudioMLQAError` naming
    ``server`` and what was wrong."""
    try:
        body = json.loads(text)
    except ValueError:
        kind = content_type.split(";")[0].strip() or "no content type"
        first = (text.strip().splitlines() or ["an empty body"])[0][:80]
        raise AudioMLQAError(
            f"{server} answered with {kind} that is not JSON ({first!r}), not a chat completion: is base_url the "
            "server's OpenAI-compatible endpoint (…/v1)?"
        ) from None
    try:
        return ChatReply.model_validate(body)
    except ValidationError as e:
        raise AudioMLQAError(f"{server} sent a reply that is not a chat completion: {describe_error(e)}") from None


def listed_window(models: Sequence[object], model: str) -> int | None:
    """The window a server's ``/v1/models`` states for ``model``, if it states one (entries that are not
    mappings are skipped: a list the server garbled only leaves the window unknown)."""
    for entry in models:
        data = entry.model_dump() if hasattr(entry, "model_dump") else entry
        if isinstance(data, dict) and data.get("id") == model:
            found = [data.get(k) for k in WINDOW_KEYS if isinstance(data.get(k), int) and data.get(k) > 0]
            return found[0] if found else None
    return None


class _Refused(Exception):
    """A status a retry cannot fix (raised and caught inside :class:`ChatAPI` only)."""

    def __init__(self, status: int, reason: str, body: str) -> None:
        super().__init__(reason)
        self.status, self.reason, self.body = status, reason, body


class _GaveUp(Exception):
    """Every retry failed (inside :class:`ChatAPI` only); ``connection``: the last failure reached no server."""

    def __init__(self, last: str, connection: bool) -> None:
        super().__init__(last)
        self.connection = connection


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
        context_window: int | None = None,
    ) -> None:
        try:
            import openai
        except ImportError:
            raise AudioMLQAError("kind api needs the openai client: pip install 'audiomlqa[api]'") from None
        key = "EMPTY"  # local servers take any key
        self._secrets: list[str] = []
        if api_key_env:
            key = header_key(api_key_env)
            self._secrets = [key, os.environ[api_key_env]]
        self._secrets += url_secrets(base_url)
        self.base_url, self.model, self.concurrency = public_url(base_url), model, concurrency  # shown and recorded
        self.settings = {"temperature": 0.0, "max_tokens": max_tokens, **(generation or {})}
        self._openai = openai
        # retries are ours (_call): the client's would retry a 409 too, and its errors drop the server's reason
        self._client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=timeout)
        self.retries, self.timeout = retries, timeout
        self.window = context_window
        """The model's window: the spec's, else what the server lists (read by :meth:`check`), else unknown."""
        self._served: dict[str, None] = {}
        self._served_lock = threading.Lock()

    def mask(self, text: str) -> str:
        """``text`` without the key's value, nor any other secret's (:func:`~audiomlqa.errors.mask_secrets`)."""
        return mask_secrets(text, self._secrets)

    def _masked(self, body: object) -> object:
        """An error body with every secret masked, before any of it is cut short (its JSON kept where it was JSON)."""
        if isinstance(body, str):
            return self.mask(body)
        text = self.mask(json.dumps(body, ensure_ascii=False))
        try:
            return json.loads(text)
        except ValueError:
            return text

    def _call(self, request: Callable[[], T]) -> T:
        """``request()``, retried while a retry can fix what went wrong; raises :class:`_Refused` at once for any
        other status, :class:`_GaveUp` once the retries are spent."""
        openai = self._openai
        for attempt in range(self.retries + 1):
            retry_after = None
            try:
                return request()
            except openai.APIStatusError as e:
                body = self._masked(e.body if e.body is not None else e.response.text)
                reason = server_reason(body)
                if not retryable(e.status_code):
                    raise _Refused(e.status_code, reason, json.dumps(body, ensure_ascii=False)) from None
                last, connection = f"{e.status_code}: {reason}", False
                retry_after = e.response.headers.get("retry-after")
            except openai.APIConnectionError as e:  # refused, dropped or timed out
                cause = e.__cause__ if e.__cause__ is not None else e
                last, connection = f"{type(e).__name__}: {first_line(cause, configured=self._secrets)}", True
            if attempt < self.retries:
                time.sleep(_backoff(attempt, retry_after))
        raise _GaveUp(last, connection)

    def check(self) -> None:
        """Reach the server once before any work: a dead server or a refused key fails in one line. Reads the
        model's window from the server's list, where the spec gives none."""
        try:
            listed = self._call(self._client.models.with_raw_response.list)
        except _Refused as e:
            if e.status in (401, 403):
                raise AudioMLQAError(
                    f"{self.base_url} refused the key ({e.status}): check the variable named by api_key_env "
                    f"({e.reason})"
                ) from None
            if e.status == 404:  # some servers have no /models: the first request will tell
                return
            raise AudioMLQAError(f"{self.base_url} answered {e.status}: {e.reason}") from None
        except _GaveUp as e:
            if e.connection:
                raise AudioMLQAError(f"cannot reach {self.base_url} ({e}): is the server running?") from None
            raise AudioMLQAError(f"{self.base_url} failed after {_retries(self.retries)} ({e})") from None
        except self._openai.APIError:  # a reply that is not a model list: the first request will tell
            return
        try:
            body = json.loads(listed.text)
        except ValueError:  # not a model list: the first request will tell
            return
        data = body.get("data") if isinstance(body, dict) else None
        if self.window is None and isinstance(data, list):
            self.window = listed_window(data, self.model)

    def complete(self, contents: Sequence[str | list[dict]]) -> list[str | None]:
        """One answer per user message (text, or content parts), requested ``concurrency`` at a time; None where the
        prompt is over the model's window. After a failure no further request is sent."""
        failed = threading.Event()

        def one(content: str | list[dict]) -> str | None:
            if failed.is_set():
                return None  # never sent: an earlier request failed, and its error is raised below
            try:
                return self._one(content)
            except BaseException:
                failed.set()
                raise

        with ThreadPoolExecutor(self.concurrency) as pool:
            futures = [pool.submit(one, c) for c in contents]
            wait(futures, return_when=FIRST_EXCEPTION)
            for f in futures:
                f.cancel()  # those not started yet
        return [f.result() for f in futures]  # the first failure in order comes before every request not sent

    def _one(self, content: str | list[dict]) -> str | None:
        try:
            raw = self._call(
                lambda: self._client.chat.completions.with_raw_response.create(
                    model=self.model, messages=[{"role": "user", "content": content}], **self.settings
                )
            )
        except _Refused as e:
            if e.status in (401, 403):
                raise AudioMLQAError(f"{self.base_url} refused the key ({e.status}): {e.reason}") from None
            if e.status in (400, 413, 422) and TOO_LONG.search(e.body):
                return None  # the prompt does not fit the model's window: over window, as in-process
            raise AudioMLQAError(f"{self.base_url} answered {e.status}, not retried: {e.reason}") from None
        except _GaveUp as e:
            raise AudioMLQAError(f"{self.base_url} failed after {_retries(self.retries)} ({e})") from None
        except self._openai.APIError as e:
            raise AudioMLQAError(
                f"{self.base_url} sent no chat completion ({first_line(e, 200, self._secrets)})"
            ) from None
        reply = read_reply(self.mask(raw.text), raw.headers.get("content-type", ""), self.base_url)
        if isinstance(reply.model, str) and reply.model.strip():
            with self._served_lock:
                self._served.setdefault(reply.model[:200], None)
        usage = reply.usage
        room = self.settings.get("max_completion_tokens") or self.settings.get("max_tokens") or 0
        if usage is not None and usage.prompt_tokens and not fits(usage.prompt_tokens, room, self.window):
            return None  # the server answered past the window it does not enforce: dropped, as in-process
        return self.mask((reply.choices[0].message.content or "").strip())

    @property
    def served_models(self) -> list[str]:
        """The distinct model ids the server answered with, in the order first seen."""
        with self._served_lock:
            return list(self._served)

    def describe(self) -> dict:
        return {
            "base_url": self.base_url,
            "model": self.model,
            "served_models": self.served_models,
            "concurrency": self.concurrency,
            "retries": self.retries,
            "timeout": self.timeout,
            "generation": self.settings,
            "context_window": self.window,
        }


def _retries(n: int) -> str:
    return f"{n} retry" if n == 1 else f"{n} retries"


def _backoff(attempt: int, retry_after: str | None = None) -> float:
    """Seconds before retry ``attempt + 1``: the server's ``Retry-After`` (in seconds, within reason), else
    exponential from half a second, with jitter so that concurrent requests do not retry in step."""
    try:
        asked = float(retry_after) if retry_after is not None else None
    except ValueError:
        asked = None
    if asked is not None and 0 < asked <= MAX_RETRY_AFTER:
        return asked
    return min(0.5 * 2**attempt, MAX_BACKOFF) * (1 - 0.25 * random.random())
