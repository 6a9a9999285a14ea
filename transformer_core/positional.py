"""Position information: sinusoidal (2017), learned (BERT/GPT), rotary (RoPE), ALiBi."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def sinusoidal_table(max_len: int, d_model: int) -> Tensor:
    """[max_len, d_model]: PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(same)."""
    pos = torch.arange(max_len, dtype=torch.float32)[:, None]
    two_i = torch.arange(0, d_model, 2, dtype=torch.float32)
    angle = pos / torch.pow(10000.0, two_i / d_model)  # [max_len, ceil(d/2)]
    pe = torch.zeros(max_len, d_model)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : d_model // 2])
    return pe


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the fixed sinusoidal table to x [B, L, d] -> [B, L, d]; no parameters."""

    def __init__(self, d_model: int, max_len: int = 5000) -> None:
        super().__init__()
        self.register_buffer("pe", sinusoidal_table(max_len, d_model), persistent=False)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        """offset: absolute position of x[:, 0] (the KV-cache length when decoding)."""
        return x + self.pe[offset : offset + x.size(1)].to(x.dtype)


class LearnedPositionalEmbedding(nn.Module):
    """Adds a trained vector per position: max_len * d_model parameters."""

    def __init__(self, max_len: int, d_model: int) -> None:
        super().__init__()
        self.max_len = max_len
        self.weight = nn.Parameter(torch.empty(max_len, d_model))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        """x [B, L, d] -> x + weight[offset : offset + L]."""
        if offset + x.size(1) > self.max_len:
            raise ValueError(f"position {offset + x.size(1) - 1} exceeds max_len={self.max_len}")
        return x + self.weight[offset : offset + x.size(1)]


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (RoPE, Su et al. 2021), rotate-half layout.

    Channel pairs (c, c + head_dim/2) are rotated by angle pos * base^(-2c/head_dim), so the
    dot product of a rotated query and key depends only on their relative offset.
    """

    def __init__(self, head_dim: int, base: float = 10000.0) -> None:
        super().__init__()
        if head_dim % 2:
            raise ValueError("head_dim must be even")
        inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def rotate(self, x: Tensor, positions: Tensor | None = None) -> Tensor:
        """x [..., L, head_dim], positions [L] (default 0..L-1) -> rotated x, same shape."""
        if positions is None:
            positions = torch.arange(x.size(-2), device=x.device)
        angle = positions.to(self.inv_freq.dtype)[:, None] * self.inv_freq[None, :]  # [L, hd/2]
        cos = torch.cat([angle.cos(), angle.cos()], dim=-1).to(x.dtype)
        sin = torch.cat([angle.sin(), angle.sin()], dim=-1).to(x.dtype)
        x1, x2 = x.chunk(2, dim=-1)
        return x * cos + torch.cat([-x2, x1], dim=-1) * sin

    def forward(self, x: Tensor, positions: Tensor | None = None) -> Tensor:
        return self.rotate(x, positions)


def alibi_slopes(n_heads: int) -> Tensor:
    """[H] geometric slopes 2^(-8/n), 2^(-16/n), ... (Press et al. 2022), interleaved for non-powers of 2."""

    def power_of_two(n: int) -> list[float]:
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]

    if math.log2(n_heads).is_integer():
        return torch.tensor(power_of_two(n_heads))
    closest = 2 ** math.floor(math.log2(n_heads))
    extra = power_of_two(2 * closest)[0::2][: n_heads - closest]
    return torch.tensor(power_of_two(closest) + extra)


def alibi_bias(n_heads: int, lq: int, lk: int) -> Tensor:
    """Float [H, lq, lk] additive bias -slope_h * |i - j| (queries lower-right aligned).

    Pass it (broadcast to [B, H, lq, lk]) as a float mask to the attention functions,
    usually together with ``causal=True``.
    """
    qpos = torch.arange(lq)[:, None] + (lk - lq)
    kpos = torch.arange(lk)[None, :]
    distance = (qpos - kpos).abs().to(torch.float32)
    return -alibi_slopes(n_heads)[:, None, None] * distance
