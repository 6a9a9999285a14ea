"""Explicit attention vs F.scaled_dot_product_attention, masks and the fully-masked-row rule."""

import pytest
import torch
import torch.nn.functional as F

from transformer_core.attention import causal_mask, fused_attention, padding_mask, scaled_dot_product_attention

B, H, D = 2, 3, 8


def qkv(lq: int, lk: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, H, lq, D, generator=g), torch.randn(B, H, lk, D, generator=g), torch.randn(B, H, lk, 5, generator=g))


def test_causal_mask_is_lower_right_aligned() -> None:
    assert torch.equal(causal_mask(3, 3), torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.bool))
    # a decode step: 2 new queries after 3 cached keys
    assert torch.equal(causal_mask(2, 5), torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=torch.bool))


def test_padding_mask_marks_real_tokens() -> None:
    m = padding_mask([2, 4], 4)
    assert m.shape == (2, 1, 1, 4)
    assert m[0, 0, 0].tolist() == [True, True, False, False]
    assert m[1].all()


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("lq,lk", [(6, 6), (2, 6)])
def test_explicit_matches_sdpa(causal: bool, padded: bool, lq: int, lk: int) -> None:
    q, k, v = qkv(lq, lk)
    mask = padding_mask([lk, lk - 2], lk) if padded else None
    ref_mask = mask
    if causal:
        c = causal_mask(lq, lk)
        ref_mask = c if mask is None else mask & c
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=ref_mask)
    out, w = scaled_dot_product_attention(q, k, v, mask=mask, causal=causal)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(w.sum(-1), torch.ones(B, H, lq))
    torch.testing.assert_close(fused_attention(q, k, v, mask=mask, causal=causal), ref, atol=1e-5, rtol=1e-5)


def test_fused_causal_square_uses_is_causal_semantics() -> None:
    q, k, v = qkv(7, 7)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(fused_attention(q, k, v, causal=True), ref)


def test_weights_respect_masks() -> None:
    q, k, v = qkv(5, 5)
    _, w = scaled_dot_product_attention(q, k, v, mask=padding_mask([5, 3], 5), causal=True)
    assert (w[:, :, ~causal_mask(5, 5)] == 0).all()
    assert (w[1, :, :, 3:] == 0).all()


def test_fully_masked_row_is_zero_not_nan_with_finite_grads() -> None:
    q, k, v = qkv(4, 4)
    q.requires_grad_(True)
    mask = padding_mask([4, 0], 4)  # second sequence: nothing to attend to
    out, w = scaled_dot_product_attention(q, k, v, mask=mask)
    assert torch.isfinite(out).all() and (out[1] == 0).all() and (w[1] == 0).all()
    out.sum().backward()
    assert torch.isfinite(q.grad).all()
    fused = fused_attention(q.detach(), k, v, mask=mask)
    torch.testing.assert_close(fused, out.detach(), atol=1e-6, rtol=0)


def test_float_mask_is_added_to_scores() -> None:
    q, k, v = qkv(4, 4)
    bias = torch.randn(H, 4, 4, generator=torch.Generator().manual_seed(1))
    out, _ = scaled_dot_product_attention(q, k, v, mask=bias)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=bias), atol=1e-5, rtol=1e-5)


def test_scale_argument() -> None:
    q, k, v = qkv(4, 4)
    out, _ = scaled_dot_product_attention(q, k, v, scale=0.3)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, scale=0.3), atol=1e-5, rtol=1e-5)


def test_dropout_is_applied_as_given() -> None:
    q, k, v = qkv(6, 6)
    torch.manual_seed(0)
    _, w = scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    assert (w == 0).any()
    _, w0 = scaled_dot_product_attention(q, k, v, dropout_p=0.0)
    assert (w0 > 0).all()
