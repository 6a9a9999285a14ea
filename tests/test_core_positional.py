"""Sinusoidal formula, learned positions, RoPE's relative-offset property and ALiBi."""

import math

import pytest
import torch

from transformer_core.models import GPT, BertModel, EncoderDecoderTransformer, TransformerConfig
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


# --------------------------------------------------------------------------- max_len and dtypes


@pytest.mark.parametrize("module", [SinusoidalPositionalEncoding(8, max_len=10), LearnedPositionalEmbedding(10, 8)])
def test_positions_past_max_len_raise_naming_length_and_max_len(module: torch.nn.Module) -> None:
    assert module(torch.zeros(1, 10, 8)).shape == (1, 10, 8)  # exactly max_len is fine
    with pytest.raises(ValueError, match=r"positions 0\.\.10 \(offset=0, length=11\) exceed max_len=10"):
        module(torch.zeros(1, 11, 8))
    with pytest.raises(ValueError, match=r"offset=8, length=3\) exceed max_len=10"):
        module(torch.zeros(1, 3, 8), offset=8)


def test_rope_with_max_len_refuses_later_positions() -> None:
    rope = RotaryEmbedding(8, max_len=6)
    rope(torch.zeros(1, 6, 8))
    with pytest.raises(ValueError, match=r"max_len=6"):
        rope(torch.zeros(1, 7, 8))
    with pytest.raises(ValueError, match=r"max_len=6"):
        rope(torch.zeros(1, 1, 8), torch.tensor([6]))


def _models(positional: str) -> list[torch.nn.Module]:
    base: dict = dict(vocab_size=13, d_model=8, n_heads=2, n_layers=1, d_ff=16, max_len=6, positional=positional)
    return [GPT(TransformerConfig(**base)), BertModel(TransformerConfig(**base, arch="encoder")),
            EncoderDecoderTransformer(TransformerConfig(**base, arch="encoder-decoder"))]


@pytest.mark.parametrize("positional", ["sinusoidal", "learned"])
def test_models_refuse_sequences_longer_than_max_len(positional: str) -> None:
    gpt, bert, ed = _models(positional)
    long = torch.zeros(2, 7, dtype=torch.long)
    short = torch.zeros(2, 3, dtype=torch.long)
    for call in (lambda: gpt(long), lambda: bert(long), lambda: ed(long, short), lambda: ed(short, long)):
        with pytest.raises(ValueError, match=r"length=7\) exceed max_len=6"):
            call()


@pytest.mark.parametrize("positional", ["sinusoidal", "learned"])
def test_gpt_cache_decoding_past_max_len_raises_not_empty_logits(positional: str) -> None:
    gpt = _models(positional)[0].eval()
    cache = gpt.make_cache()
    with torch.no_grad():
        assert gpt(torch.zeros(1, 5, dtype=torch.long), cache=cache).shape == (1, 5, 13)
        assert gpt(torch.zeros(1, 1, dtype=torch.long), cache=cache).shape == (1, 1, 13)  # position 5: the last
        with pytest.raises(ValueError, match=r"positions 6\.\.6 \(offset=6, length=1\) exceed max_len=6"):
            gpt(torch.zeros(1, 1, dtype=torch.long), cache=cache)


def _float64_sinusoid(positions: list[int], d: int) -> torch.Tensor:
    """Reference from Python floats (double precision)."""
    rows = []
    for pos in positions:
        row = []
        for c in range(d):
            angle = pos / 10000 ** (2 * (c // 2) / d)
            row.append(math.sin(angle) if c % 2 == 0 else math.cos(angle))
        rows.append(row)
    return torch.tensor(rows, dtype=torch.float64)


def test_sinusoidal_table_follows_the_input_dtype() -> None:
    d = 16
    ref = _float64_sinusoid([1500, 1501, 4999], d)
    table64 = sinusoidal_table(5000, d, dtype=torch.float64)
    assert table64.dtype == torch.float64
    torch.testing.assert_close(table64[[1500, 1501, 4999]], ref, atol=1e-12, rtol=0)
    # float32 angles are measurably off at position 1,500: the reason float64 needs float64 math
    assert (sinusoidal_table(5000, d)[1500].double() - ref[0]).abs().max() > 1e-6
    module = SinusoidalPositionalEncoding(d, max_len=5000).double()  # buffer cast after float32 math
    x = torch.zeros(1, 3, d, dtype=torch.float64)
    out = module(x, offset=1500)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out[0, :2], ref[:2], atol=1e-12, rtol=0)
    assert module(x.float(), offset=1500).dtype == torch.float32
    # odd widths: the last sine column has no cosine partner
    torch.testing.assert_close(sinusoidal_table(3, 5, dtype=torch.float64), _float64_sinusoid([0, 1, 2], 5))


def test_rope_angles_follow_the_input_dtype() -> None:
    hd = 16
    rope = RotaryEmbedding(hd)
    x = torch.randn(1, 1, hd, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    pos = torch.tensor([1500])
    out = rope(x, pos)
    assert out.dtype == torch.float64
    freqs = [10000.0 ** (-2 * c / hd) for c in range(hd // 2)]
    cos = torch.tensor([math.cos(1500 * f) for f in freqs] * 2, dtype=torch.float64)
    sin = torch.tensor([math.sin(1500 * f) for f in freqs] * 2, dtype=torch.float64)
    x1, x2 = x.chunk(2, dim=-1)
    ref = x * cos + torch.cat([-x2, x1], dim=-1) * sin
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=0)
    assert (rope(x.float(), pos).double() - ref).abs().max() > 1e-6  # float32 angles: visibly worse


def test_alibi_follows_the_requested_dtype() -> None:
    bias = alibi_bias(6, 4, 4, dtype=torch.float64)
    assert bias.dtype == torch.float64
    assert alibi_slopes(6, torch.float64).dtype == torch.float64
