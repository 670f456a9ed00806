"""``audiomlqa_audiochat``: an lmms-eval model that runs an audio chat checkpoint as ``audiomlqa score`` runs it
(:class:`~audiomlqa.llm.audiochat.AudioChatLLM`: Qwen2-Audio, SeaLLMs-Audio, Qwen2.5-Omni, Phi-4-multimodal,
Voxtral, Audio Flamingo 3), on a GPU or on the CPU.

lmms-eval 0.7.3's own wrappers of these families send their inputs to CUDA whatever ``--device`` says (qwen2_audio,
audio_flamingo_3, qwen2_5_omni), or load the processor from the Hub (qwen2_5_omni), or need remote code and decord
(phi4_multimodal); this one is for CPU runs and for families they lack. It is a chat model: it takes the task's
``doc_to_messages``, a user turn of text and audio parts, and puts the audio where the messages put it.

``--model audiomlqa_audiochat --model_args pretrained=<folder or Hub id>[,dtype=…,trust_remote_code=True,
system_prompt=…]``; ``--device`` (default auto) and ``--batch_size`` as for any lmms-eval model.
"""

from __future__ import annotations

import numpy as np
from lmms_eval.api.model import lmms

from audiomlqa.audio import SAMPLE_RATE, Speech, resample
from audiomlqa.errors import AudioMLQAError
from audiomlqa.llm import SPEECH


def speech_prompt_of(messages: list[dict]) -> tuple[str, np.ndarray, str | None]:
    """A chat turn as AudioChatLLM takes it: the user's text with :data:`SPEECH` where its one audio part is, the
    waveform (16 kHz), and the system prompt if there is one."""
    system, parts, audio = None, [], None
    for message in messages:
        content = message["content"]
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        if message["role"] == "system":
            system = "".join(c.get("text", "") for c in content)
            continue
        for c in content:
            if c["type"] == "text":
                parts.append(c["text"])
            elif c["type"] == "audio" and audio is None:
                audio = c["url"]
                parts.append(SPEECH)
            else:
                raise AudioMLQAError(f"audiomlqa_audiochat takes text and one audio clip per question, not {c['type']}")
    if audio is None:
        raise AudioMLQAError("audiomlqa_audiochat needs the question as audio: the task's messages hold no audio part")
    waveform = np.asarray(audio["array"], dtype=np.float32).reshape(-1)
    if int(audio.get("sampling_rate", SAMPLE_RATE)) != SAMPLE_RATE:
        waveform = resample(Speech(waveform, int(audio["sampling_rate"]))).samples
    return "".join(parts), waveform, system


class AudioMLQAChat(lmms):
    """An audio chat checkpoint answering lmms-eval's chat requests, batch by batch, greedily."""

    is_simple = False

    def __init__(
        self,
        pretrained: str,
        device: str | None = "auto",
        batch_size: int | str = 1,
        dtype: str | None = None,
        trust_remote_code: bool = False,
        system_prompt: str | None = None,
        max_new_tokens: int = 32,
        max_batch_size: int | None = None,  # lmms-eval passes it to every model; batches here are batch_size
        **unknown: object,
    ) -> None:
        super().__init__()
        if unknown:
            raise AudioMLQAError(
                f"audiomlqa_audiochat has no model_args {', '.join(sorted(unknown))}: it takes pretrained, dtype, "
                "trust_remote_code, system_prompt, max_new_tokens"
            )
        from audiomlqa.llm.audiochat import AudioChatLLM
        from audiomlqa.llm.devices import resolve_device, resolve_dtype
        from audiomlqa.llm.names import resolve

        where = resolve_device(device or "auto")
        self.llm = AudioChatLLM(
            resolve(str(pretrained)),
            trust_remote_code=bool(trust_remote_code),
            dtype=resolve_dtype(dtype, where),
            device=where,
            max_new_tokens=int(max_new_tokens),
            system_prompt=system_prompt,
            checkpoint_id=str(pretrained),
        )
        self.batch_size_per_gpu = int(batch_size) if str(batch_size).isdigit() else 1

    @property
    def batch_size(self) -> int:
        return self.batch_size_per_gpu

    def generate_until(self, requests) -> list[str]:
        """The raw answers, in the requests' order (an over-window question answers ""); greedy, the task's
        ``max_new_tokens`` when it sets one."""
        answers: list[str] = []
        for start in range(0, len(requests), self.batch_size):
            chunk = requests[start : start + self.batch_size]
            prompts, audios = [], []
            for request in chunk:
                _, doc_to_messages, gen_kwargs, doc_id, task, split = request.args
                prompt, audio, system = speech_prompt_of(doc_to_messages(self.task_dict[task][split][doc_id]))
                self.llm.system_prompt = system or self.llm.system_prompt
                if gen_kwargs.get("max_new_tokens"):
                    self.llm.generation["max_new_tokens"] = int(gen_kwargs["max_new_tokens"])
                prompts.append(prompt)
                audios.append(audio)
            answers += [a or "" for a in self.llm.generate(prompts, audios)]
        return answers

    def loglikelihood(self, requests):
        raise NotImplementedError("audiomlqa_audiochat generates answers; it scores no continuations")

    def generate_until_multi_round(self, requests):
        raise NotImplementedError("audiomlqa_audiochat answers one turn")
