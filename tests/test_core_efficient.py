"""Efficient attention variants against full attention."""

import math

import pytest
import torch

from transformer_core.attention import causal_mask, padding_mask, scaled_dot_product_attention
from transformer_core.efficient import (
    block_mask,
    block_sparse_attention,
    linear_attention,
    random_features,
    sliding_window_attention,
    sliding_window_mask,
    strided_attention,
    strided_mask,
)


def qkv(L: int = 32, d: int = 16, seed: int = 0, scale: float = 1.0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(2, 2, L, d, generator=g) * scale for _ in range(3))


@pytest.mark.parametrize("causal", [False, True])
def test_sliding_window_covering_sequence_equals_full(causal: bool) -> None:
    q, k, v = qkv()
    full, w_full = scaled_dot_product_attention(q, k, v, causal=causal)
    out, w = sliding_window_attention(q, k, v, causal=causal, window=31, need_weights=True)
    torch.testing.assert_close(out, full)
    torch.testing.assert_close(w, w_full)


def test_sliding_window_only_attends_inside_the_band() -> None:
    q, k, v = qkv()
    _, w = sliding_window_attention(q, k, v, window=3, need_weights=True)
    assert (w[..., ~sliding_window_mask(32, 3)] == 0).all()
    assert sliding_window_mask(32, 3).sum(1).max() == 7
    assert torch.equal(sliding_window_mask(6, 1, causal=True), causal_mask(6, 6) & sliding_window_mask(6, 1))


def test_strided_pattern() -> None:
    m = strided_mask(16, 4)
    assert not m.triu(1).any()  # causal
    assert m[15].nonzero().flatten().tolist() == [3, 7, 11, 12, 13, 14, 15]
    q, k, v = qkv(16)
    out, w = strided_attention(q, k, v, stride=4, need_weights=True)
    ref, _ = scaled_dot_product_attention(q, k, v, mask=m)
    torch.testing.assert_close(out, ref)
    # a stride as long as the sequence is plain causal attention
    torch.testing.assert_close(strided_attention(q, k, v, stride=16)[0], scaled_dot_product_attention(q, k, v, causal=True)[0])


@pytest.mark.parametrize("causal", [False, True])
def test_block_sparse_equals_masked_full_attention(causal: bool) -> None:
    q, k, v = qkv()
    pad = padding_mask([32, 20], 32)
    out, w = block_sparse_attention(q, k, v, mask=pad, causal=causal, block=8, need_weights=True)
    ref, ref_w = scaled_dot_product_attention(q, k, v, mask=pad & block_mask(32, 8), causal=causal)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(w, ref_w)
    # one block spanning the sequence is full attention
    torch.testing.assert_close(block_sparse_attention(q, k, v, block=32, need_weights=False)[0],
                               scaled_dot_product_attention(q, k, v)[0])
    with pytest.raises(ValueError, match="block=0"):
        block_sparse_attention(q, k, v, block=0)


@pytest.mark.parametrize("causal", [False, True])
def test_linear_attention_error_falls_with_more_features(causal: bool) -> None:
    q, k, v = qkv(64, 16, scale=0.5)
    exact, _ = scaled_dot_product_attention(q, k, v, causal=causal)
    errors = []
    for m in (8, 64, 512):
        per_seed = [
            (linear_attention(q, k, v, causal=causal, n_features=m, generator=torch.Generator().manual_seed(s))[0] - exact)
            .abs().mean().item()
            for s in range(4)
        ]
        errors.append(sum(per_seed) / len(per_seed))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.02


def test_linear_attention_weights_padding_and_fixed_features() -> None:
    q, k, v = qkv(16, 8)
    w_feat = random_features(32, 8, generator=torch.Generator().manual_seed(0))
    out, w = linear_attention(q, k, v, features=w_feat, need_weights=True, mask=padding_mask([16, 10], 16))
    torch.testing.assert_close(w @ v, out, atol=1e-5, rtol=1e-4)
    assert (w[1, :, :, 10:] == 0).all()
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 2, 16))
    out2, none = linear_attention(q, k, v, features=w_feat, mask=padding_mask([16, 10], 16))
    assert none is None and torch.equal(out, out2)
    assert (w_feat[:8] @ w_feat[:8].T).triu(1).abs().max() < 1e-4  # orthogonal block


def test_linear_attention_causal_decode_step_alignment() -> None:
    q, k, v = qkv(12, 8)
    feats = random_features(64, 8, generator=torch.Generator().manual_seed(0))
    full, _ = linear_attention(q, k, v, causal=True, features=feats)
    last, _ = linear_attention(q[..., -3:, :], k, v, causal=True, features=feats)
    torch.testing.assert_close(last, full[..., -3:, :], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("window", [0, 3, 40])
def test_banded_sliding_window_equals_masked_dense(causal: bool, window: int) -> None:
    q, k, v = qkv()
    pad = padding_mask([32, 25], 32)
    dense, _ = sliding_window_attention(q, k, v, mask=pad, causal=causal, window=window, need_weights=True)
    banded, none = sliding_window_attention(q, k, v, mask=pad, causal=causal, window=window, need_weights=False)
    assert none is None
    torch.testing.assert_close(banded, dense, atol=1e-5, rtol=1e-5)


# --------------------------------------------------------------------------- FAVOR+ statistics


@pytest.mark.parametrize("orthogonal", [True, False])
@pytest.mark.parametrize("dim", [4, 16])
def test_random_features_give_an_unbiased_softmax_kernel_estimate(orthogonal: bool, dim: int) -> None:
    """E[exp(w.x - |x|^2/2)] = 1 for w ~ N(0, I): check the sample mean within 4 standard errors."""
    w = random_features(40_000, dim, orthogonal, torch.Generator().manual_seed(0), dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    directions = [torch.eye(dim, dtype=torch.float64)[0], -torch.eye(dim, dtype=torch.float64)[0],
                  torch.randn(dim, generator=g, dtype=torch.float64)]
    for direction in directions:
        for norm in (0.5, 1.0):
            x = direction / direction.norm() * norm
            est = torch.exp(w @ x - x @ x / 2)
            stderr = est.std().item() / len(est) ** 0.5
            assert abs(est.mean().item() - 1.0) < 4 * stderr + 1e-3, (direction, norm, est.mean().item())


def test_orthogonal_blocks_are_uniformly_oriented_and_gaussian_sized() -> None:
    dim = 8
    w = random_features(8 * 2000, dim, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    blocks = w.reshape(-1, dim, dim)
    unit = blocks / blocks.norm(dim=-1, keepdim=True)
    eye = torch.eye(dim, dtype=torch.float64).expand_as(unit)
    torch.testing.assert_close(unit @ unit.transpose(-2, -1), eye, atol=1e-10, rtol=0)  # orthogonal rows
    # without the sign correction the first row of every block had a negative first coordinate
    negative = (blocks[:, 0, 0] < 0).double().mean().item()
    assert 0.45 < negative < 0.55, negative
    # each coordinate of each row is N(0, 1): mean 0, variance 1; norms^2 are chi^2(dim): mean dim
    assert abs(w.mean().item()) < 0.02 and abs(w.var().item() - 1) < 0.03
    assert abs((w * w).sum(-1).mean().item() - dim) < 0.15


def test_linear_attention_error_falls_like_one_over_sqrt_m() -> None:
    """Fixed seeds; the log-log slope of the RMS error against m is about -1/2 and keeps falling."""
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 2, 64, 16, generator=g, dtype=torch.float64) * 0.5 for _ in range(3))
    exact, _ = scaled_dot_product_attention(q, k, v)
    ms = [16, 64, 256, 1024, 4096]
    errors = []
    for m in ms:
        per_seed = [
            (linear_attention(q, k, v, n_features=m, generator=torch.Generator().manual_seed(s))[0] - exact)
            .pow(2).mean().sqrt().item()
            for s in range(6)
        ]
        errors.append(sum(per_seed) / len(per_seed))
    slope = (math.log(errors[-1]) - math.log(errors[0])) / (math.log(ms[-1]) - math.log(ms[0]))
    assert -0.7 < slope < -0.35, (slope, errors)
    for small, large in zip(errors, errors[1:]):
        assert 1.4 < small / large < 2.8, errors  # each 4x more features: about 2x less error


def test_linear_attention_key_masks_every_form_and_fully_masked_batches() -> None:
    q, k, v = qkv(16, 8)
    feats = random_features(64, 8, generator=torch.Generator().manual_seed(0))
    keep = padding_mask([16, 0], 16)  # the second sequence has no real key at all
    ref, w = linear_attention(q, k, v, features=feats, mask=keep, need_weights=True)
    assert w is not None and (w[1] == 0).all() and (ref[1] == 0).all() and not ref.isnan().any()
    for mask in (keep.long(), keep.to(torch.uint8), torch.zeros(keep.shape).masked_fill(~keep, float("-inf"))):
        torch.testing.assert_close(linear_attention(q, k, v, features=feats, mask=mask)[0], ref)
    # a float bias b_j weighs key j by exp(b_j), as softmax does: bias log(2) on key 0 == key 0 twice
    bias = torch.zeros(16)
    bias[0] = math.log(2.0)
    doubled_k, doubled_v = torch.cat([k[..., :1, :], k], dim=-2), torch.cat([v[..., :1, :], v], dim=-2)
    torch.testing.assert_close(linear_attention(q, k, v, features=feats, mask=bias)[0],
                               linear_attention(q, doubled_k, doubled_v, features=feats)[0], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("L", [1, 2, 7, 16])
@pytest.mark.parametrize("causal", [False, True])
def test_efficient_limits_reduce_to_their_dense_patterns(L: int, causal: bool) -> None:
    """window 0 / >= L, block 1 / > L, stride 1 / >= L: each equals masked dense attention."""
    q, k, v = qkv(L, 8)
    cases = []
    for window in (0, 1, L - 1, L, 10 * L):
        cases.append((lambda nw, w=window: sliding_window_attention(q, k, v, causal=causal, window=w, need_weights=nw),
                      sliding_window_mask(L, window)))
    for block in (1, max(1, L - 1), L, L + 3):
        cases.append((lambda nw, b=block: block_sparse_attention(q, k, v, causal=causal, block=b, need_weights=nw),
                      block_mask(L, block)))
    for stride in (1, 2, L, 2 * L):
        cases.append((lambda nw, s=stride: strided_attention(q, k, v, causal=causal, stride=s, need_weights=nw),
                      strided_mask(L, stride, causal=causal)))
    for run, pattern in cases:
        ref, ref_w = scaled_dot_product_attention(q, k, v, mask=pattern, causal=causal)
        fast, none = run(False)
        dense, w = run(True)
        assert none is None
        torch.testing.assert_close(fast, ref, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(dense, ref, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(w, ref_w)
