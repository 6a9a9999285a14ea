"""Named presets with their published sizes, and parameter counting on the ``meta`` device.

Building on ``meta`` creates tensors with shapes but no storage, so counting GPT-3's 175B
parameters allocates nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from .feedforward import FeedForward, SwiGLU
from .models import GPT, BertModel, EncoderDecoderTransformer, TransformerConfig
from .multihead import MultiHeadAttention
from .positional import LearnedPositionalEmbedding


def _enc_dec(d: int, h: int, ff: int, dropout: float) -> TransformerConfig:
    # One shared 37k BPE vocabulary, tied embeddings; final LayerNorms as in nn.Transformer.
    return TransformerConfig(
        vocab_size=37000, d_model=d, n_heads=h, n_layers=6, d_ff=ff, max_len=512, dropout=dropout,
        arch="encoder-decoder", final_norm=True,
    )


def _bert(d: int, h: int, n: int) -> TransformerConfig:
    # Published counts cover the encoder + pooler, not the pre-training-only MLM transform.
    return TransformerConfig(
        vocab_size=30522, d_model=d, n_heads=h, n_layers=n, d_ff=4 * d, max_len=512, dropout=0.1,
        activation="gelu", positional="learned", type_vocab_size=2, arch="encoder",
        embed_norm=True, pooler=True, mlm_transform=False, layer_norm_eps=1e-12,
    )


def _gpt2(d: int, h: int, n: int, vocab: int = 50257, max_len: int = 1024) -> TransformerConfig:
    return TransformerConfig(
        vocab_size=vocab, d_model=d, n_heads=h, n_layers=n, d_ff=4 * d, max_len=max_len, dropout=0.1,
        activation="gelu_tanh", norm_first=True, positional="learned", arch="decoder",
    )


PRESETS: dict[str, TransformerConfig] = {
    "transformer-base": _enc_dec(512, 8, 2048, 0.1),
    "transformer-big": _enc_dec(1024, 16, 4096, 0.3),
    "bert-base": _bert(768, 12, 12),
    "bert-large": _bert(1024, 16, 24),
    # GPT-1: post-norm, 40,478-token BPE vocabulary, 512 positions, no final LayerNorm.
    "gpt-1": replace(_gpt2(768, 12, 12, vocab=40478, max_len=512), norm_first=False, activation="gelu"),
    "gpt2-small": _gpt2(768, 12, 12),
    "gpt2-medium": _gpt2(1024, 16, 24),
    "gpt2-large": _gpt2(1280, 20, 36),
    "gpt2-xl": _gpt2(1600, 25, 48),
    "gpt-3": _gpt2(12288, 96, 96, max_len=2048),
}

# Published parameter counts. GPT-2: the sizes OpenAI gives for the released models
# (124M/355M/774M/1.5B); the 2019 paper's table said 117M/345M/762M/1542M.
PAPER_COUNTS: dict[str, float] = {
    "transformer-base": 65e6,
    "transformer-big": 213e6,
    "bert-base": 110e6,
    "bert-large": 340e6,
    "gpt-1": 117e6,
    "gpt2-small": 124e6,
    "gpt2-medium": 355e6,
    "gpt2-large": 774e6,
    "gpt2-xl": 1.5e9,
    "gpt-3": 175e9,
}

MODEL_CLASSES = {"encoder-decoder": EncoderDecoderTransformer, "encoder": BertModel, "decoder": GPT}
COMPONENTS = ("embeddings", "attention", "ffn", "norms", "head", "other")


def get_config(name_or_cfg: str | TransformerConfig) -> TransformerConfig:
    if isinstance(name_or_cfg, TransformerConfig):
        return name_or_cfg
    if name_or_cfg not in PRESETS:
        raise KeyError(f"unknown preset {name_or_cfg!r}; choose from {sorted(PRESETS)}")
    return PRESETS[name_or_cfg]


def build(name_or_cfg: str | TransformerConfig, device: torch.device | str = "meta") -> nn.Module:
    """The model for a preset or config; on ``meta`` by default (shapes only, no memory)."""
    cfg = get_config(name_or_cfg)
    with torch.device(device):
        return MODEL_CLASSES[cfg.arch](cfg)


@dataclass
class ParamCount:
    """``total`` parameters (tied matrices once) and their split over COMPONENTS."""

    total: int
    by_component: dict[str, int]

    def __str__(self) -> str:
        parts = ", ".join(f"{k}={v:,}" for k, v in self.by_component.items())
        return f"{self.total:,} ({parts})"


def _component_of_module(name: str, module: nn.Module) -> str | None:
    top = name.split(".")[0]
    if top in ("head", "mlm_transform"):
        return "head"
    if top == "pooler":
        return "other"
    if isinstance(module, MultiHeadAttention):
        return "attention"
    if isinstance(module, (FeedForward, SwiGLU)):
        return "ffn"
    if isinstance(module, nn.LayerNorm):
        return "norms"
    if isinstance(module, (nn.Embedding, LearnedPositionalEmbedding)):
        return "embeddings"
    return None


def component_breakdown(model: nn.Module) -> ParamCount:
    """Count a built model's parameters by component; a tied weight counts once, where it is first registered."""
    owners = {name: c for name, m in model.named_modules() if (c := _component_of_module(name, m)) is not None}
    counts = dict.fromkeys(COMPONENTS, 0)
    for pname, p in model.named_parameters():  # deduplicates tied parameters
        parts = pname.split(".")[:-1]
        component = "other"
        for i in range(len(parts), 0, -1):
            prefix = ".".join(parts[:i])
            if prefix in owners:
                component = owners[prefix]
                break
        counts[component] += p.numel()
    return ParamCount(total=sum(counts.values()), by_component=counts)


def count_parameters(name_or_cfg: str | TransformerConfig) -> ParamCount:
    """Parameter count of a preset or config, built on ``meta`` (allocates no parameter memory)."""
    return component_breakdown(build(name_or_cfg, device="meta"))


def closed_form_count(cfg: TransformerConfig) -> int:
    """The same count from the formulas, without building anything (a cross-check).

    Per layer: attention 4 d^2 (+4d bias), FFN 2 d d_ff (+d_ff+d bias), LayerNorm 2d (d without bias).
    """
    d, f, V = cfg.d_model, cfg.d_ff, cfg.vocab_size
    b = 1 if cfg.bias else 0
    attn = 4 * d * d + 4 * d * b
    ffn = 2 * d * f + (f + d) * b
    ln = d * (1 + b)
    pos = cfg.max_len * d if cfg.positional == "learned" else 0
    final = ln if cfg.has_final_norm else 0
    untied_head = 0 if cfg.tie_embeddings else V * d
    if cfg.arch == "decoder":
        return V * d + pos + cfg.n_layers * (attn + ffn + 2 * ln) + final + untied_head
    if cfg.arch == "encoder":
        total = V * d + pos + cfg.type_vocab_size * d + (ln if cfg.embed_norm else 0)
        total += cfg.n_layers * (attn + ffn + 2 * ln) + final
        total += (d * d + d * b) if cfg.pooler else 0
        total += (d * d + d * b + ln + V * b) if cfg.mlm_transform else 0
        return total + untied_head
    if cfg.arch == "encoder-decoder":
        embeddings = V * d if cfg.tie_embeddings else 3 * V * d  # src, tgt, output projection
        encoder = cfg.n_layers * (attn + ffn + 2 * ln)
        decoder = cfg.decoder_layers * (2 * attn + ffn + 3 * ln)
        return embeddings + pos + encoder + decoder + 2 * final
    raise ValueError(f"unknown arch {cfg.arch!r}")
