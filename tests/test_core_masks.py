"""The accepted mask forms, read by one function, give one result on every path.

Forms: bool (True = may attend), integer 0/1 (Hugging Face; 1 = may attend), floating
(additive). Layouts at module level: [B, Lk] padding, [Lq, Lk], [B, Lq, Lk], [B*H, Lq, Lk],
[B, H, Lq, Lk]. Paths: explicit (need_weights=True) and fused (need_weights=False).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from test_core_helpers import copy_encoder_layer, copy_mha
from transformer_core.attention import causal_mask, fused_attention, normalize_mask, scaled_dot_product_attention
from transformer_core.efficient import (
    block_mask,
    block_sparse_attention,
    sliding_window_attention,
    sliding_window_mask,
    strided_attention,
    strided_mask,
)
from transformer_core.layers import EncoderLayer
from transformer_core.models import BertModel, TransformerConfig
from transformer_core.multihead import MultiHeadAttention

B, H, D = 2, 3, 8
DT = torch.float64


def qkv(lq: int, lk: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(B, H, n, D, generator=g, dtype=DT) for n in (lq, lk, lk))  # type: ignore[return-value]


def keep_pattern(lq: int, lk: int, seed: int = 1) -> torch.Tensor:
    """A random bool [B, 1, Lq, Lk] keep-mask with one fully masked query row."""
    g = torch.Generator().manual_seed(seed)
    keep = torch.rand(B, 1, lq, lk, generator=g) > 0.4
    keep[0, 0, 1] = False
    return keep


def as_form(keep: torch.Tensor, form: str) -> torch.Tensor:
    if form == "bool":
        return keep
    if form in ("int64", "int32", "uint8", "int8"):
        return keep.to(getattr(torch, form))
    if form == "float":
        return torch.zeros(keep.shape, dtype=DT).masked_fill(~keep, float("-inf"))
    raise AssertionError(form)


FORMS = ["bool", "int64", "int32", "uint8", "int8", "float"]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("lq,lk", [(5, 5), (3, 7), (7, 3)])
def test_every_form_gives_the_bool_result_on_both_paths(form: str, causal: bool, lq: int, lk: int) -> None:
    q, k, v = qkv(lq, lk)
    keep = keep_pattern(lq, lk)
    allowed = keep & causal_mask(lq, lk) if causal else keep
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    ref = torch.where(allowed.any(-1, keepdim=True), ref, torch.zeros((), dtype=DT))  # fully masked -> 0
    mask = as_form(keep, form)
    out, w = scaled_dot_product_attention(q, k, v, mask=mask, causal=causal)
    fused = fused_attention(q, k, v, mask=mask, causal=causal)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(fused, ref)
    assert not fused.isnan().any() and not out.isnan().any()
    assert (w[~allowed.expand_as(w)] == 0).all()


def test_normalize_mask_is_the_one_reader() -> None:
    q, k, _ = qkv(2, 3)
    assert normalize_mask(None, q, k) is None
    ints = torch.tensor([[1, 0, 1]])
    assert normalize_mask(ints, q, k).dtype == torch.bool  # type: ignore[union-attr]
    assert normalize_mask(ints, q, k).tolist() == [[True, False, True]]  # type: ignore[union-attr]
    assert normalize_mask(torch.zeros(1, 3, dtype=torch.float32), q, k).dtype == DT  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="other than 0 and 1"):
        normalize_mask(torch.tensor([[1, 2, 0]]), q, k)


def test_float_mask_is_a_bias_not_a_keep_flag() -> None:
    q, k, v = qkv(4, 4)
    bias = torch.randn(4, 4, dtype=DT)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, mask=bias)[0], ref)
    torch.testing.assert_close(fused_attention(q, k, v, mask=bias), ref)


@pytest.mark.parametrize("dtype", [torch.float32, DT])
@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("form", FORMS)
def test_fully_masked_rows_are_zero_with_finite_grads(dtype: torch.dtype, need_weights: bool, form: str) -> None:
    torch.manual_seed(0)
    mha = MultiHeadAttention(D, 2).to(dtype)
    x = torch.randn(B, 4, D, dtype=dtype, requires_grad=True)
    keep = torch.ones(B, 1, 4, 4, dtype=torch.bool)
    keep[1, 0, 2] = False  # query 2 of sequence 1 sees nothing
    out, _ = mha(x, mask=as_form(keep, form), need_weights=need_weights)
    bias_only = mha.out_proj.bias.expand(D)
    torch.testing.assert_close(out[1, 2], bias_only)  # zero attention, then out_proj adds its bias
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


# --------------------------------------------------------------------------- module layouts


def nn_pair(seed: int = 0) -> tuple[MultiHeadAttention, nn.MultiheadAttention]:
    torch.manual_seed(seed)
    ref = nn.MultiheadAttention(D, 2, batch_first=True, dtype=DT)
    nn.init.normal_(ref.in_proj_bias)
    ours = MultiHeadAttention(D, 2).to(DT)
    copy_mha(ours, ref)
    return ours, ref


@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("form", FORMS)
def test_2d_padding_mask_is_read_as_padding(need_weights: bool, form: str) -> None:
    ours, ref = nn_pair()
    x = torch.randn(3, 5, D, dtype=DT)  # B=3 != Lq=5
    keep = torch.tensor([[1] * 5, [1] * 3 + [0] * 2, [1] * 4 + [0]], dtype=torch.bool)
    expected, _ = ref(x, x, x, key_padding_mask=~keep)
    out, _ = ours(x, mask=as_form(keep, form), need_weights=need_weights)
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("need_weights", [False, True])
def test_2d_mask_matching_query_length_is_a_per_query_mask(need_weights: bool) -> None:
    ours, ref = nn_pair()
    x = torch.randn(2, 5, D, dtype=DT)
    keep = causal_mask(5, 5)
    expected, _ = ref(x, x, x, attn_mask=~keep)
    torch.testing.assert_close(ours(x, mask=keep, need_weights=need_weights)[0], expected)


@pytest.mark.parametrize("need_weights", [False, True])
def test_1d_mask_is_one_key_mask_for_all(need_weights: bool) -> None:
    ours, ref = nn_pair()
    x = torch.randn(2, 5, D, dtype=DT)
    keep = torch.tensor([True, True, False, True, False])
    expected, _ = ref(x, x, x, key_padding_mask=~keep.expand(2, 5))
    torch.testing.assert_close(ours(x, mask=keep, need_weights=need_weights)[0], expected)


@pytest.mark.parametrize("need_weights", [False, True])
def test_ambiguous_2d_mask_is_rejected(need_weights: bool) -> None:
    """B == Lq: [B, Lk] and [Lq, Lk] differ; never silently pick one."""
    ours, _ = nn_pair()
    x = torch.randn(4, 4, D, dtype=DT)
    with pytest.raises(ValueError, match=r"ambiguous .* \[B, 1, 1, Lk\]"):
        ours(x, mask=torch.ones(4, 4, dtype=torch.bool), need_weights=need_weights)
    layer = EncoderLayer(D, 2, 16)
    with pytest.raises(ValueError, match="ambiguous"):
        layer(x.float(), mask=torch.ones(4, 4, dtype=torch.bool))


@pytest.mark.parametrize("need_weights", [False, True])
def test_3d_masks_per_sequence_and_per_head(need_weights: bool) -> None:
    ours, ref = nn_pair()
    x = torch.randn(2, 5, D, dtype=DT)
    g = torch.Generator().manual_seed(3)
    per_head = torch.rand(2 * 2, 5, 5, generator=g) > 0.3  # nn's [B*H, Lq, Lk]
    per_head[:, :, 0] = True
    expected, _ = ref(x, x, x, attn_mask=~per_head)
    torch.testing.assert_close(ours(x, mask=per_head, need_weights=need_weights)[0], expected)
    per_seq = per_head[::2]  # [B, Lq, Lk], shared by the heads
    expected, _ = ref(x, x, x, attn_mask=~per_seq.repeat_interleave(2, dim=0))
    torch.testing.assert_close(ours(x, mask=per_seq, need_weights=need_weights)[0], expected)


def test_layers_and_bert_read_hf_padding_masks() -> None:
    torch.manual_seed(0)
    ref = nn.TransformerEncoderLayer(D, 2, 16, dropout=0.0, batch_first=True, dtype=DT)
    ours = EncoderLayer(D, 2, 16).to(DT)
    copy_encoder_layer(ours, ref)
    x = torch.randn(3, 6, D, dtype=DT)
    hf = torch.tensor([[1] * 6, [1] * 4 + [0] * 2, [1] * 2 + [0] * 4])  # int64, 1 = real token
    expected = ref(x, src_key_padding_mask=hf == 0)
    for need_weights in (False, True):
        out = ours(x, mask=hf, need_weights=need_weights)
        torch.testing.assert_close(out[hf.bool()], expected[hf.bool()])
    cfg = TransformerConfig(vocab_size=20, d_model=D, n_heads=2, n_layers=2, d_ff=16, max_len=16, arch="encoder")
    bert = BertModel(cfg).eval()
    ids = torch.randint(0, 20, (3, 6), generator=torch.Generator().manual_seed(0))
    for mask in (hf, hf.bool(), hf.to(torch.uint8), hf.bool()[:, None, None, :]):
        torch.testing.assert_close(bert(ids, attention_mask=mask)[hf.bool()], bert(ids, attention_mask=hf)[hf.bool()])
    changed = ids.clone()
    changed[1, 4:] = (changed[1, 4:] + 1) % 20  # padding content must not matter
    torch.testing.assert_close(bert(changed, attention_mask=hf)[1, :4], bert(ids, attention_mask=hf)[1, :4])


# --------------------------------------------------------------------------- efficient variants


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("L", [13, 16])
def test_efficient_paths_agree_with_dense_for_every_mask_form(form: str, causal: bool, L: int) -> None:
    q, k, v = qkv(L, L, seed=4)
    keep = keep_pattern(L, L, seed=5)
    mask = as_form(keep, form)
    cases = [
        (lambda nw: sliding_window_attention(q, k, v, mask=mask, causal=causal, window=3, need_weights=nw),
         sliding_window_mask(L, 3)),
        (lambda nw: block_sparse_attention(q, k, v, mask=mask, causal=causal, block=4, need_weights=nw), block_mask(L, 4)),
        (lambda nw: strided_attention(q, k, v, mask=mask, causal=causal, stride=3, need_weights=nw),
         strided_mask(L, 3, causal=causal)),
    ]
    for run, pattern in cases:
        ref, ref_w = scaled_dot_product_attention(q, k, v, mask=keep & pattern, causal=causal)
        fast, none = run(False)
        dense, w = run(True)
        assert none is None
        torch.testing.assert_close(fast, ref)
        torch.testing.assert_close(dense, ref)
        torch.testing.assert_close(w, ref_w)


def test_efficient_functions_default_to_the_efficient_path() -> None:
    q, k, v = qkv(16, 16)
    assert sliding_window_attention(q, k, v, window=2)[1] is None
    assert block_sparse_attention(q, k, v, block=4)[1] is None
    assert strided_attention(q, k, v, stride=4)[1] is None


def test_strided_without_causal_is_not_causal() -> None:
    q, k, v = qkv(12, 12)
    m = strided_mask(12, 4, causal=False)
    assert torch.equal(m, m.T) and m.triu(1).any()
    _, w = strided_attention(q, k, v, causal=False, stride=4, need_weights=True)
    assert (w.triu(1) > 0).any()
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=m)
    torch.testing.assert_close(strided_attention(q, k, v, causal=False, stride=4)[0], ref)
    assert torch.equal(strided_mask(12, 4), strided_mask(12, 4, causal=False) & causal_mask(12, 12))
