"""The three distillation losses of a language-aware Speech LLM trained on ASR data alone.

Speech and its transcript should look the same to the frozen LLM, at its input and at its output:

* ``L_IN``  — the last T projected speech tokens against the T input embeddings of the transcript;
* ``L_OUT`` — the LLM's final hidden state at the first response position, speech input against
  transcript input (DiVA's stand-in for a KL on next-token distributions: with a frozen LM head,
  equal final states give equal distributions, and the 100k+-row head is never run);
* ``L_LID`` — cross-entropy of the gate's language logits against the utterance's language.

All are means, computed in float32 whatever the models' dtype.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def input_distillation_loss(speech_tokens: torch.Tensor, transcript_embeds: list[torch.Tensor]) -> torch.Tensor:
    """Mean squared error between the last T speech tokens and the T transcript embeddings, per
    utterance (T = min(transcript length, number of speech tokens)), averaged over the batch."""
    num_queries = speech_tokens.shape[1]
    losses = []
    for tokens, target in zip(speech_tokens, transcript_embeds):
        t = min(len(target), num_queries)
        if t == 0:
            continue
        losses.append(F.mse_loss(tokens[num_queries - t :].float(), target[:t].float()))
    return torch.stack(losses).mean() if losses else speech_tokens.float().sum() * 0.0


def output_distillation_loss(student_last: torch.Tensor, teacher_last: torch.Tensor) -> torch.Tensor:
    """Mean squared error between final hidden states at the first response position."""
    return F.mse_loss(student_last.float(), teacher_last.float())


def language_id_loss(logits: torch.Tensor, languages: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.float(), languages)


def gate_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Mean entropy (nats) of the gate's language distribution: high means undecided."""
    logp = F.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1).mean()
