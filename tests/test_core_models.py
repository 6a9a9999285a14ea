"""The three model families: shapes, causality, tied embeddings, KV-cache equivalence."""

import pytest
import torch

from transformer_core.generate import generate
from transformer_core.models import GPT, BertModel, EncoderDecoderTransformer, TransformerConfig

V = 37


def cfg(**kw) -> TransformerConfig:
    base = dict(vocab_size=V, d_model=32, n_heads=4, n_layers=2, d_ff=64, max_len=128)
    return TransformerConfig(**{**base, **kw})


@pytest.mark.parametrize("positional", ["sinusoidal", "learned"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_gpt_kv_cache_logits_equal_recomputation(positional: str, norm_first: bool) -> None:
    torch.manual_seed(0)
    model = GPT(cfg(positional=positional, norm_first=norm_first)).eval()
    ids = torch.randint(0, V, (2, 20))
    with torch.no_grad():
        full = model(ids)
        cache = model.make_cache()
        steps = [model(ids[:, :7], cache=cache)] + [model(ids[:, t : t + 1], cache=cache) for t in range(7, 20)]
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", [dict(greedy=True), dict(temperature=0.8, top_k=5)])
def test_generation_with_and_without_cache_is_identical(mode: dict) -> None:
    torch.manual_seed(0)
    model = GPT(cfg(norm_first=True, positional="learned")).eval()
    prompt = torch.randint(0, V, (2, 4))
    with_cache = generate(model, prompt, 24, use_cache=True, generator=torch.Generator().manual_seed(3), **mode)
    without = generate(model, prompt, 24, use_cache=False, generator=torch.Generator().manual_seed(3), **mode)
    assert with_cache.shape == (2, 28)
    assert torch.equal(with_cache, without)
    assert torch.equal(with_cache[:, :4], prompt)
    assert torch.equal(model.generate(prompt, 24, generator=torch.Generator().manual_seed(3), **mode), with_cache)


def test_top_k_restricts_choices() -> None:
    from transformer_core.generate import sample_next

    logits = torch.tensor([[0.0, 5.0, 4.0, -1.0]]).repeat(200, 1)
    picks = sample_next(logits, temperature=1.0, top_k=2, generator=torch.Generator().manual_seed(0))
    assert set(picks.flatten().tolist()) == {1, 2}
    assert sample_next(logits[:1], greedy=True).item() == 1


def test_generate_refuses_to_run_past_max_len() -> None:
    model = GPT(cfg(max_len=10, positional="learned"))
    with pytest.raises(ValueError):
        generate(model, torch.zeros(1, 5, dtype=torch.long), 6)


def test_gpt_is_causal_and_tied() -> None:
    torch.manual_seed(0)
    model = GPT(cfg(norm_first=True)).eval()
    assert model.head.weight is model.tok_embed.weight
    ids = torch.randint(0, V, (1, 12))
    changed = ids.clone()
    changed[0, 8:] = (changed[0, 8:] + 1) % V
    torch.testing.assert_close(model(ids)[:, :8], model(changed)[:, :8])
    assert not torch.allclose(model(ids)[:, 8:], model(changed)[:, 8:])


def test_untied_gpt_has_separate_head() -> None:
    model = GPT(cfg(tie_embeddings=False))
    assert model.head.weight is not model.tok_embed.weight


def test_encoder_decoder_is_causal_in_target_and_sees_all_source() -> None:
    torch.manual_seed(0)
    model = EncoderDecoderTransformer(cfg(arch="encoder-decoder")).eval()
    src, tgt = torch.randint(0, V, (2, 9)), torch.randint(0, V, (2, 6))
    logits = model(src, tgt)
    assert logits.shape == (2, 6, V)
    changed_tgt = tgt.clone()
    changed_tgt[:, 4:] = (changed_tgt[:, 4:] + 1) % V
    torch.testing.assert_close(model(src, changed_tgt)[:, :4], logits[:, :4])
    changed_src = src.clone()
    changed_src[:, -1] = (changed_src[:, -1] + 1) % V
    assert not torch.allclose(model(changed_src, tgt)[:, 0], logits[:, 0])
    torch.testing.assert_close(model.decode(tgt, model.encode(src)), logits)


def test_encoder_decoder_src_padding_is_ignored() -> None:
    torch.manual_seed(0)
    model = EncoderDecoderTransformer(cfg(arch="encoder-decoder", n_decoder_layers=1)).eval()
    assert len(model.decoder) == 1
    src, tgt = torch.randint(1, V, (1, 5)), torch.randint(1, V, (1, 4))
    padded = torch.cat([src, torch.zeros(1, 3, dtype=torch.long)], 1)
    mask = torch.tensor([[True] * 5 + [False] * 3])[:, None, None, :]
    torch.testing.assert_close(model(padded, tgt, src_mask=mask), model(src, tgt), atol=1e-5, rtol=1e-5)


def test_bert_is_bidirectional_and_ignores_padding() -> None:
    torch.manual_seed(0)
    model = BertModel(cfg(type_vocab_size=2, pooler=True, embed_norm=True, activation="gelu", positional="learned")).eval()
    ids = torch.randint(1, V, (1, 6))
    logits = model(ids)
    assert logits.shape == (1, 6, V)
    changed = ids.clone()
    changed[0, -1] = (changed[0, -1] + 1) % V
    assert not torch.allclose(model(changed)[:, 0], logits[:, 0])  # position 0 sees the future
    padded = torch.cat([ids, torch.zeros(1, 2, dtype=torch.long)], 1)
    attn = torch.tensor([[1] * 6 + [0] * 2])
    torch.testing.assert_close(model(padded, attention_mask=attn)[:, :6], logits, atol=1e-5, rtol=1e-5)
    assert model.pool(model.hidden(ids)).shape == (1, 32)
    assert model.head.weight is model.tok_embed.weight


def test_models_expose_attention_weights_on_request() -> None:
    torch.manual_seed(0)
    ed = EncoderDecoderTransformer(cfg(arch="encoder-decoder")).eval()
    ed(torch.randint(0, V, (1, 5)), torch.randint(0, V, (1, 3)), need_weights=True)
    assert ed.encoder[0].last_self_weights.shape == (1, 4, 5, 5)
    assert ed.decoder[-1].last_cross_weights.shape == (1, 4, 3, 5)
    bert = BertModel(cfg(arch="encoder")).eval()
    bert(torch.randint(0, V, (1, 6)), need_weights=True)
    assert bert.layers[1].last_self_weights.shape == (1, 4, 6, 6)
    gpt = GPT(cfg()).eval()
    gpt(torch.randint(0, V, (1, 6)), need_weights=True)
    assert gpt.layers[0].last_self_weights[0, :, 0, 1:].abs().sum() == 0
