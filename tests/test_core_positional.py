"""Sinusoidal formula, learned positions, RoPE's relative-offset property and ALiBi."""

import math

import pytest
import torch

from transformer_core.positional import (
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    alibi_bias,
    alibi_slopes,
    sinusoidal_table,
)


def test_sinusoidal_matches_paper_formula() -> None:
    pe = sinusoidal_table(50, 16)
    for pos in (0, 1, 7, 49):
        for i in range(8):
            angle = pos / 10000 ** (2 * i / 16)
            assert pe[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-5)
            assert pe[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-5)


def test_sinusoidal_module_adds_table_with_offset() -> None:
    m = SinusoidalPositionalEncoding(8, max_len=20)
    assert m.pe.shape == (20, 8)
    x = torch.zeros(2, 3, 8)
    torch.testing.assert_close(m(x), m.pe[:3].expand(2, 3, 8))
    torch.testing.assert_close(m(x, offset=5), m.pe[5:8].expand(2, 3, 8))
    assert sum(p.numel() for p in m.parameters()) == 0


def test_learned_positions() -> None:
    m = LearnedPositionalEmbedding(10, 4)
    assert sum(p.numel() for p in m.parameters()) == 40
    x = torch.zeros(1, 3, 4)
    torch.testing.assert_close(m(x, offset=2), m.weight[2:5][None])
    with pytest.raises(ValueError):
        m(torch.zeros(1, 11, 4))


def test_rope_dot_product_depends_only_on_relative_offset() -> None:
    torch.manual_seed(0)
    rope = RotaryEmbedding(16)
    q, k = torch.randn(16), torch.randn(16)

    def score(m: int, n: int) -> float:
        qm = rope.rotate(q[None], torch.tensor([m]))[0]
        kn = rope.rotate(k[None], torch.tensor([n]))[0]
        return (qm @ kn).item()

    for offset in (0, 1, 5, 13):
        values = [score(m + offset, m) for m in (0, 3, 10, 100)]
        assert max(values) - min(values) < 1e-3, values
    assert abs(score(5, 0) - score(0, 0)) > 1e-3  # position does matter


def test_rope_preserves_norm_and_is_identity_at_zero() -> None:
    rope = RotaryEmbedding(8)
    x = torch.randn(2, 3, 5, 8)
    y = rope.rotate(x)
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1))
    torch.testing.assert_close(y[..., 0, :], x[..., 0, :])


def test_alibi() -> None:
    torch.testing.assert_close(alibi_slopes(8), torch.tensor([2.0 ** -(i + 1) for i in range(8)]))
    assert alibi_slopes(6).shape == (6,)
    bias = alibi_bias(4, 3, 5)
    assert bias.shape == (4, 3, 5)
    # last query sits at absolute position 4; bias is -slope * distance
    torch.testing.assert_close(bias[0, -1], -0.25 * torch.tensor([4.0, 3, 2, 1, 0]))
