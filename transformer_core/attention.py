"""Scaled dot-product attention: softmax(q k^T / sqrt(d_k) + mask) v.

Mask convention (the whole library): a boolean mask with True = "may attend", the same as
``F.scaled_dot_product_attention``, broadcastable to [B, H, Lq, Lk]. A float mask is added to
the scores (e.g. an ALiBi bias). A query row whose keys are all masked yields zeros, never NaN.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def causal_mask(lq: int, lk: int, device: torch.device | str | None = None) -> Tensor:
    """Bool [lq, lk]; True where query i may see key j.

    Lower-right aligned: the last query sees every key. With lq < lk (a KV-cache decode step)
    query i sits at absolute position i + lk - lq.
    """
    return torch.ones(lq, lk, dtype=torch.bool, device=device).tril(diagonal=lk - lq)


def padding_mask(lengths: Tensor | list[int], max_len: int) -> Tensor:
    """Bool [B, 1, 1, max_len]; True at real tokens, False at padding (keys only)."""
    lengths = torch.as_tensor(lengths)
    keep = torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]
    return keep[:, None, None, :]


def combine_masks(mask: Tensor | None, causal: bool, lq: int, lk: int, device: torch.device) -> Tensor | None:
    """Merge an optional bool/float mask with a causal mask into one mask (or None)."""
    if not causal:
        return mask
    c = causal_mask(lq, lk, device)
    if mask is None:
        return c
    if mask.dtype == torch.bool:
        return mask & c
    return mask.masked_fill(~c, float("-inf"))


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    causal: bool = False,
    dropout_p: float = 0.0,
    scale: float | None = None,
) -> tuple[Tensor, Tensor]:
    """Attention written as explicit math, returning the weights for plots.

    q [B, H, Lq, dk], k [B, H, Lk, dk], v [B, H, Lk, dv]
    -> out [B, H, Lq, dv], weights [B, H, Lq, Lk] (rows sum to 1, or 0 when fully masked).
    ``dropout_p`` is applied as given (callers pass 0.0 in eval mode), like SDPA.
    """
    lq, lk = q.size(-2), k.size(-2)
    scale = 1.0 / math.sqrt(q.size(-1)) if scale is None else scale
    scores = (q @ k.transpose(-2, -1)) * scale  # [B, H, Lq, Lk]
    mask = combine_masks(mask, causal, lq, lk, q.device)
    allowed = None
    if mask is not None:
        if mask.dtype == torch.bool:
            allowed = mask
            # The most negative finite value, not -inf: a fully masked row then softmaxes to a
            # uniform row (no NaN) that the `where` below turns into zeros.
            scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        else:
            allowed = mask > float("-inf")
            scores = scores + mask
            scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
    weights = scores.softmax(dim=-1)
    if allowed is not None:
        weights = torch.where(allowed, weights, torch.zeros((), dtype=weights.dtype, device=weights.device))
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    return weights @ v, weights


def fused_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    causal: bool = False,
    dropout_p: float = 0.0,
    scale: float | None = None,
) -> Tensor:
    """Same result as ``scaled_dot_product_attention`` through PyTorch's fused kernel.

    Shapes as above; returns only out [B, H, Lq, dv]. SDPA's ``is_causal`` is top-left aligned
    when Lq != Lk, so that case gets an explicit lower-right mask instead.
    """
    lq, lk = q.size(-2), k.size(-2)
    if causal and mask is None and lq == lk:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True, scale=scale)
    mask = combine_masks(mask, causal, lq, lk, q.device)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, scale=scale)
