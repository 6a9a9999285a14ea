"""Encoder/decoder layers vs nn.TransformerEncoderLayer / nn.TransformerDecoderLayer, and FFNs."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from test_core_helpers import copy_decoder_layer, copy_encoder_layer, randomize_norms
from transformer_core.feedforward import FeedForward, SwiGLU
from transformer_core.layers import DecoderLayer, EncoderLayer

D, HEADS, FF = 16, 4, 32


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_matches_nn(norm_first: bool, activation: str) -> None:
    torch.manual_seed(0)
    ref = nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0, activation=activation, batch_first=True, norm_first=norm_first)
    randomize_norms(ref)
    ours = EncoderLayer(D, HEADS, FF, activation=activation, norm_first=norm_first)
    copy_encoder_layer(ours, ref)
    x = torch.randn(2, 6, D)
    pad = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ref_out = ref(x1, src_key_padding_mask=pad)
    out = ours(x2, mask=~pad[:, None, None, :])
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-5)
    ref_out.sum().backward()
    out.sum().backward()
    torch.testing.assert_close(x2.grad, x1.grad, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_matches_nn(norm_first: bool) -> None:
    torch.manual_seed(1)
    ref = nn.TransformerDecoderLayer(D, HEADS, FF, dropout=0.0, batch_first=True, norm_first=norm_first)
    randomize_norms(ref)
    ours = DecoderLayer(D, HEADS, FF, norm_first=norm_first)
    copy_decoder_layer(ours, ref)
    x, mem = torch.randn(2, 5, D), torch.randn(2, 7, D)
    mem_pad = torch.tensor([[False] * 7, [False] * 5 + [True] * 2])
    causal_not_allowed = nn.Transformer.generate_square_subsequent_mask(5)  # float, -inf above diagonal
    ref_out = ref(x, mem, tgt_mask=causal_not_allowed, memory_key_padding_mask=mem_pad)
    out = ours(x, mem, memory_mask=~mem_pad[:, None, None, :], causal=True)
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-5)


def test_layers_keep_last_attention_weights() -> None:
    layer = DecoderLayer(D, HEADS, FF)
    x, mem = torch.randn(1, 4, D), torch.randn(1, 6, D)
    layer(x, mem, need_weights=True)
    assert layer.last_self_weights.shape == (1, HEADS, 4, 4)
    assert layer.last_cross_weights.shape == (1, HEADS, 4, 6)
    assert (layer.last_self_weights[0, :, 0, 1:] == 0).all()  # causal
    enc = EncoderLayer(D, HEADS, FF)
    enc(x, need_weights=True)
    assert enc.last_self_weights.shape == (1, HEADS, 4, 4)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_output_at_t_ignores_later_tokens(norm_first: bool) -> None:
    torch.manual_seed(2)
    layer = DecoderLayer(D, HEADS, FF, norm_first=norm_first).eval()
    x, mem = torch.randn(1, 8, D), torch.randn(1, 5, D)
    changed = x.clone()
    changed[:, 5:] = torch.randn(1, 3, D)
    torch.testing.assert_close(layer(x, mem)[:, :5], layer(changed, mem)[:, :5])
    assert not torch.allclose(layer(x, mem)[:, 5:], layer(changed, mem)[:, 5:])


def test_gpt_block_has_no_cross_attention() -> None:
    block = DecoderLayer(D, HEADS, FF, cross_attention=False)
    assert block.cross_attn is None
    assert block(torch.randn(2, 3, D)).shape == (2, 3, D)


def test_feedforward_activations() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 3, D)
    ff = FeedForward(D, FF, "gelu")
    exact = ff(x)
    ff.activation = "gelu_tanh"
    approx = ff(x)
    assert 0 < (exact - approx).abs().max() < 1e-2  # the tanh form is close, not equal
    h = torch.linspace(-4, 4, 101)
    gap = (F.gelu(h) - F.gelu(h, approximate="tanh")).abs().max().item()
    assert 1e-4 < gap < 1e-3
    ff.activation = "relu"
    manual = ff.linear2(torch.relu(ff.linear1(x)))
    torch.testing.assert_close(ff(x), manual)
    with pytest.raises(ValueError):
        FeedForward(D, FF, "tanh")


def test_swiglu() -> None:
    torch.manual_seed(0)
    m = SwiGLU(D, FF)
    x = torch.randn(2, 3, D)
    torch.testing.assert_close(m(x), m.w2(F.silu(m.w1(x)) * m.w3(x)))
    assert sum(p.numel() for p in m.parameters()) == 3 * D * FF
