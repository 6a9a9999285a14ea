"""float64 parity with PyTorch's own modules: attention, layers (outputs and gradients), whole
stacks, KV-cache decoding over 40 steps, and parameter counts of models built from nn.Transformer.

float64 leaves only rounding differences, so the tolerances are tight (1e-10).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from test_core_helpers import copy_decoder_layer, copy_encoder_layer, copy_mha, randomize_norms
from transformer_core.attention import causal_mask, fused_attention, scaled_dot_product_attention
from transformer_core.layers import DecoderLayer, EncoderLayer
from transformer_core.models import GPT, EncoderDecoderTransformer, TransformerConfig
from transformer_core.multihead import MultiHeadAttention

DT = torch.float64
TOL = dict(atol=1e-10, rtol=1e-10)


def close(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a, b, **TOL)  # type: ignore[arg-type]


@pytest.mark.parametrize("lq,lk,dk,dv", [(1, 1, 1, 1), (7, 7, 5, 3), (5, 11, 8, 8), (13, 3, 6, 9)])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("scale", [None, 0.37])
def test_attention_functions_match_sdpa_in_float64(lq: int, lk: int, dk: int, dv: int, causal: bool, scale: float | None) -> None:
    g = torch.Generator().manual_seed(lq * 100 + lk)
    q = torch.randn(3, 2, lq, dk, generator=g, dtype=DT, requires_grad=True)
    k = torch.randn(3, 2, lk, dk, generator=g, dtype=DT, requires_grad=True)
    v = torch.randn(3, 2, lk, dv, generator=g, dtype=DT, requires_grad=True)
    allowed = causal_mask(lq, lk) if causal else None
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, scale=scale)
    if allowed is not None:  # lower-right alignment can leave early queries without keys: zeros
        ref = torch.where(allowed.any(-1, keepdim=True), ref, torch.zeros((), dtype=DT))
    grad = torch.randn(ref.shape, generator=g, dtype=DT)
    ref_grads = torch.autograd.grad(ref, (q, k, v), grad)
    for out in (scaled_dot_product_attention(q, k, v, causal=causal, scale=scale)[0],
                fused_attention(q, k, v, causal=causal, scale=scale)):
        close(out, ref)
        for mine, theirs in zip(torch.autograd.grad(out, (q, k, v), grad), ref_grads):
            close(mine, theirs)


def mha_pair(d: int, heads: int, seed: int) -> tuple[MultiHeadAttention, nn.MultiheadAttention]:
    torch.manual_seed(seed)
    ref = nn.MultiheadAttention(d, heads, batch_first=True, dtype=DT)
    nn.init.normal_(ref.in_proj_bias)
    nn.init.normal_(ref.out_proj.bias)
    ours = MultiHeadAttention(d, heads).to(DT)
    copy_mha(ours, ref)
    return ours, ref


@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("case", ["self", "self-causal", "cross-padded", "odd"])
def test_multihead_attention_matches_nn_with_gradients(need_weights: bool, case: str) -> None:
    d, heads = (15, 5) if case == "odd" else (16, 4)
    ours, ref = mha_pair(d, heads, seed=3)
    g = torch.Generator().manual_seed(4)
    lq, lk = (7, 7) if case.startswith("self") else (5, 9) if case == "cross-padded" else (3, 11)
    x = torch.randn(3, lq, d, generator=g, dtype=DT)
    mem = x if case.startswith("self") else torch.randn(3, lk, d, generator=g, dtype=DT)
    ref_kw: dict = {}
    our_kw: dict = {}
    if case == "self-causal":
        ref_kw["attn_mask"] = ~causal_mask(lq, lq)
        our_kw["causal"] = True
    if case == "cross-padded":
        keep = torch.ones(3, lk, dtype=torch.bool)
        keep[1, 6:] = False
        keep[2, 2:] = False
        ref_kw["key_padding_mask"] = ~keep
        our_kw["mask"] = keep  # [B, Lk] with B != Lq: a padding mask
    x_ref, x_ours = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    mem_ref = x_ref if case.startswith("self") else mem.clone().requires_grad_(True)
    mem_ours = x_ours if case.startswith("self") else mem.clone().requires_grad_(True)
    ref_out, ref_w = ref(x_ref, mem_ref, mem_ref, need_weights=True, average_attn_weights=False, **ref_kw)
    out, w = ours(x_ours, mem_ours, mem_ours, need_weights=need_weights, **our_kw)
    close(out, ref_out)
    if need_weights:
        assert w is not None
        close(w, ref_w)
    grad = torch.randn(out.shape, generator=g, dtype=DT)
    ref_out.backward(grad)
    out.backward(grad)
    assert x_ours.grad is not None and x_ref.grad is not None
    close(x_ours.grad, x_ref.grad)
    if not case.startswith("self"):
        assert mem_ours.grad is not None and mem_ref.grad is not None
        close(mem_ours.grad, mem_ref.grad)
    assert ref.in_proj_weight.grad is not None and ref.in_proj_bias.grad is not None
    for lin, wg, bg in zip((ours.q_proj, ours.k_proj, ours.v_proj), ref.in_proj_weight.grad.chunk(3),
                           ref.in_proj_bias.grad.chunk(3)):
        close(lin.weight.grad, wg)  # type: ignore[arg-type]
        close(lin.bias.grad, bg)  # type: ignore[arg-type]
    close(ours.out_proj.weight.grad, ref.out_proj.weight.grad)  # type: ignore[arg-type]


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_matches_nn_in_float64_with_gradients(norm_first: bool, activation: str) -> None:
    torch.manual_seed(5)
    ref = nn.TransformerEncoderLayer(12, 3, 20, dropout=0.0, activation=activation, batch_first=True,
                                     norm_first=norm_first, dtype=DT)
    randomize_norms(ref)
    ours = EncoderLayer(12, 3, 20, activation=activation, norm_first=norm_first).to(DT)
    copy_encoder_layer(ours, ref)
    x = torch.randn(3, 9, 12, dtype=DT)
    keep = torch.ones(3, 9, dtype=torch.bool)
    keep[1, 5:] = False
    for need_weights in (False, True):
        x_ref, x_ours = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        ref_out = ref(x_ref, src_key_padding_mask=~keep)
        out = ours(x_ours, mask=keep, need_weights=need_weights)
        close(out[keep], ref_out[keep])  # nn's fast path may zero padded rows; compare real tokens
        (ref_out[keep] ** 2).sum().backward()
        (out[keep] ** 2).sum().backward()
        close(x_ours.grad, x_ref.grad)  # type: ignore[arg-type]
        close(ours.ff.linear1.weight.grad, ref.linear1.weight.grad)  # type: ignore[arg-type]
        ours.zero_grad()
        ref.zero_grad()


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_matches_nn_in_float64_with_gradients(norm_first: bool) -> None:
    torch.manual_seed(6)
    ref = nn.TransformerDecoderLayer(12, 3, 20, dropout=0.0, batch_first=True, norm_first=norm_first, dtype=DT)
    randomize_norms(ref)
    ours = DecoderLayer(12, 3, 20, norm_first=norm_first).to(DT)
    copy_decoder_layer(ours, ref)
    x, mem = torch.randn(2, 7, 12, dtype=DT), torch.randn(2, 5, 12, dtype=DT)
    mem_keep = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    for need_weights in (False, True):
        x_ref, x_ours = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        m_ref, m_ours = mem.clone().requires_grad_(True), mem.clone().requires_grad_(True)
        ref_out = ref(x_ref, m_ref, tgt_mask=nn.Transformer.generate_square_subsequent_mask(7, dtype=DT),
                      memory_key_padding_mask=~mem_keep)
        out = ours(x_ours, m_ours, memory_mask=mem_keep, causal=True, need_weights=need_weights)
        close(out, ref_out)
        ref_out.pow(2).sum().backward()
        out.pow(2).sum().backward()
        close(x_ours.grad, x_ref.grad)  # type: ignore[arg-type]
        close(m_ours.grad, m_ref.grad)  # type: ignore[arg-type]


def _stack_from_nn(norm_first: bool) -> tuple[EncoderDecoderTransformer, nn.Transformer]:
    cfg = TransformerConfig(vocab_size=23, d_model=12, n_heads=3, n_layers=2, n_decoder_layers=3, d_ff=20,
                            max_len=32, norm_first=norm_first, arch="encoder-decoder", final_norm=True)
    torch.manual_seed(7)
    ours = EncoderDecoderTransformer(cfg).to(DT).eval()
    ref = nn.Transformer(12, 3, 2, 3, 20, dropout=0.0, batch_first=True, norm_first=norm_first, dtype=DT).eval()
    randomize_norms(ref)
    for mine, theirs in zip(ours.encoder, ref.encoder.layers):
        copy_encoder_layer(mine, theirs)  # type: ignore[arg-type]
    for mine, theirs in zip(ours.decoder, ref.decoder.layers):
        copy_decoder_layer(mine, theirs)  # type: ignore[arg-type]
    ours.encoder_norm.load_state_dict(ref.encoder.norm.state_dict())  # type: ignore[union-attr]
    ours.decoder_norm.load_state_dict(ref.decoder.norm.state_dict())  # type: ignore[union-attr]
    return ours, ref


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_decoder_stack_matches_nn_transformer(norm_first: bool) -> None:
    ours, ref = _stack_from_nn(norm_first)
    src = torch.randint(0, 23, (2, 9), generator=torch.Generator().manual_seed(0))
    tgt = torch.randint(0, 23, (2, 6), generator=torch.Generator().manual_seed(1))
    keep = torch.tensor([[True] * 9, [True] * 6 + [False] * 3])
    with torch.no_grad():
        memory = ours.encode(src, keep)
        src_x = ours.pos(ours.src_embed(src) * 12**0.5)
        tgt_x = ours.pos(ours.tgt_embed(tgt) * 12**0.5)
        ref_memory = ref.encoder(src_x, src_key_padding_mask=~keep)
        close(memory[keep], ref_memory[keep])
        hidden = ref.decoder(tgt_x, ref_memory, tgt_mask=ref.generate_square_subsequent_mask(6, dtype=DT),
                             memory_key_padding_mask=~keep)
        close(ours(src, tgt, keep), ours.head(hidden))


@pytest.mark.parametrize("norm_first", [False, True])
def test_parameter_counts_match_models_built_from_nn_transformer(norm_first: bool) -> None:
    ours, ref = _stack_from_nn(norm_first)
    cfg = ours.cfg
    embeddings = cfg.vocab_size * cfg.d_model  # one tied matrix: source, target, output
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters()) + embeddings
    untied = EncoderDecoderTransformer(TransformerConfig(**{**cfg.__dict__, "tie_embeddings": False}))
    assert sum(p.numel() for p in untied.parameters()) == sum(p.numel() for p in ref.parameters()) + 3 * embeddings
    # a GPT block stack is nn.TransformerEncoderLayer's parameter layout (causal mask aside)
    gpt_cfg = TransformerConfig(vocab_size=23, d_model=12, n_heads=3, n_layers=4, d_ff=20, max_len=32,
                                norm_first=norm_first, final_norm=True)
    stack = nn.TransformerEncoder(nn.TransformerEncoderLayer(12, 3, 20, batch_first=True, norm_first=norm_first),
                                  4, norm=nn.LayerNorm(12), enable_nested_tensor=False)
    gpt = GPT(gpt_cfg)
    assert sum(p.numel() for p in gpt.parameters()) == sum(p.numel() for p in stack.parameters()) + embeddings


@pytest.mark.parametrize("positional", ["sinusoidal", "learned"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_forty_kv_cache_steps_equal_the_full_forward(positional: str, norm_first: bool) -> None:
    cfg = TransformerConfig(vocab_size=31, d_model=16, n_heads=4, n_layers=3, d_ff=32, max_len=48,
                            positional=positional, norm_first=norm_first)
    torch.manual_seed(8)
    model = GPT(cfg).to(DT).eval()
    ids = torch.randint(0, 31, (3, 45), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        full = model(ids)
        cache = model.make_cache()
        steps = [model(ids[:, :5], cache=cache)]  # a 5-token prompt, then 40 single-token steps
        steps += [model(ids[:, t : t + 1], cache=cache) for t in range(5, 45)]
    assert len(cache[0]) == 45
    close(torch.cat(steps, dim=1), full)


@pytest.mark.parametrize("norm_first", [False, True])
def test_layers_without_bias_and_with_other_eps_match_nn(norm_first: bool) -> None:
    torch.manual_seed(9)
    ref = nn.TransformerEncoderLayer(12, 4, 20, dropout=0.0, batch_first=True, norm_first=norm_first, bias=False,
                                     layer_norm_eps=1e-3, dtype=DT)
    ours = EncoderLayer(12, 4, 20, norm_first=norm_first, bias=False, eps=1e-3).to(DT)
    with torch.no_grad():
        for lin, w in zip((ours.self_attn.q_proj, ours.self_attn.k_proj, ours.self_attn.v_proj),
                          ref.self_attn.in_proj_weight.chunk(3)):
            lin.weight.copy_(w)
        ours.self_attn.out_proj.weight.copy_(ref.self_attn.out_proj.weight)
        ours.ff.linear1.weight.copy_(ref.linear1.weight)
        ours.ff.linear2.weight.copy_(ref.linear2.weight)
        ours.norm1.weight.copy_(1 + 0.1 * torch.randn(12, dtype=DT))
        ours.norm2.weight.copy_(1 + 0.1 * torch.randn(12, dtype=DT))
        ref.norm1.weight.copy_(ours.norm1.weight)
        ref.norm2.weight.copy_(ours.norm2.weight)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    x = torch.randn(2, 5, 12, dtype=DT) * 0.01  # small inputs: eps matters
    close(ours(x, causal=True), ref(x, src_mask=nn.Transformer.generate_square_subsequent_mask(5, dtype=DT), is_causal=True))
