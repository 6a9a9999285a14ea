"""Cheaper attention patterns, with the call signature of ``attention.scaled_dot_product_attention``.

- sliding window (Longformer): each query sees keys within ``window`` positions;
- block-local / strided sparse (Sparse Transformer): fixed sparsity patterns;
- linear attention (Performer, FAVOR+): positive random features approximate softmax, so
  cost grows linearly with length.

Every function takes (q, k, v, mask=None, causal=False, dropout_p=0.0, scale=None, **extra)
with q [B, H, Lq, dk], k [B, H, Lk, dk], v [B, H, Lk, dv] and returns (out [B, H, Lq, dv],
weights [B, H, Lq, Lk] or None). Masks: bool, True = may attend. The ``*_mask`` helpers
return the bool [L, L] patterns for plots.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .attention import causal_mask, scaled_dot_product_attention


def sliding_window_mask(L: int, window: int, causal: bool = False, device: torch.device | str | None = None) -> Tensor:
    """Bool [L, L]: True where |i - j| <= window (and j <= i when causal)."""
    i = torch.arange(L, device=device)[:, None]
    j = torch.arange(L, device=device)[None, :]
    band = (i - j).abs() <= window
    return band & (j <= i) if causal else band


def strided_mask(L: int, stride: int, device: torch.device | str | None = None) -> Tensor:
    """Bool [L, L], Sparse Transformer "strided" pattern (causal).

    Query i sees the previous ``stride`` positions (local) and every ``stride``-th position
    before it ((i - j) % stride == 0), so two layers connect any pair of positions.
    """
    i = torch.arange(L, device=device)[:, None]
    j = torch.arange(L, device=device)[None, :]
    return (j <= i) & (((i - j) < stride) | ((i - j) % stride == 0))


def block_mask(L: int, block: int, causal: bool = False, device: torch.device | str | None = None) -> Tensor:
    """Bool [L, L]: True where i and j fall in the same block of ``block`` positions."""
    ids = torch.arange(L, device=device) // block
    same = ids[:, None] == ids[None, :]
    return same & causal_mask(L, L, device) if causal else same


def _and(mask: Tensor | None, pattern: Tensor) -> Tensor:
    return pattern if mask is None else mask & pattern


def sliding_window_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, causal: bool = False,
    dropout_p: float = 0.0, scale: float | None = None, window: int = 64, need_weights: bool = True,
) -> tuple[Tensor, Tensor | None]:
    """Attention restricted to keys within ``window`` positions of the query. Requires Lq == Lk.

    With ``need_weights`` (default) it is the dense computation with a band mask, so the
    [B, H, L, L] weights can be plotted. Without, only the band is computed: each query
    scores its 2 window + 1 neighbours, [B, H, L, 2w+1] instead of [B, H, L, L], so time and
    memory grow linearly with L. ``mask`` may then only be a key padding mask [B, 1, 1, L].
    """
    L = q.size(-2)
    if k.size(-2) != L:
        raise ValueError("sliding_window_attention needs Lq == Lk")
    if need_weights:
        band = sliding_window_mask(L, window, device=q.device)
        return scaled_dot_product_attention(q, k, v, _and(mask, band), causal, dropout_p, scale)
    w = min(window, L - 1)
    span = 2 * w + 1
    # Key t of query i's window sits at position i - w + t; padding keeps every window in range.
    k_win = F.pad(k, (0, 0, w, w)).unfold(-2, span, 1)  # [B, H, L, dk, span]
    v_win = F.pad(v, (0, 0, w, w)).unfold(-2, span, 1)  # [B, H, L, dv, span]
    pos = torch.arange(L, device=q.device)[:, None] - w + torch.arange(span, device=q.device)[None, :]  # [L, span]
    valid = (pos >= 0) & (pos < L)
    if causal:
        valid = valid & (torch.arange(span, device=q.device) <= w)[None, :]
    if mask is not None:
        if mask.dim() != 4 or mask.size(-2) != 1:
            raise ValueError("the banded path supports key padding masks [B, 1, 1, L] only")
        keys = F.pad(mask.to(torch.bool), (w, w), value=False).unfold(-1, span, 1)  # [B, 1, 1, L, span]
        valid = valid & keys.squeeze(2)
    scale = 1.0 / math.sqrt(q.size(-1)) if scale is None else scale
    scores = torch.einsum("bhld,bhlds->bhls", q, k_win) * scale
    scores = scores.masked_fill(~valid, torch.finfo(scores.dtype).min)
    weights = torch.where(valid, scores.softmax(-1), torch.zeros((), dtype=scores.dtype, device=scores.device))
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    return torch.einsum("bhls,bhlds->bhld", weights, v_win), None


def strided_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, causal: bool = True,
    dropout_p: float = 0.0, scale: float | None = None, stride: int = 8,
) -> tuple[Tensor, Tensor]:
    """Sparse Transformer strided attention (always causal; see ``strided_mask``). Lq == Lk."""
    pattern = strided_mask(q.size(-2), stride, device=q.device)
    return scaled_dot_product_attention(q, k, v, _and(mask, pattern), True, dropout_p, scale)


def block_sparse_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, causal: bool = False,
    dropout_p: float = 0.0, scale: float | None = None, block: int = 16, need_weights: bool = True,
) -> tuple[Tensor, Tensor | None]:
    """Block-local attention: each query attends only inside its block of ``block`` positions.

    Computed block by block as [B, H, L/block, block, block] scores, i.e. L * block work
    instead of L^2. L must be a multiple of ``block`` and Lq == Lk. ``mask`` may be a key
    padding mask [B, 1, 1, L]. With ``need_weights`` the dense [B, H, L, L] weights are
    assembled for plotting.
    """
    B, H, L, dk = q.shape
    if L % block or k.size(-2) != L:
        raise ValueError(f"block_sparse_attention needs Lq == Lk divisible by block={block}")
    nb = L // block
    blocks = lambda t: t.reshape(t.size(0), t.size(1), nb, block, t.size(-1))  # noqa: E731
    local_mask = None
    if mask is not None:
        if mask.dim() != 4 or mask.size(-2) != 1:
            raise ValueError("block_sparse_attention supports key padding masks [B, 1, 1, L] only")
        local_mask = mask.reshape(mask.size(0), mask.size(1), nb, 1, block)
    out, w = scaled_dot_product_attention(blocks(q), blocks(k), blocks(v), local_mask, causal, dropout_p, scale)
    out = out.reshape(B, H, L, v.size(-1))
    if not need_weights:
        return out, None
    dense = w.new_zeros(B, H, L, L)
    for b in range(nb):
        sl = slice(b * block, (b + 1) * block)
        dense[:, :, sl, sl] = w[:, :, b]
    return out, dense


def random_features(n_features: int, dim: int, orthogonal: bool = True, generator: torch.Generator | None = None) -> Tensor:
    """[n_features, dim] Gaussian projection rows for FAVOR+.

    Orthogonal features: blocks of ``dim`` mutually orthogonal rows (QR of a Gaussian matrix),
    each row rescaled to the norm of a Gaussian vector, which lowers the estimator's variance.
    """
    if not orthogonal:
        return torch.randn(n_features, dim, generator=generator)
    rows = []
    for _ in range(math.ceil(n_features / dim)):
        qmat, _ = torch.linalg.qr(torch.randn(dim, dim, generator=generator))
        rows.append(qmat.T)
    w = torch.cat(rows)[:n_features]
    norms = torch.randn(n_features, dim, generator=generator).norm(dim=1, keepdim=True)
    return w * norms


def _positive_features(x: Tensor, w: Tensor, is_query: bool) -> Tensor:
    """phi(x) = exp(w x - |x|^2 / 2) / sqrt(m): E[phi(q) . phi(k)] = exp(q . k).

    x [B, H, L, d], w [m, d] -> [B, H, L, m]. A max is subtracted inside exp for stability:
    per query row (it cancels in that row's normalisation) and one shared value for all keys.
    """
    proj = x @ w.T
    sq = (x * x).sum(-1, keepdim=True) / 2
    if is_query:
        stab = proj.amax(dim=-1, keepdim=True)
    else:
        stab = proj.amax(dim=(-2, -1), keepdim=True)
    return torch.exp(proj - sq - stab) / math.sqrt(w.size(0))


def linear_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, causal: bool = False,
    dropout_p: float = 0.0, scale: float | None = None, n_features: int = 256, orthogonal: bool = True,
    generator: torch.Generator | None = None, features: Tensor | None = None, need_weights: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """Performer (FAVOR+) approximation of softmax attention in O(L m d) time.

    softmax(q k^T * scale) v  ~=  phi(q) (phi(k)^T v) / (phi(q) phi(k)^T 1), with
    ``n_features`` = m positive random features. The error shrinks as m grows.
    ``mask``: key padding mask [B, 1, 1, Lk] only. ``causal`` uses prefix sums (lower-right
    aligned). ``features`` [m, dk] fixes the projection (else drawn with ``generator``).
    With ``need_weights`` the implied [B, H, Lq, Lk] weights are materialised (O(L^2), for plots).
    """
    if dropout_p > 0.0:
        raise ValueError("linear_attention has no attention matrix to apply dropout to")
    dk = q.size(-1)
    scale = 1.0 / math.sqrt(dk) if scale is None else scale
    w = features if features is not None else random_features(n_features, dk, orthogonal, generator)
    w = w.to(device=q.device, dtype=q.dtype)
    root = math.sqrt(scale)  # split the scale between q and k: (q r) . (k r) = scale q . k
    phi_q = _positive_features(q * root, w, is_query=True)  # [B, H, Lq, m]
    phi_k = _positive_features(k * root, w, is_query=False)  # [B, H, Lk, m]
    if mask is not None:
        if mask.dim() != 4 or mask.size(-2) != 1:
            raise ValueError("linear_attention supports key padding masks [B, 1, 1, Lk] only")
        phi_k = phi_k * mask.squeeze(-2).unsqueeze(-1).to(phi_k.dtype)
    lq, lk = q.size(-2), k.size(-2)
    if causal:
        # Query i (absolute position i + lk - lq) sums over keys 0 .. i + lk - lq.
        kv = torch.cumsum(phi_k.unsqueeze(-1) * v.unsqueeze(-2), dim=-3)[..., lk - lq :, :, :]  # [B,H,Lq,m,dv]
        z = torch.cumsum(phi_k, dim=-2)[..., lk - lq :, :]  # [B, H, Lq, m]
        num = (phi_q.unsqueeze(-2) @ kv).squeeze(-2)
        den = (phi_q * z).sum(-1, keepdim=True)
    else:
        kv = phi_k.transpose(-2, -1) @ v  # [B, H, m, dv]
        num = phi_q @ kv
        den = phi_q @ phi_k.sum(-2).unsqueeze(-1)  # [B, H, Lq, 1]
    out = num / den.clamp_min(torch.finfo(den.dtype).tiny)
    weights = None
    if need_weights:
        a = phi_q @ phi_k.transpose(-2, -1)
        if causal:
            a = a * causal_mask(lq, lk, q.device)
        weights = a / a.sum(-1, keepdim=True).clamp_min(torch.finfo(a.dtype).tiny)
    return out, weights
