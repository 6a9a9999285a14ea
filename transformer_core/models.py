"""The three Transformer families from one config class.

- ``EncoderDecoderTransformer``: 2017, translation-style (src -> tgt).
- ``BertModel``: encoder-only, bidirectional, masked-LM head.
- ``GPT``: decoder-only, causal LM, tied input/output embeddings, KV-cache generation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from .layers import DecoderLayer, EncoderLayer
from .multihead import KVCache
from .positional import LearnedPositionalEmbedding, SinusoidalPositionalEncoding


@dataclass
class TransformerConfig:
    """Hyper-parameters shared by every model family.

    Fields after ``pad_id`` are additions with defaults that reproduce published layouts:
    ``arch`` picks the family for ``configs.build``; ``final_norm`` (None: same as
    ``norm_first``) adds a LayerNorm after the last layer (GPT-2, ``nn.Transformer``);
    ``embed_norm`` normalises the summed embeddings (BERT); ``pooler`` adds BERT's [CLS]
    pooler; ``mlm_transform`` adds BERT's dense+LayerNorm+bias before the tied MLM decoder.
    """

    vocab_size: int
    d_model: int
    n_heads: int
    n_layers: int
    d_ff: int
    max_len: int
    dropout: float = 0.0
    activation: str = "relu"
    norm_first: bool = False
    n_decoder_layers: int | None = None
    tie_embeddings: bool = True
    positional: Literal["sinusoidal", "learned"] = "sinusoidal"
    bias: bool = True
    type_vocab_size: int = 0
    pad_id: int = 0
    # additive fields
    arch: Literal["encoder-decoder", "encoder", "decoder"] = "decoder"
    final_norm: bool | None = None
    embed_norm: bool = False
    pooler: bool = False
    mlm_transform: bool = True
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        sizes = dict(d_model=self.d_model, n_heads=self.n_heads, n_layers=self.n_layers, d_ff=self.d_ff, max_len=self.max_len)
        bad = {name: value for name, value in sizes.items() if value < 1}
        if bad or self.vocab_size < 0:  # vocab_size 0: a placeholder that train_char_lm fills in
            raise ValueError(f"TransformerConfig: sizes must be >= 1 (vocab_size >= 0), got {bad or {'vocab_size': self.vocab_size}}")
        if self.d_model % self.n_heads:
            raise ValueError(f"TransformerConfig: d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
        if not 0.0 <= self.dropout <= 1.0:
            raise ValueError(f"TransformerConfig: dropout={self.dropout} must lie in [0, 1]")
        if self.arch not in ("encoder-decoder", "encoder", "decoder"):
            raise ValueError(f"TransformerConfig: arch must be 'encoder-decoder', 'encoder' or 'decoder', got {self.arch!r}")

    @property
    def has_final_norm(self) -> bool:
        return self.norm_first if self.final_norm is None else self.final_norm

    @property
    def decoder_layers(self) -> int:
        return self.n_layers if self.n_decoder_layers is None else self.n_decoder_layers


def _positional(cfg: TransformerConfig) -> nn.Module:
    if cfg.positional == "learned":
        return LearnedPositionalEmbedding(cfg.max_len, cfg.d_model)
    if cfg.positional == "sinusoidal":
        return SinusoidalPositionalEncoding(cfg.d_model, cfg.max_len)
    raise ValueError(f"positional must be 'sinusoidal' or 'learned', got {cfg.positional!r}")


def check_ids(ids: Tensor, vocab_size: int, name: str, fn: str) -> None:
    """Raise ValueError unless ids is an integer [B, L] tensor with values in [0, vocab_size)."""
    if not isinstance(ids, Tensor) or ids.dim() != 2 or ids.is_floating_point() or ids.dtype == torch.bool:
        shape = tuple(ids.shape) if isinstance(ids, Tensor) else type(ids).__name__
        raise ValueError(f"{fn}: {name} must be integer token ids [B, L], got {shape}")
    # Meta tensors (parameter counting, shape tracing) hold no values to check.
    if ids.numel() and not ids.is_meta and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(
            f"{fn}: {name} holds ids {ids.min().item()}..{ids.max().item()} outside [0, vocab_size={vocab_size})"
        )


def key_padding(mask: Tensor | None, ids_shape: tuple[int, ...], name: str, fn: str) -> Tensor | None:
    """A model-level mask: [B, L] is a key padding mask (1/True = real token, HF convention)
    and becomes [B, 1, 1, L]; other masks pass on to the layers as they are."""
    if mask is None or mask.dim() != 2:
        return mask
    if tuple(mask.shape) != tuple(ids_shape):
        raise ValueError(f"{fn}: {name} of shape {tuple(mask.shape)} must match the ids {tuple(ids_shape)} ([B, L] padding mask)")
    if mask.is_floating_point():
        raise ValueError(
            f"{fn}: {name} [B, L] must be bool or 0/1 integers (1 = real token); "
            f"pass an additive float mask as [B, 1, 1, L]"
        )
    return mask[:, None, None, :]


def _layer_kwargs(cfg: TransformerConfig) -> dict:
    return dict(
        d_model=cfg.d_model, n_heads=cfg.n_heads, d_ff=cfg.d_ff, dropout=cfg.dropout,
        activation=cfg.activation, norm_first=cfg.norm_first, bias=cfg.bias, eps=cfg.layer_norm_eps,
    )


def _norm(cfg: TransformerConfig) -> nn.Module:
    return nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps, bias=cfg.bias) if cfg.has_final_norm else nn.Identity()


def init_weights(model: nn.Module, std: float = 0.02) -> None:
    """GPT/BERT-style init: N(0, 0.02) for Linear and Embedding weights, zero biases."""
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=std)


class EncoderDecoderTransformer(nn.Module):
    """Vaswani et al. 2017. src [B, Ls], tgt [B, Lt] token ids -> logits [B, Lt, V].

    One vocabulary; with ``tie_embeddings`` the source embedding, target embedding and output
    projection share one matrix (as in the paper). Embeddings are scaled by sqrt(d_model).
    """

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.src_embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.tgt_embed = self.src_embed if cfg.tie_embeddings else nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = _positional(cfg)
        self.drop = nn.Dropout(cfg.dropout)
        self.encoder = nn.ModuleList(EncoderLayer(**_layer_kwargs(cfg)) for _ in range(cfg.n_layers))
        self.encoder_norm = _norm(cfg)
        self.decoder = nn.ModuleList(DecoderLayer(**_layer_kwargs(cfg)) for _ in range(cfg.decoder_layers))
        self.decoder_norm = _norm(cfg)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.head.weight = self.src_embed.weight
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def _embed(self, emb: nn.Embedding, ids: Tensor) -> Tensor:
        return self.drop(self.pos(emb(ids) * math.sqrt(self.cfg.d_model)))

    def encode(self, src: Tensor, src_mask: Tensor | None = None, need_weights: bool = False) -> Tensor:
        """src [B, Ls] -> memory [B, Ls, d]. src_mask: key mask [B, Ls] (True/1 = real token) or any
        mask ``MultiHeadAttention`` reads.

        need_weights: each layer keeps its attention weights in ``.last_self_weights``.
        """
        fn = "EncoderDecoderTransformer.encode"
        check_ids(src, self.cfg.vocab_size, "src", fn)
        src_mask = key_padding(src_mask, tuple(src.shape), "src_mask", fn)
        x = self._embed(self.src_embed, src)
        for layer in self.encoder:
            x = layer(x, mask=src_mask, need_weights=need_weights)
        return self.encoder_norm(x)

    def decode(self, tgt: Tensor, memory: Tensor, src_mask: Tensor | None = None, need_weights: bool = False) -> Tensor:
        """tgt [B, Lt], memory [B, Ls, d] -> logits [B, Lt, V] (causal over tgt).

        need_weights: layers keep ``.last_self_weights`` and ``.last_cross_weights``.
        """
        fn = "EncoderDecoderTransformer.decode"
        check_ids(tgt, self.cfg.vocab_size, "tgt", fn)
        if memory.dim() != 3 or memory.size(0) != tgt.size(0) or memory.size(-1) != self.cfg.d_model:
            raise ValueError(f"{fn}: memory must be [B={tgt.size(0)}, Ls, d_model={self.cfg.d_model}], got {tuple(memory.shape)}")
        src_mask = key_padding(src_mask, tuple(memory.shape[:2]), "src_mask", fn)
        x = self._embed(self.tgt_embed, tgt)
        for layer in self.decoder:
            x = layer(x, memory, memory_mask=src_mask, causal=True, need_weights=need_weights)
        return self.head(self.decoder_norm(x))

    def forward(self, src: Tensor, tgt: Tensor, src_mask: Tensor | None = None, need_weights: bool = False) -> Tensor:
        """src [B, Ls], tgt [B, Lt] -> logits [B, Lt, V]."""
        if src.dim() == 2 and tgt.dim() == 2 and src.size(0) != tgt.size(0):
            raise ValueError(f"EncoderDecoderTransformer: src {tuple(src.shape)} and tgt {tuple(tgt.shape)} need the same batch B")
        return self.decode(tgt, self.encode(src, src_mask, need_weights), src_mask, need_weights)

    @torch.no_grad()
    def greedy_decode(self, src: Tensor, max_len: int, bos_id: int, src_mask: Tensor | None = None) -> Tensor:
        """src [B, Ls] -> [B, max_len] generated ids, starting with ``bos_id``."""
        if not 1 <= max_len <= self.cfg.max_len:
            raise ValueError(f"greedy_decode: max_len={max_len} must lie in [1, cfg.max_len={self.cfg.max_len}]")
        memory = self.encode(src, src_mask)
        ys = torch.full((src.size(0), 1), bos_id, dtype=torch.long, device=src.device)
        for _ in range(max_len - 1):
            nxt = self.decode(ys, memory, src_mask)[:, -1].argmax(-1, keepdim=True)
            ys = torch.cat([ys, nxt], dim=1)
        return ys


class BertModel(nn.Module):
    """Devlin et al. 2018, encoder-only. ids [B, L] -> MLM logits [B, L, V].

    attention_mask [B, L]: 1/True at real tokens (HF convention) or a bool [B, 1, 1, L] mask.
    ``hidden`` gives the final states [B, L, d]; ``pool`` the [CLS] pooler output [B, d].
    """

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = _positional(cfg)
        self.type_embed = nn.Embedding(cfg.type_vocab_size, cfg.d_model) if cfg.type_vocab_size else None
        self.embed_norm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps, bias=cfg.bias) if cfg.embed_norm else nn.Identity()
        self.drop = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(EncoderLayer(**_layer_kwargs(cfg)) for _ in range(cfg.n_layers))
        self.final_norm = _norm(cfg)
        self.pooler = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_model, bias=cfg.bias), nn.Tanh()) if cfg.pooler else None
        self.mlm_transform = (
            nn.Sequential(
                nn.Linear(cfg.d_model, cfg.d_model, bias=cfg.bias),
                nn.GELU() if cfg.activation.startswith("gelu") else nn.ReLU(),
                nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps, bias=cfg.bias),
            )
            if cfg.mlm_transform
            else nn.Identity()
        )
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=cfg.mlm_transform and cfg.bias)
        if cfg.tie_embeddings:
            self.head.weight = self.tok_embed.weight
        init_weights(self)

    def hidden(
        self, ids: Tensor, attention_mask: Tensor | None = None, token_type_ids: Tensor | None = None,
        need_weights: bool = False,
    ) -> Tensor:
        """ids [B, L] -> final hidden states [B, L, d] (need_weights: layers keep ``.last_self_weights``).

        attention_mask: [B, L] with 1/True at real tokens (bool or integer), or any mask
        ``MultiHeadAttention`` reads. token_type_ids: [B, L] in [0, type_vocab_size).
        """
        fn = "BertModel"
        check_ids(ids, self.cfg.vocab_size, "ids", fn)
        mask = key_padding(attention_mask, tuple(ids.shape), "attention_mask", fn)
        x = self.pos(self.tok_embed(ids))
        if self.type_embed is not None:
            types = torch.zeros_like(ids) if token_type_ids is None else token_type_ids
            check_ids(types, self.cfg.type_vocab_size, "token_type_ids", fn)
            if types.shape != ids.shape:
                raise ValueError(f"{fn}: token_type_ids {tuple(types.shape)} must match ids {tuple(ids.shape)}")
            x = x + self.type_embed(types)
        elif token_type_ids is not None:
            raise ValueError(f"{fn}: token_type_ids given but the config has type_vocab_size=0")
        x = self.drop(self.embed_norm(x))
        for layer in self.layers:
            x = layer(x, mask=mask, need_weights=need_weights)
        return self.final_norm(x)

    def pool(self, hidden: Tensor) -> Tensor:
        """hidden [B, L, d] -> tanh(W h_[CLS] + b) [B, d] (needs ``cfg.pooler``)."""
        if self.pooler is None:
            raise ValueError("this config has no pooler (TransformerConfig.pooler=False)")
        return self.pooler(hidden[:, 0])

    def forward(
        self, ids: Tensor, attention_mask: Tensor | None = None, token_type_ids: Tensor | None = None,
        need_weights: bool = False,
    ) -> Tensor:
        return self.head(self.mlm_transform(self.hidden(ids, attention_mask, token_type_ids, need_weights)))


class GPT(nn.Module):
    """Radford et al. 2018/2019, decoder-only causal LM. ids [B, L] -> logits [B, L, V].

    Blocks are ``DecoderLayer`` without cross-attention. The output projection reuses the token
    embedding matrix (``tie_embeddings``). Pass ``cache=model.make_cache()`` to decode
    incrementally: each call appends its tokens' keys/values and positions continue from there.
    """

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = _positional(cfg)
        self.drop = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(DecoderLayer(**_layer_kwargs(cfg), cross_attention=False) for _ in range(cfg.n_layers))
        self.final_norm = _norm(cfg)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.head.weight = self.tok_embed.weight
        init_weights(self)
        # GPT-2: scale the residual-output projections by 1/sqrt(2 n_layers).
        for layer in self.blocks:
            for lin in (layer.self_attn.out_proj, layer.ff.linear2):
                nn.init.normal_(lin.weight, std=0.02 / math.sqrt(2 * cfg.n_layers))

    @property
    def blocks(self) -> list[DecoderLayer]:
        """The layers, typed (``self.layers`` is an nn.ModuleList)."""
        return [layer for layer in self.layers if isinstance(layer, DecoderLayer)]

    def make_cache(self) -> list[KVCache]:
        """One empty KV cache per layer."""
        return [KVCache() for _ in self.layers]

    def forward(self, ids: Tensor, cache: list[KVCache] | None = None, need_weights: bool = False) -> Tensor:
        """ids [B, L] (only the new tokens when ``cache`` holds the earlier ones) -> logits [B, L, V].

        Positions past ``cfg.max_len`` (cache length + L) raise ValueError.
        """
        check_ids(ids, self.cfg.vocab_size, "ids", "GPT")
        if cache is not None and len(cache) != len(self.layers):
            raise ValueError(f"GPT: cache has {len(cache)} entries for {len(self.layers)} layers; use model.make_cache()")
        offset = cache[0].length if cache is not None else 0
        x = self.drop(self.pos(self.tok_embed(ids), offset=offset))
        for i, layer in enumerate(self.layers):
            x = layer(x, causal=True, cache=None if cache is None else cache[i], need_weights=need_weights)
        return self.head(self.final_norm(x))

    def generate(self, ids: Tensor, max_new_tokens: int, **kwargs) -> Tensor:
        """See ``transformer_core.generate.generate``."""
        from .generate import generate

        return generate(self, ids, max_new_tokens, **kwargs)


__all__ = ["TransformerConfig", "EncoderDecoderTransformer", "BertModel", "GPT", "init_weights"]
