"""MultiHeadAttention vs nn.MultiheadAttention (outputs and gradients) and the KV cache."""

import pytest
import torch
from torch import nn

from transformer_core.multihead import KVCache, MultiHeadAttention

from test_core_helpers import copy_mha

D, HEADS = 16, 4


def pair(seed: int = 0) -> tuple[MultiHeadAttention, nn.MultiheadAttention]:
    torch.manual_seed(seed)
    ref = nn.MultiheadAttention(D, HEADS, batch_first=True)
    nn.init.normal_(ref.in_proj_bias)
    nn.init.normal_(ref.out_proj.bias)
    ours = MultiHeadAttention(D, HEADS)
    copy_mha(ours, ref)
    return ours, ref


@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("cross", [False, True])
def test_matches_nn_multihead_attention_outputs_and_grads(need_weights: bool, cross: bool) -> None:
    ours, ref = pair()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 5, D, generator=g)
    mem = torch.randn(2, 7, D, generator=g) if cross else x
    lk = mem.size(1)
    pad = torch.tensor([[False] * lk, [False] * (lk - 2) + [True] * 2])  # nn: True = ignore
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ref_out, ref_w = ref(x1, mem if cross else x1, mem if cross else x1, key_padding_mask=pad, need_weights=True,
                         average_attn_weights=False)
    out, w = ours(x2, mem if cross else None, None, mask=~pad[:, None, None, :], need_weights=need_weights)
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-5)
    if need_weights:
        torch.testing.assert_close(w, ref_w, atol=1e-5, rtol=1e-5)
    grad = torch.randn(out.shape, generator=g)
    ref_out.backward(grad)
    out.backward(grad)
    torch.testing.assert_close(x2.grad, x1.grad, atol=1e-5, rtol=1e-5)
    ref_q, ref_k, ref_v = ref.in_proj_weight.grad.chunk(3)
    torch.testing.assert_close(ours.q_proj.weight.grad, ref_q, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.k_proj.weight.grad, ref_k, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.v_proj.weight.grad, ref_v, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.out_proj.weight.grad, ref.out_proj.weight.grad, atol=1e-5, rtol=1e-5)


def test_causal_matches_nn_with_inverted_mask() -> None:
    ours, ref = pair(1)
    x = torch.randn(2, 6, D)
    not_allowed = torch.ones(6, 6, dtype=torch.bool).triu(1)  # nn: True = may NOT attend
    ref_out, _ = ref(x, x, x, attn_mask=not_allowed)
    out, _ = ours(x, causal=True)
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-5)


def test_parameter_count_is_4d2_plus_4d() -> None:
    assert sum(p.numel() for p in MultiHeadAttention(D, HEADS).parameters()) == 4 * D * D + 4 * D
    assert sum(p.numel() for p in MultiHeadAttention(D, HEADS, bias=False).parameters()) == 4 * D * D


def test_rejects_indivisible_heads() -> None:
    with pytest.raises(ValueError):
        MultiHeadAttention(10, 3)


def test_kv_cache_incremental_equals_full_causal() -> None:
    ours, _ = pair(2)
    x = torch.randn(2, 9, D)
    full, _ = ours(x, causal=True)
    cache = KVCache()
    steps = [ours(x[:, :4], causal=True, cache=cache)[0]]
    for t in range(4, 9):
        steps.append(ours(x[:, t : t + 1], causal=True, cache=cache)[0])
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-5)
    assert len(cache) == 9 and cache.keys.shape == (2, HEADS, 9, D // HEADS)


def test_kv_cache_is_append_only() -> None:
    cache = KVCache()
    a = torch.randn(1, 2, 3, 4)
    cache.append(a, a)
    b = torch.randn(1, 2, 40, 4)  # forces the storage to grow
    k, v = cache.append(b, -b)
    torch.testing.assert_close(k, torch.cat([a, b], 2))
    torch.testing.assert_close(v, torch.cat([a, -b], 2))
