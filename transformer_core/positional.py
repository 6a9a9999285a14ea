"""Position information: sinusoidal (2017), learned (BERT/GPT), rotary (RoPE), ALiBi."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def math_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype angles are computed in: float64 for float64 inputs, else float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def check_positions(fn: str, offset: int, length: int, max_len: int) -> None:
    """Raise ValueError unless positions offset .. offset + length - 1 lie in [0, max_len)."""
    if offset < 0:
        raise ValueError(f"{fn}: offset={offset} must be >= 0")
    if offset + length > max_len:
        raise ValueError(
            f"{fn}: positions {offset}..{offset + length - 1} (offset={offset}, length={length}) "
            f"exceed max_len={max_len}"
        )


def sinusoidal_table(
    max_len: int, d_model: int, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None,
    offset: int = 0,
) -> Tensor:
    """[max_len, d_model] rows for positions offset .. offset + max_len - 1.

    PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(same). Computed in float64
    when ``dtype`` is float64 (float32 angles are off by ~2e-4 at position 1,500), else float32.
    """
    if max_len < 0 or d_model <= 0:
        raise ValueError(f"sinusoidal_table: max_len={max_len} must be >= 0 and d_model={d_model} > 0")
    dt = math_dtype(dtype)
    pos = torch.arange(offset, offset + max_len, dtype=dt, device=device)[:, None]
    two_i = torch.arange(0, d_model, 2, dtype=dt, device=device)
    angle = pos / torch.pow(10000.0, two_i / d_model)  # [max_len, ceil(d/2)]
    pe = torch.zeros(max_len, d_model, dtype=dt, device=device)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : d_model // 2])
    return pe.to(dtype)


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the fixed sinusoidal table to x [B, L, d] -> [B, L, d]; no parameters.

    ``pe`` holds the float32 table; float64 inputs get rows computed in float64.
    Positions past ``max_len`` raise ValueError (as for learned positions).
    """

    pe: Tensor

    def __init__(self, d_model: int, max_len: int = 5000) -> None:
        super().__init__()
        self.d_model, self.max_len = d_model, max_len
        self.register_buffer("pe", sinusoidal_table(max_len, d_model), persistent=False)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        """offset: absolute position of x[:, 0] (the KV-cache length when decoding)."""
        fn = "SinusoidalPositionalEncoding"
        if x.dim() < 2 or x.size(-1) != self.d_model:
            raise ValueError(f"{fn}: x must be [B, L, d_model={self.d_model}], got {tuple(x.shape)}")
        length = x.size(-2)
        check_positions(fn, offset, length, self.max_len)
        if x.dtype == torch.float64:
            return x + sinusoidal_table(length, self.d_model, x.dtype, x.device, offset=offset)
        return x + self.pe[offset : offset + length].to(x.dtype)


class LearnedPositionalEmbedding(nn.Module):
    """Adds a trained vector per position: max_len * d_model parameters."""

    def __init__(self, max_len: int, d_model: int) -> None:
        super().__init__()
        self.max_len, self.d_model = max_len, d_model
        self.weight = nn.Parameter(torch.empty(max_len, d_model))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        """x [B, L, d] -> x + weight[offset : offset + L]."""
        fn = "LearnedPositionalEmbedding"
        if x.dim() < 2 or x.size(-1) != self.d_model:
            raise ValueError(f"{fn}: x must be [B, L, d_model={self.d_model}], got {tuple(x.shape)}")
        check_positions(fn, offset, x.size(-2), self.max_len)
        return x + self.weight[offset : offset + x.size(-2)]


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (RoPE, Su et al. 2021), rotate-half layout.

    Channel pairs (c, c + head_dim/2) are rotated by angle pos * base^(-2c/head_dim), so the
    dot product of a rotated query and key depends only on their relative offset. Angles are
    computed in float64 for float64 inputs. ``max_len`` (optional) bounds the positions.
    """

    inv_freq: Tensor

    def __init__(self, head_dim: int, base: float = 10000.0, max_len: int | None = None) -> None:
        super().__init__()
        if head_dim <= 0 or head_dim % 2:
            raise ValueError(f"head_dim={head_dim} must be positive and even")
        self.head_dim, self.base, self.max_len = head_dim, base, max_len
        self.register_buffer("inv_freq", self.frequencies(torch.float32), persistent=False)

    def frequencies(self, dtype: torch.dtype, device: torch.device | None = None) -> Tensor:
        """[head_dim / 2] rotation speeds base^(-2c / head_dim)."""
        return self.base ** (-torch.arange(0, self.head_dim, 2, dtype=dtype, device=device) / self.head_dim)

    def rotate(self, x: Tensor, positions: Tensor | None = None) -> Tensor:
        """x [..., L, head_dim], positions [L] (default 0..L-1) -> rotated x, same shape."""
        fn = "RotaryEmbedding"
        if x.dim() < 2 or x.size(-1) != self.head_dim:
            raise ValueError(f"{fn}: x must be [..., L, head_dim={self.head_dim}], got {tuple(x.shape)}")
        length = x.size(-2)
        if positions is None:
            positions = torch.arange(length, device=x.device)
        if positions.shape != (length,):
            raise ValueError(f"{fn}: positions must be [L={length}], got {tuple(positions.shape)} for x {tuple(x.shape)}")
        if self.max_len is not None and length and not positions.is_meta and (positions.min() < 0 or positions.max() >= self.max_len):
            raise ValueError(
                f"{fn}: positions {positions.min().item()}..{positions.max().item()} lie outside [0, max_len={self.max_len})"
            )
        dt = math_dtype(x.dtype)
        angle = positions.to(dt)[:, None] * self.frequencies(dt, x.device)[None, :]  # [L, hd/2]
        cos = torch.cat([angle.cos(), angle.cos()], dim=-1).to(x.dtype)
        sin = torch.cat([angle.sin(), angle.sin()], dim=-1).to(x.dtype)
        x1, x2 = x.chunk(2, dim=-1)
        return x * cos + torch.cat([-x2, x1], dim=-1) * sin

    def forward(self, x: Tensor, positions: Tensor | None = None) -> Tensor:
        return self.rotate(x, positions)


def alibi_slopes(n_heads: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """[H] geometric slopes 2^(-8/n), 2^(-16/n), ... (Press et al. 2022), interleaved for non-powers of 2."""
    if n_heads <= 0:
        raise ValueError(f"alibi_slopes: n_heads={n_heads} must be positive")

    def power_of_two(n: int) -> list[float]:
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]

    if math.log2(n_heads).is_integer():
        return torch.tensor(power_of_two(n_heads), dtype=dtype)
    closest = 2 ** math.floor(math.log2(n_heads))
    extra = power_of_two(2 * closest)[0::2][: n_heads - closest]
    return torch.tensor(power_of_two(closest) + extra, dtype=dtype)


def alibi_bias(
    n_heads: int, lq: int, lk: int, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None,
) -> Tensor:
    """Float [H, lq, lk] additive bias -slope_h * |i - j| (queries lower-right aligned), in ``dtype``.

    Pass it (broadcast to [B, H, lq, lk]) as a float mask to the attention functions,
    usually together with ``causal=True``.
    """
    if lq < 0 or lk < 0:
        raise ValueError(f"alibi_bias: lq={lq} and lk={lk} must be >= 0")
    qpos = torch.arange(lq, device=device)[:, None] + (lk - lq)
    kpos = torch.arange(lk, device=device)[None, :]
    distance = (qpos - kpos).abs().to(dtype)
    return -alibi_slopes(n_heads, dtype).to(device)[:, None, None] * distance
