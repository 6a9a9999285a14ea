"""Autoregressive sampling: greedy, temperature and top-k, with or without the KV cache."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from .models import GPT


def sample_next(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    greedy: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """logits [B, V] for the next position -> ids [B, 1]."""
    if logits.dim() != 2:
        raise ValueError(f"sample_next: logits must be [B, V], got {tuple(logits.shape)}")
    if temperature < 0.0:
        raise ValueError(f"sample_next: temperature={temperature} must be >= 0")
    if top_k is not None and top_k < 1:
        raise ValueError(f"sample_next: top_k={top_k} must be >= 1")
    if greedy or temperature == 0.0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.size(-1)), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator)


@torch.no_grad()
def generate(
    model: GPT,
    ids: Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    use_cache: bool = True,
    greedy: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """ids [B, L0] prompt -> [B, L0 + max_new_tokens].

    With the cache each step feeds only the newest token (O(L) work per step); without it
    each step re-runs the whole sequence (O(L^2)). Both give the same tokens.
    ``model`` is a ``GPT`` (anything with ``forward(ids, cache=...)`` and ``make_cache()``).
    """
    if ids.dim() != 2 or ids.size(1) == 0:
        raise ValueError(f"generate: ids must be a non-empty prompt [B, L0], got {tuple(ids.shape)}")
    if max_new_tokens < 0:
        raise ValueError(f"generate: max_new_tokens={max_new_tokens} must be >= 0")
    max_len = model.cfg.max_len
    if ids.size(1) + max_new_tokens > max_len:
        raise ValueError(f"generate: {ids.size(1)} prompt + {max_new_tokens} new tokens exceed max_len={max_len}")
    was_training = model.training
    model.eval()
    cache = model.make_cache() if use_cache else None
    out = ids
    step_input = ids
    for _ in range(max_new_tokens):
        logits = model(step_input, cache=cache) if use_cache else model(out)
        nxt = sample_next(logits[:, -1], temperature, top_k, greedy, generator)
        out = torch.cat([out, nxt], dim=1)
        step_input = nxt
    model.train(was_training)
    return out
