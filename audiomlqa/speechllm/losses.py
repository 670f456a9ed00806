"""The three distillation losses of a language-aware Speech LLM trained on ASR data alone.

Speech and its transcript should look the same to the frozen LLM, at its input and at its output:

* ``L_IN``  — the last T projected speech tokens against the T input embeddings of the transcript;
* ``L_OUT`` — the LLM's final hidden state at the first response position, speech input against
  transcript input (DiVA's stand-in for a KL on next-token distributions: with a frozen LM head,
  equal final states give equal distributions, and the 100k+-row head is never run);
* ``L_LID`` — cross-entropy of the gate's language logits against the utterance's language.

``L_IN`` and ``L_OUT`` are DiVA's and the paper's distance by default: the Euclidean (L2) norm of each token's
difference, not squared, averaged over the valid positions (``distance="l2"``); ``distance="mse"`` is the squared
error averaged per element, kept for comparison (it weights the terms differently: with hidden width d, a token
off by δ everywhere costs δ·√d under L2 and δ² under MSE). All are computed in float32 whatever the models' dtype.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

DISTANCES = ("l2", "mse")


def token_distances(a: torch.Tensor, b: torch.Tensor, distance: str = "l2") -> torch.Tensor:
    """[..., d] × [..., d] → [...]: each token's L2 distance, or its mean squared error over the d elements."""
    diff = a.float() - b.float()
    return diff.norm(dim=-1) if distance == "l2" else diff.pow(2).mean(dim=-1)


def input_distillation_loss(
    speech_tokens: torch.Tensor, transcript_embeds: list[torch.Tensor], distance: str = "l2"
) -> torch.Tensor:
    """The last T speech tokens against the T transcript embeddings of each utterance (T = min(transcript length,
    number of speech tokens)): the mean distance over all those positions of the batch."""
    num_queries = speech_tokens.shape[1]
    per_position = []
    for tokens, target in zip(speech_tokens, transcript_embeds):
        t = min(len(target), num_queries)
        if t:
            per_position.append(token_distances(tokens[num_queries - t :], target[:t], distance))
    return torch.cat(per_position).mean() if per_position else speech_tokens.float().sum() * 0.0


def output_distillation_loss(
    student_last: torch.Tensor, teacher_last: torch.Tensor, distance: str = "l2"
) -> torch.Tensor:
    """The mean distance between final hidden states at the first response position ([B, d] each)."""
    return token_distances(student_last, teacher_last, distance).mean()


def language_id_loss(logits: torch.Tensor, languages: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.float(), languages)


def gate_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Mean entropy (nats) of the gate's language distribution: high means undecided."""
    logp = F.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1).mean()
