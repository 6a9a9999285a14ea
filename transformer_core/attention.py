"""Scaled dot-product attention: softmax(q k^T / sqrt(d_k) + mask) v.

Mask forms (the whole library; ``normalize_mask`` is the one function that reads them):

- bool: True = "may attend", the same as ``F.scaled_dot_product_attention``;
- integer 0/1 (any integer dtype, as Hugging Face passes ``attention_mask``): read as bool,
  1 = may attend; any other value raises;
- floating: added to the scores (an ALiBi bias, or 0 / -inf), in the query's dtype.

At this level a mask broadcasts to [*batch, Lq, Lk] (a 2-D mask is [Lq, Lk], as in SDPA);
modules read 2-D and 3-D masks by their layout first (``heads_mask``). A query row whose keys
are all masked yields zeros, never NaN, on both the explicit and the fused path. Malformed
inputs raise ``ValueError`` naming the argument and the shapes.
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
    if lq < 0 or lk < 0:
        raise ValueError(f"causal_mask: lq={lq} and lk={lk} must be >= 0")
    return torch.ones(lq, lk, dtype=torch.bool, device=device).tril(diagonal=lk - lq)


def padding_mask(lengths: Tensor | list[int], max_len: int) -> Tensor:
    """Bool [B, 1, 1, max_len]; True at real tokens, False at padding (keys only)."""
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1:
        raise ValueError(f"padding_mask: lengths must be 1-D [B], got shape {tuple(lengths.shape)}")
    if len(lengths) and (lengths.min() < 0 or lengths.max() > max_len):
        raise ValueError(f"padding_mask: lengths {lengths.tolist()} must lie in [0, max_len={max_len}]")
    keep = torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]
    return keep[:, None, None, :]


def check_qkv(q: Tensor, k: Tensor, v: Tensor, fn: str) -> None:
    """Raise ValueError unless q [*batch, Lq, dk], k [*batch, Lk, dk], v [*batch, Lk, dv]."""
    shapes = f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}"
    if q.dim() < 2 or k.dim() != q.dim() or v.dim() != q.dim():
        raise ValueError(f"{fn}: q, k, v need the same number of dimensions (>= 2, [*batch, L, d]); got {shapes}")
    if k.shape[:-2] != q.shape[:-2] or v.shape[:-2] != q.shape[:-2]:
        raise ValueError(f"{fn}: q, k, v need the same batch dimensions [*batch]; got {shapes}")
    if k.size(-1) != q.size(-1):
        raise ValueError(f"{fn}: q and k need the same last dimension dk; got {shapes}")
    if v.size(-2) != k.size(-2):
        raise ValueError(f"{fn}: k and v need the same length Lk; got {shapes}")
    if not (q.is_floating_point() and q.dtype == k.dtype == v.dtype):
        raise ValueError(f"{fn}: q, k, v need one floating dtype; got {q.dtype}, {k.dtype}, {v.dtype}")


def check_dropout(dropout_p: float, fn: str) -> None:
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{fn}: dropout_p={dropout_p} must lie in [0, 1]")


def check_broadcast(mask: Tensor, target: tuple[int, ...], name: str, given: tuple[int, ...] | None = None) -> None:
    """Raise ValueError unless ``mask`` broadcasts to ``target`` (``given``: the shape the caller passed)."""
    fits = mask.dim() <= len(target) and all(m in (1, t) for m, t in zip(reversed(mask.shape), reversed(target)))
    if not fits:
        shape = tuple(mask.shape) if given is None else given
        raise ValueError(f"{name} of shape {shape} does not broadcast to [*batch, Lq, Lk] = {list(target)}")


def normalize_mask(mask: Tensor | None, q: Tensor, k: Tensor, name: str = "mask") -> Tensor | None:
    """The one reader of masks: None, a bool mask (True = may attend) or a float additive mask.

    Checks that ``mask`` broadcasts to [*q.shape[:-1], Lk]; integer 0/1 masks become bool,
    floating masks are cast to q's dtype. Anything else raises ValueError.
    """
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        raise ValueError(f"{name} must be a Tensor or None, got {type(mask).__name__}")
    check_broadcast(mask, (*q.shape[:-1], k.size(-2)), name)
    if mask.dtype == torch.bool:
        return mask
    if mask.is_floating_point():
        return mask.to(q.dtype)
    if mask.is_complex():
        raise ValueError(f"{name} has dtype {mask.dtype}; use bool (True = may attend), 0/1 integers or an additive float mask")
    if not mask.is_meta and ((mask != 0) & (mask != 1)).any():
        raise ValueError(f"{name} is an integer mask with values other than 0 and 1 (1 = may attend, 0 = masked)")
    return mask != 0


def heads_mask(mask: Tensor | None, batch: int, n_heads: int, lq: int, lk: int, name: str = "mask") -> Tensor | None:
    """Read a mask given to a module (inputs [B, L, d]) as [B|1, H|1, Lq|1, Lk|1].

    - 1-D: [Lk], one key mask for every query and sequence.
    - 2-D: [B, Lk] is a key padding mask, [Lq, Lk] one mask for every sequence. When B == Lq
      the two readings differ and it raises: pass [B, 1, 1, Lk] (``padding_mask``) or [1, 1, Lq, Lk].
    - 3-D: [B or 1, Lq, Lk] per sequence, or nn.MultiheadAttention's [B * H, Lq, Lk].
    - 4-D: [B, H, Lq, Lk], each dimension possibly 1.
    """
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        raise ValueError(f"{name} must be a Tensor or None, got {type(mask).__name__}")
    given = tuple(mask.shape)
    if mask.dim() == 1:
        mask = mask[None, None, None, :]
    elif mask.dim() == 2:
        rows, cols = given
        as_padding = rows in (1, batch) and cols in (1, lk)
        as_square = rows in (1, lq) and cols in (1, lk)
        if as_padding and as_square and rows != 1:  # rows == B == Lq: the two readings differ
            raise ValueError(
                f"{name} of shape {given} is ambiguous with batch B={batch} == Lq={lq}: pass a key padding "
                f"mask as [B, 1, 1, Lk] (see padding_mask) or a per-query mask as [1, 1, Lq, Lk]"
            )
        mask = mask[:, None, None, :] if as_padding else mask[None, None]
    elif mask.dim() == 3:
        if given[0] == batch * n_heads and given[0] != batch:
            mask = mask.reshape(batch, n_heads, *given[1:])
        else:
            mask = mask[:, None]
    elif mask.dim() != 4:
        raise ValueError(f"{name} must be 1-D to 4-D for inputs [B, L, d]; got shape {given}")
    check_broadcast(mask, (batch, n_heads, lq, lk), name, given)
    return mask


def combine_masks(mask: Tensor | None, causal: bool, lq: int, lk: int, device: torch.device) -> Tensor | None:
    """Merge an optional normalised (bool or float) mask with a causal mask into one mask (or None)."""
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

    q [B, H, Lq, dk], k [B, H, Lk, dk], v [B, H, Lk, dv] (any leading [*batch] works)
    -> out [B, H, Lq, dv], weights [B, H, Lq, Lk] (rows sum to 1, or 0 when fully masked).
    ``dropout_p`` is applied as given (callers pass 0.0 in eval mode), like SDPA.
    """
    check_qkv(q, k, v, "scaled_dot_product_attention")
    check_dropout(dropout_p, "scaled_dot_product_attention")
    lq, lk = q.size(-2), k.size(-2)
    mask = combine_masks(normalize_mask(mask, q, k), causal, lq, lk, q.device)
    scale = 1.0 / math.sqrt(q.size(-1)) if scale is None else scale
    scores = (q @ k.transpose(-2, -1)) * scale  # [B, H, Lq, Lk]
    allowed = None
    if mask is not None:
        if mask.dtype == torch.bool:
            allowed = mask
        else:
            allowed = mask > float("-inf")
            scores = scores + mask
        # The most negative finite value, not -inf: a fully masked row then softmaxes to a
        # uniform row (no NaN) that the `where` below turns into zeros.
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

    Shapes and masks as above; returns only out [B, H, Lq, dv]. SDPA's ``is_causal`` is
    top-left aligned when Lq != Lk, so that case gets an explicit lower-right mask instead.
    The inputs are checked here because the CPU kernel does not check them (it reads past
    the key buffer when Lk of k and v differ).
    """
    check_qkv(q, k, v, "fused_attention")
    check_dropout(dropout_p, "fused_attention")
    lq, lk = q.size(-2), k.size(-2)
    mask = normalize_mask(mask, q, k)
    if causal and mask is None and lq == lk:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True, scale=scale)
    mask = combine_masks(mask, causal, lq, lk, q.device)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, scale=scale)
