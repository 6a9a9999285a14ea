"""Every public function rejects malformed inputs with a ValueError naming the argument and shapes.

Each case is a call that must raise, with words the message must contain. The attention
functions are checked on both paths (explicit and fused / need_weights True and False).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from transformer_core.attention import causal_mask, fused_attention, padding_mask, scaled_dot_product_attention
from transformer_core.efficient import (
    block_sparse_attention,
    linear_attention,
    random_features,
    sliding_window_attention,
    strided_attention,
)
from transformer_core.generate import generate, sample_next
from transformer_core.layers import DecoderLayer, EncoderLayer
from transformer_core.models import GPT, BertModel, EncoderDecoderTransformer, TransformerConfig
from transformer_core.multihead import KVCache, MultiHeadAttention
from transformer_core.positional import (
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    alibi_slopes,
)

B, H, L, D = 2, 2, 6, 4
g = torch.Generator().manual_seed(0)
Q = torch.randn(B, H, L, D, generator=g)
K = torch.randn(B, H, L, D, generator=g)
V = torch.randn(B, H, L, D, generator=g)


ATTENTION: dict[str, Callable[..., object]] = {
    "explicit": lambda q, k, v, mask=None: scaled_dot_product_attention(q, k, v, mask=mask),
    "fused": lambda q, k, v, mask=None: fused_attention(q, k, v, mask=mask),
    "explicit-causal": lambda q, k, v, mask=None: scaled_dot_product_attention(q, k, v, mask=mask, causal=True),
    "fused-causal": lambda q, k, v, mask=None: fused_attention(q, k, v, mask=mask, causal=True),
    "sliding-banded": lambda q, k, v, mask=None: sliding_window_attention(q, k, v, mask=mask, window=2),
    "sliding-dense": lambda q, k, v, mask=None: sliding_window_attention(q, k, v, mask=mask, window=2, need_weights=True),
    "strided-fused": lambda q, k, v, mask=None: strided_attention(q, k, v, mask=mask, stride=2),
    "strided-explicit": lambda q, k, v, mask=None: strided_attention(q, k, v, mask=mask, stride=2, need_weights=True),
    "block-fused": lambda q, k, v, mask=None: block_sparse_attention(q, k, v, mask=mask, block=4),
    "block-explicit": lambda q, k, v, mask=None: block_sparse_attention(q, k, v, mask=mask, block=4, need_weights=True),
    "linear": lambda q, k, v, mask=None: linear_attention(q, k, v, mask=mask, n_features=8),
}

BAD_QKV = {
    "value length differs from key length": ((Q, K, V[..., :-1, :]), ["k", "v", "Lk", str(tuple(V[..., :-1, :].shape))]),
    "key length differs from value length": ((Q, K[..., :-2, :], V), ["k", "v", "Lk"]),
    "q and k widths differ": ((Q, K[..., :3], V), ["q", "k", "dk"]),
    "batch differs": ((Q, K[:1], V[:1]), ["batch", str(tuple(Q.shape))]),
    "heads differ": ((Q, K[:, :1], V[:, :1]), ["batch"]),
    "ranks differ": ((Q, K[0], V[0]), ["dimensions"]),
    "integer inputs": ((Q.long(), K.long(), V.long()), ["dtype"]),
    "mixed dtypes": ((Q, K.double(), V), ["dtype"]),
}


@pytest.mark.parametrize("path", sorted(ATTENTION))
@pytest.mark.parametrize("case", sorted(BAD_QKV))
def test_attention_functions_reject_malformed_qkv(path: str, case: str) -> None:
    (q, k, v), words = BAD_QKV[case]
    with pytest.raises(ValueError) as err:
        ATTENTION[path](q, k, v)
    for word in words:
        assert word in str(err.value), (path, case, str(err.value))


BAD_MASKS = {
    "wrong key length": torch.ones(L, L + 1, dtype=torch.bool),
    "wrong batch": torch.ones(B + 1, 1, 1, L, dtype=torch.bool),
    "too many dims": torch.ones(1, B, H, L, L, dtype=torch.bool),
    "integer values other than 0/1": torch.full((B, 1, 1, L), 2),
    "complex": torch.ones(L, L, dtype=torch.complex64),
}


@pytest.mark.parametrize("path", sorted(ATTENTION))
@pytest.mark.parametrize("case", sorted(BAD_MASKS))
def test_attention_functions_reject_malformed_masks(path: str, case: str) -> None:
    mask = BAD_MASKS[case]
    with pytest.raises(ValueError, match="mask"):
        ATTENTION[path](Q, K, V, mask=mask)


def test_shape_mismatch_messages_name_the_shapes() -> None:
    with pytest.raises(ValueError, match=r"mask of shape \(6, 7\) does not broadcast to \[\*batch, Lq, Lk\] = \[2, 2, 6, 6\]"):
        fused_attention(Q, K, V, mask=torch.ones(L, L + 1, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"k \(2, 2, 6, 4\), v \(2, 2, 5, 4\)"):
        fused_attention(Q, K, V[..., :5, :])


def test_fused_path_never_reads_past_the_key_buffer() -> None:
    """PyTorch's CPU kernel accepts Lk(v) > Lk(k) silently; ours refuses on every entry point."""
    mha = MultiHeadAttention(8, 2)
    x = torch.randn(2, 3, 8)
    for need_weights in (False, True):
        with pytest.raises(ValueError, match="key .* and value .* need the same"):
            mha(x, torch.randn(2, 4, 8), torch.randn(2, 9, 8), need_weights=need_weights)


def test_dropout_probability_is_checked() -> None:
    for fn in (scaled_dot_product_attention, fused_attention):
        with pytest.raises(ValueError, match="dropout_p"):
            fn(Q, K, V, dropout_p=1.5)
    with pytest.raises(ValueError, match="dropout_p"):
        linear_attention(Q, K, V, dropout_p=0.1)


def test_efficient_functions_check_their_own_arguments() -> None:
    with pytest.raises(ValueError, match="Lq == Lk"):
        sliding_window_attention(Q[..., :3, :], K, V)
    with pytest.raises(ValueError, match="Lq == Lk"):
        block_sparse_attention(Q[..., :3, :], K, V)
    with pytest.raises(ValueError, match="Lq == Lk"):
        strided_attention(Q[..., :3, :], K, V)
    with pytest.raises(ValueError, match="window"):
        sliding_window_attention(Q, K, V, window=-1)
    with pytest.raises(ValueError, match="stride=0"):
        strided_attention(Q, K, V, stride=0)
    with pytest.raises(ValueError, match="features"):
        linear_attention(Q, K, V, features=torch.randn(8, D + 1))
    with pytest.raises(ValueError, match="varies per query"):
        linear_attention(Q, K, V, mask=causal_mask(L, L))
    with pytest.raises(ValueError, match="Lq <= Lk"):
        linear_attention(Q, K[..., :3, :], V[..., :3, :], causal=True)
    with pytest.raises(ValueError, match="n_features"):
        random_features(0, 4)


@pytest.mark.parametrize("need_weights", [False, True])
def test_multihead_attention_rejects_malformed_inputs(need_weights: bool) -> None:
    mha = MultiHeadAttention(8, 2)
    x = torch.randn(2, 3, 8)
    nw = need_weights
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: mha(torch.randn(2, 3, 7), need_weights=nw), r"query must be \[B, L, d_model=8\], got \(2, 3, 7\)"),
        (lambda: mha(torch.randn(3, 8), need_weights=nw), r"query must be \[B, L, d_model=8\]"),
        (lambda: mha(x, torch.randn(2, 4, 6), need_weights=nw), "key"),
        (lambda: mha(x, torch.randn(1, 4, 8), need_weights=nw), r"need the same batch B"),  # nn raises too
        (lambda: mha(x, mask=torch.ones(2, 2, 3, 4, dtype=torch.bool), need_weights=nw), r"mask of shape \(2, 2, 3, 4\)"),
        (lambda: mha(x, mask=torch.ones(5, dtype=torch.bool), need_weights=nw), r"mask of shape \(5,\)"),
        (lambda: mha(x, mask=torch.ones(1, 1, 1, 3, 3, dtype=torch.bool), need_weights=nw), "1-D to 4-D"),
        (lambda: mha(x, mask=torch.ones(5, 3, 3, dtype=torch.bool), need_weights=nw), r"mask of shape \(5, 3, 3\)"),
        (lambda: mha(x, mask=torch.full((2, 3), 3), need_weights=nw), "other than 0 and 1"),
    ]
    for call, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            call()
    with pytest.raises(ValueError, match="n_heads"):
        MultiHeadAttention(8, 3)
    with pytest.raises(ValueError, match="dropout"):
        MultiHeadAttention(8, 2, dropout=2.0)


def test_memory_batch_of_one_is_not_stretched() -> None:
    torch.manual_seed(0)
    layer = DecoderLayer(8, 2, 16)
    with pytest.raises(ValueError, match="same batch"):
        layer(torch.randn(3, 4, 8), torch.randn(1, 5, 8))
    ref = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    with pytest.raises(Exception):
        ref(torch.randn(3, 4, 8), torch.randn(1, 5, 8), torch.randn(1, 5, 8))


def test_layers_reject_malformed_inputs() -> None:
    enc, dec, block = EncoderLayer(8, 2, 16), DecoderLayer(8, 2, 16), DecoderLayer(8, 2, 16, cross_attention=False)
    with pytest.raises(ValueError, match=r"x must be \[B, L, d_model=8\], got \(2, 3, 6\)"):
        enc(torch.randn(2, 3, 6))
    with pytest.raises(ValueError, match="memory .* is required"):
        dec(torch.randn(2, 3, 8))
    with pytest.raises(ValueError, match=r"memory must be \[B, L, d_model=8\]"):
        dec(torch.randn(2, 3, 8), torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match="no cross-attention"):
        block(torch.randn(2, 3, 8), torch.randn(2, 3, 8))
    with pytest.raises(ValueError, match="memory_mask"):
        dec(torch.randn(2, 3, 8), torch.randn(2, 5, 8), memory_mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="self_mask"):
        dec(torch.randn(2, 3, 8), torch.randn(2, 5, 8), self_mask=torch.ones(2, 1, 1, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="EncoderLayer: mask of shape"):
        enc(torch.randn(2, 3, 8), mask=torch.ones(2, 1, 1, 4, dtype=torch.bool))


def test_kv_cache_rejects_a_different_batch() -> None:
    cache = KVCache()
    cache.append(torch.randn(2, 2, 3, 4), torch.randn(2, 2, 3, 4))
    with pytest.raises(ValueError, match="do not match the cache"):
        cache.append(torch.randn(3, 2, 1, 4), torch.randn(3, 2, 1, 4))
    with pytest.raises(ValueError, match="alike"):
        cache.append(torch.randn(2, 2, 1, 4), torch.randn(2, 2, 2, 4))


def _cfg(**kw: object) -> TransformerConfig:
    base: dict = dict(vocab_size=11, d_model=8, n_heads=2, n_layers=1, d_ff=16, max_len=10)
    return TransformerConfig(**{**base, **kw})


def test_models_reject_malformed_inputs() -> None:
    gpt = GPT(_cfg())
    with pytest.raises(ValueError, match=r"ids must be integer token ids \[B, L\], got \(5,\)"):
        gpt(torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="outside \\[0, vocab_size=11\\)"):
        gpt(torch.full((1, 3), 11))
    with pytest.raises(ValueError, match="cache has 2 entries for 1 layers"):
        gpt(torch.zeros(1, 3, dtype=torch.long), cache=[KVCache(), KVCache()])
    bert = BertModel(_cfg(arch="encoder", type_vocab_size=2))
    ids = torch.zeros(2, 4, dtype=torch.long)
    with pytest.raises(ValueError, match=r"attention_mask of shape \(2, 5\) must match the ids \(2, 4\)"):
        bert(ids, attention_mask=torch.ones(2, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="bool or 0/1 integers"):
        bert(ids, attention_mask=torch.ones(2, 4))
    with pytest.raises(ValueError, match="token_type_ids"):
        bert(ids, token_type_ids=torch.full((2, 4), 2))
    ed = EncoderDecoderTransformer(_cfg(arch="encoder-decoder"))
    with pytest.raises(ValueError, match="src .* and tgt .* need the same batch"):
        ed(torch.zeros(2, 4, dtype=torch.long), torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="src_mask"):
        ed(ids, ids, src_mask=torch.ones(2, 3, dtype=torch.bool))


def test_generation_arguments_are_checked() -> None:
    gpt = GPT(_cfg())
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate(gpt, torch.zeros(1, 2, dtype=torch.long), -1)
    with pytest.raises(ValueError, match="exceed max_len=10"):
        generate(gpt, torch.zeros(1, 2, dtype=torch.long), 9)
    with pytest.raises(ValueError, match=r"logits must be \[B, V\]"):
        sample_next(torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match="top_k"):
        sample_next(torch.randn(2, 4), top_k=0)


def test_positional_modules_reject_malformed_inputs() -> None:
    with pytest.raises(ValueError, match=r"d_model=8"):
        SinusoidalPositionalEncoding(8, 10)(torch.zeros(1, 3, 6))
    with pytest.raises(ValueError, match=r"d_model=8"):
        LearnedPositionalEmbedding(10, 8)(torch.zeros(1, 3, 6))
    with pytest.raises(ValueError, match="offset=-1"):
        LearnedPositionalEmbedding(10, 8)(torch.zeros(1, 3, 8), offset=-1)
    rope = RotaryEmbedding(8)
    with pytest.raises(ValueError, match="head_dim=8"):
        rope(torch.zeros(1, 3, 6))
    with pytest.raises(ValueError, match=r"positions must be \[L=3\]"):
        rope(torch.zeros(1, 3, 8), torch.arange(4))
    with pytest.raises(ValueError, match="even"):
        RotaryEmbedding(7)
    with pytest.raises(ValueError, match="n_heads"):
        alibi_slopes(0)
    with pytest.raises(ValueError, match="lengths"):
        padding_mask([3, 7], 5)


def test_config_and_data_helpers_reject_bad_sizes() -> None:
    from transformer_core.data import copy_task_batch, lm_batch

    with pytest.raises(ValueError, match="not divisible by n_heads=3"):
        _cfg(n_heads=3)
    with pytest.raises(ValueError, match="d_model"):
        _cfg(d_model=0)
    with pytest.raises(ValueError, match="dropout"):
        _cfg(dropout=1.5)
    with pytest.raises(ValueError, match="vocab=2"):
        copy_task_batch(2, 3, 2)
    with pytest.raises(ValueError, match="block=8"):
        lm_batch(torch.arange(5), 2, 8)


# -- meta tensors -----------------------------------------------------------------------------
# Models built on the meta device (parameter counting, shape tracing in snippets) carry no values:
# validation must check shapes only and never read a value (``.item()``/``.any()`` raise on meta).


@pytest.mark.parametrize("kind", ["gpt", "bert", "enc_dec"])
def test_models_run_forward_on_the_meta_device(kind: str) -> None:
    cfg = TransformerConfig(vocab_size=50, d_model=16, n_heads=2, n_layers=1, d_ff=32, max_len=12)
    ids = torch.zeros(2, 7, dtype=torch.long, device="meta")
    with torch.device("meta"):
        model = {"gpt": GPT, "bert": BertModel, "enc_dec": EncoderDecoderTransformer}[kind](cfg)
    out = model(ids, ids) if kind == "enc_dec" else model(ids)
    logits = out[0] if isinstance(out, tuple) else out
    assert logits.is_meta and logits.shape[:2] == (2, 7)


def test_attention_accepts_meta_integer_masks() -> None:
    q = torch.empty(1, 2, 3, 4, device="meta")
    mask = torch.ones(1, 1, 3, 3, dtype=torch.long, device="meta")
    out, _ = scaled_dot_product_attention(q, q, q, mask=mask)
    assert out.is_meta and out.shape == (1, 2, 3, 4)
