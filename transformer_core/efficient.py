"""Cheaper attention patterns, with the call signature of ``attention.scaled_dot_product_attention``.

- sliding window (Longformer): each query sees keys within ``window`` positions;
- block-local / strided sparse (Sparse Transformer): fixed sparsity patterns;
- linear attention (Performer, FAVOR+): positive random features approximate softmax, so
  cost grows linearly with length.

Every function takes (q, k, v, mask=None, causal=..., dropout_p=0.0, scale=None, **extra)
with q [B, H, Lq, dk], k [B, H, Lk, dk], v [B, H, Lk, dv] and returns (out [B, H, Lq, dv],
weights [B, H, Lq, Lk] or None). ``need_weights=False`` (the default) takes the efficient
path; ``need_weights=True`` also returns the dense weights for plots, with the same result.
Masks take every form ``attention.normalize_mask`` accepts. The ``*_mask`` helpers return
the bool [L, L] patterns for plots.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .attention import causal_mask, check_dropout, check_qkv, fused_attention, normalize_mask, scaled_dot_product_attention


def _check_positive(fn: str, **sizes: int) -> None:
    for name, value in sizes.items():
        if value < 1:
            raise ValueError(f"{fn}: {name}={value} must be >= 1")


def sliding_window_mask(L: int, window: int, causal: bool = False, device: torch.device | str | None = None) -> Tensor:
    """Bool [L, L]: True where |i - j| <= window (and j <= i when causal)."""
    if window < 0:
        raise ValueError(f"sliding_window_mask: window={window} must be >= 0")
    i = torch.arange(L, device=device)[:, None]
    j = torch.arange(L, device=device)[None, :]
    band = (i - j).abs() <= window
    return band & (j <= i) if causal else band


def strided_mask(L: int, stride: int, causal: bool = True, device: torch.device | str | None = None) -> Tensor:
    """Bool [L, L], Sparse Transformer "strided" pattern.

    Query i sees the ``stride`` nearest positions (local) and every ``stride``-th position
    ((i - j) % stride == 0), so two layers connect any pair of positions. ``causal`` (the
    paper's setting) keeps only j <= i; without it the pattern is symmetric.
    """
    _check_positive("strided_mask", stride=stride)
    i = torch.arange(L, device=device)[:, None]
    j = torch.arange(L, device=device)[None, :]
    pattern = ((i - j).abs() < stride) | ((i - j) % stride == 0)
    return pattern & (j <= i) if causal else pattern


def block_mask(L: int, block: int, causal: bool = False, device: torch.device | str | None = None) -> Tensor:
    """Bool [L, L]: True where i and j fall in the same block of ``block`` positions."""
    _check_positive("block_mask", block=block)
    ids = torch.arange(L, device=device) // block
    same = ids[:, None] == ids[None, :]
    return same & causal_mask(L, L, device) if causal else same


def _restrict(mask: Tensor | None, pattern: Tensor) -> Tensor:
    """A normalised mask (None, bool or additive float) further limited to a bool ``pattern``."""
    if mask is None:
        return pattern
    if mask.dtype == torch.bool:
        return mask & pattern
    return mask.masked_fill(~pattern, float("-inf"))


def _check_square(q: Tensor, k: Tensor, v: Tensor, fn: str, dropout_p: float) -> None:
    check_qkv(q, k, v, fn)
    check_dropout(dropout_p, fn)
    if q.size(-2) != k.size(-2):
        raise ValueError(f"{fn}: needs Lq == Lk; got q {tuple(q.shape)}, k {tuple(k.shape)}")


def _full_rank(mask: Tensor, dims: int) -> Tensor:
    """Prepend size-1 dimensions until ``mask`` has ``dims`` dimensions."""
    return mask.reshape((1,) * (dims - mask.dim()) + tuple(mask.shape))


def sliding_window_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, causal: bool = False,
    dropout_p: float = 0.0, scale: float | None = None, window: int = 64, need_weights: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """Attention restricted to keys within ``window`` positions of the query. Requires Lq == Lk.

    By default only the band is computed: each query scores its 2 window + 1 neighbours,
    [B, H, L, 2w+1] instead of [B, H, L, L], so time and memory grow linearly with L. With
    ``need_weights`` it is the dense computation with a band mask, so the [B, H, L, L] weights
    can be plotted.
    """
    fn = "sliding_window_attention"
    _check_square(q, k, v, fn, dropout_p)
    if window < 0:
        raise ValueError(f"{fn}: window={window} must be >= 0")
    m = normalize_mask(mask, q, k)
    L = q.size(-2)
    if need_weights:
        band = sliding_window_mask(L, window, device=q.device)
        return scaled_dot_product_attention(q, k, v, _restrict(m, band), causal, dropout_p, scale)
    w = max(0, min(window, L - 1))
    span = 2 * w + 1
    # Key t of query i's window sits at position i - w + t; padding keeps every window in range.
    k_win = F.pad(k, (0, 0, w, w)).unfold(-2, span, 1)  # [B, H, L, dk, span]
    v_win = F.pad(v, (0, 0, w, w)).unfold(-2, span, 1)  # [B, H, L, dv, span]
    pos = torch.arange(L, device=q.device)[:, None] - w + torch.arange(span, device=q.device)[None, :]  # [L, span]
    valid = (pos >= 0) & (pos < L)
    if causal:
        valid = valid & (torch.arange(span, device=q.device) <= w)[None, :]
    scale = 1.0 / math.sqrt(q.size(-1)) if scale is None else scale
    scores = torch.einsum("...ld,...lds->...ls", q, k_win) * scale
    if m is not None:
        # The band of the mask: entry [.., i, t] is mask[.., i, i - w + t] (clamped, then invalidated).
        full = _full_rank(m, q.dim())
        full = full.expand(*full.shape[:-2], L, L)
        band_of_mask = full.gather(-1, pos.clamp(0, max(L - 1, 0)).expand(*full.shape[:-2], L, span))
        if band_of_mask.dtype == torch.bool:
            valid = valid & band_of_mask
        else:
            valid = valid & (band_of_mask > float("-inf"))
            scores = scores + band_of_mask
    scores = scores.masked_fill(~valid, torch.finfo(scores.dtype).min)
    weights = torch.where(valid, scores.softmax(-1), torch.zeros((), dtype=scores.dtype, device=scores.device))
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    return torch.einsum("...ls,...lds->...ld", weights, v_win), None


def strided_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, causal: bool = True,
    dropout_p: float = 0.0, scale: float | None = None, stride: int = 8, need_weights: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """Sparse Transformer strided attention (see ``strided_mask``; causal by default). Lq == Lk.

    The pattern is applied as a mask to the fused kernel (``need_weights``: the explicit path).
    """
    fn = "strided_attention"
    _check_square(q, k, v, fn, dropout_p)
    _check_positive(fn, stride=stride)
    m = _restrict(normalize_mask(mask, q, k), strided_mask(q.size(-2), stride, causal, device=q.device))
    if need_weights:
        return scaled_dot_product_attention(q, k, v, m, causal, dropout_p, scale)
    return fused_attention(q, k, v, m, causal, dropout_p, scale), None


def _block_diagonal(mask: Tensor, nb: int, block: int) -> Tensor:
    """Mask [*, Lq|1, Lp] (Lp = nb * block) -> the blocks on its diagonal [*, nb, block|1, block]."""
    lead = mask.shape[:-2]
    if mask.size(-2) == 1:
        return mask.reshape(*lead, 1, nb, block).transpose(-3, -2)
    return mask.reshape(*lead, nb, block, nb, block).diagonal(dim1=-4, dim2=-2).movedim(-1, -3)


def block_sparse_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, causal: bool = False,
    dropout_p: float = 0.0, scale: float | None = None, block: int = 16, need_weights: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """Block-local attention: each query attends only inside its block of ``block`` positions.

    Computed block by block as [B, H, L/block, block, block] scores, i.e. L * block work
    instead of L^2. Lq == Lk; any L (the last block is padded, its padding keys masked).
    With ``need_weights`` the dense [B, H, L, L] weights are assembled for plotting.
    """
    fn = "block_sparse_attention"
    _check_square(q, k, v, fn, dropout_p)
    _check_positive(fn, block=block)
    m = normalize_mask(mask, q, k)
    L = q.size(-2)
    pad = (-L) % block
    nb = (L + pad) // block

    def blocks(t: Tensor) -> Tensor:  # [*, L, d] -> [*, nb, block, d], zero-padded
        return F.pad(t, (0, 0, 0, pad)).reshape(*t.shape[:-2], nb, block, t.size(-1))

    local: Tensor | None = None
    if m is not None:
        full = _full_rank(m, q.dim())
        fill = False if full.dtype == torch.bool else float("-inf")
        full = F.pad(full, (0, pad), value=fill)  # padding keys: masked
        if full.size(-2) != 1:
            full = F.pad(full, (0, 0, 0, pad), value=True if full.dtype == torch.bool else 0.0)  # padding queries
        local = _block_diagonal(full, nb, block)
    elif pad:
        local = (torch.arange(L + pad, device=q.device) < L).reshape(nb, 1, block)
    qb, kb, vb = blocks(q), blocks(k), blocks(v)
    if need_weights:
        out, w = scaled_dot_product_attention(qb, kb, vb, local, causal, dropout_p, scale)
    else:
        out, w = fused_attention(qb, kb, vb, local, causal, dropout_p, scale), None
    out = out.reshape(*q.shape[:-2], L + pad, v.size(-1))[..., :L, :]
    if w is None:
        return out, None
    dense = w.new_zeros(*q.shape[:-2], L + pad, L + pad)
    for b in range(nb):
        sl = slice(b * block, (b + 1) * block)
        dense[..., sl, sl] = w[..., b, :, :]
    return out, dense[..., :L, :L]


def random_features(
    n_features: int, dim: int, orthogonal: bool = True, generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """[n_features, dim] projection rows w, each distributed as N(0, I_dim), for FAVOR+.

    Orthogonal features (Choromanski et al. 2021): blocks of ``dim`` mutually orthogonal
    directions, each block the Q of a Gaussian matrix's QR with the sign correction
    Q * sign(diag(R)) (so the block is Haar-distributed, without it it is not), each row then
    scaled by an independent chi(dim) norm (the norm of a Gaussian vector). Every row is then
    exactly N(0, I): E[exp(w.x - |x|^2/2)] = 1, the estimator stays unbiased, and the
    orthogonality lowers its variance.
    """
    if n_features < 1 or dim < 1:
        raise ValueError(f"random_features: n_features={n_features} and dim={dim} must be >= 1")
    if not orthogonal:
        return torch.randn(n_features, dim, generator=generator, dtype=dtype)
    n_blocks = math.ceil(n_features / dim)
    qmat, rmat = torch.linalg.qr(torch.randn(n_blocks, dim, dim, generator=generator, dtype=dtype))
    signs = torch.sign(torch.diagonal(rmat, dim1=-2, dim2=-1))
    signs = torch.where(signs == 0, torch.ones_like(signs), signs)
    blocks = (qmat * signs[:, None, :]).transpose(-2, -1)  # rows: orthonormal, uniformly rotated directions
    directions = blocks.reshape(n_blocks * dim, dim)[:n_features]
    norms = torch.randn(n_features, dim, generator=generator, dtype=dtype).norm(dim=1, keepdim=True)  # chi(dim)
    return directions * norms


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
    ``n_features`` = m positive random features; the error falls like 1/sqrt(m).
    ``mask``: a key mask only ([..., 1, Lk] or [Lk]; bool/0-1 drops keys, a float bias b
    weights key j by exp(b_j), exactly as softmax would). ``causal`` uses prefix sums
    (lower-right aligned, Lq <= Lk). ``features`` [m, dk] fixes the projection (else drawn
    with ``generator``). With ``need_weights`` the implied [B, H, Lq, Lk] weights are
    materialised (O(L^2), for plots).
    """
    fn = "linear_attention"
    check_qkv(q, k, v, fn)
    if dropout_p > 0.0:
        raise ValueError(f"{fn}: dropout_p={dropout_p}: there is no attention matrix to apply dropout to")
    lq, lk, dk = q.size(-2), k.size(-2), q.size(-1)
    if causal and lq > lk:
        raise ValueError(f"{fn}: causal needs Lq <= Lk (queries are the last Lq positions); got q {tuple(q.shape)}, k {tuple(k.shape)}")
    m = normalize_mask(mask, q, k)
    if m is not None and m.dim() >= 2 and m.size(-2) != 1:
        raise ValueError(
            f"{fn}: mask of shape {tuple(m.shape)} varies per query; only key masks [..., 1, Lk] "
            f"can be applied without the [Lq, Lk] scores"
        )
    if features is not None:
        if features.dim() != 2 or features.size(1) != dk:
            raise ValueError(f"{fn}: features must be [m, dk={dk}], got {tuple(features.shape)}")
        w = features
    else:
        _check_positive(fn, n_features=n_features)
        w = random_features(n_features, dk, orthogonal, generator, torch.float64 if q.dtype == torch.float64 else torch.float32)
    w = w.to(device=q.device, dtype=q.dtype)
    scale = 1.0 / math.sqrt(dk) if scale is None else scale
    root = math.sqrt(scale)  # split the scale between q and k: (q r) . (k r) = scale q . k
    phi_q = _positive_features(q * root, w, is_query=True)  # [B, H, Lq, m]
    phi_k = _positive_features(k * root, w, is_query=False)  # [B, H, Lk, m]
    if m is not None:
        keys = _full_rank(m, q.dim())[..., 0, :, None]  # [B|1, H|1, Lk, 1]
        phi_k = phi_k * (keys.to(phi_k.dtype) if keys.dtype == torch.bool else keys.exp())
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
