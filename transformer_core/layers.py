"""Encoder and decoder layers: attention + FFN, each wrapped in a residual and LayerNorm.

Post-norm (2017):  x = norm(x + sublayer(x))
Pre-norm (GPT-2+): x = x + sublayer(norm(x))   (``norm_first=True``; trains deeper stacks stably)
"""

from __future__ import annotations

from torch import Tensor, nn

from .feedforward import FeedForward
from .attention import heads_mask
from .multihead import KVCache, MultiHeadAttention, check_sequence


class EncoderLayer(nn.Module):
    """Self-attention + FFN. x [B, L, d] -> [B, L, d]."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        activation: str = "relu",
        norm_first: bool = False,
        bias: bool = True,
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.d_model, self.norm_first = d_model, norm_first
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout, bias)
        self.ff = FeedForward(d_model, d_ff, activation, dropout, bias)
        self.norm1 = nn.LayerNorm(d_model, eps=eps, bias=bias)
        self.norm2 = nn.LayerNorm(d_model, eps=eps, bias=bias)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.last_self_weights: Tensor | None = None

    def _sa(self, x: Tensor, mask: Tensor | None, causal: bool, need_weights: bool) -> Tensor:
        out, self.last_self_weights = self.self_attn(x, mask=mask, causal=causal, need_weights=need_weights)
        return self.dropout1(out)

    def forward(self, x: Tensor, mask: Tensor | None = None, causal: bool = False, need_weights: bool = False) -> Tensor:
        """mask: as ``MultiHeadAttention`` reads it (e.g. ``padding_mask`` [B, 1, 1, L] or [B, L])."""
        check_sequence(x, self.d_model, "x", "EncoderLayer")
        b, L, _ = x.shape
        mask = heads_mask(mask, b, self.self_attn.n_heads, L, L, name="EncoderLayer: mask")
        if self.norm_first:
            x = x + self._sa(self.norm1(x), mask, causal, need_weights)
            x = x + self.dropout2(self.ff(self.norm2(x)))
        else:
            x = self.norm1(x + self._sa(x, mask, causal, need_weights))
            x = self.norm2(x + self.dropout2(self.ff(x)))
        return x


class DecoderLayer(nn.Module):
    """Causal self-attention + cross-attention to the encoder memory + FFN.

    x [B, Lt, d], memory [B, Ls, d] -> [B, Lt, d]. With ``cross_attention=False`` this is a
    GPT block (decoder-only: no encoder to attend to).
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        activation: str = "relu",
        norm_first: bool = False,
        bias: bool = True,
        eps: float = 1e-5,
        cross_attention: bool = True,
    ) -> None:
        super().__init__()
        self.d_model, self.norm_first = d_model, norm_first
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout, bias)
        self.norm1 = nn.LayerNorm(d_model, eps=eps, bias=bias)
        self.dropout1 = nn.Dropout(dropout)
        self.cross_attn: MultiHeadAttention | None = None
        if cross_attention:
            self.cross_attn = MultiHeadAttention(d_model, n_heads, dropout, bias)
            self.norm2 = nn.LayerNorm(d_model, eps=eps, bias=bias)
            self.dropout2 = nn.Dropout(dropout)
        self.ff = FeedForward(d_model, d_ff, activation, dropout, bias)
        self.norm3 = nn.LayerNorm(d_model, eps=eps, bias=bias)
        self.dropout3 = nn.Dropout(dropout)
        self.last_self_weights: Tensor | None = None
        self.last_cross_weights: Tensor | None = None

    def _sa(self, x: Tensor, mask: Tensor | None, causal: bool, cache: KVCache | None, need_weights: bool) -> Tensor:
        out, self.last_self_weights = self.self_attn(x, mask=mask, causal=causal, cache=cache, need_weights=need_weights)
        return self.dropout1(out)

    def _ca(self, x: Tensor, memory: Tensor, memory_mask: Tensor | None, need_weights: bool) -> Tensor:
        assert self.cross_attn is not None
        out, self.last_cross_weights = self.cross_attn(x, memory, memory, mask=memory_mask, need_weights=need_weights)
        return self.dropout2(out)

    def forward(
        self,
        x: Tensor,
        memory: Tensor | None = None,
        self_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        causal: bool = True,
        cache: KVCache | None = None,
        need_weights: bool = False,
    ) -> Tensor:
        """self_mask / memory_mask: as ``MultiHeadAttention`` reads them. cache: this layer's self-attention KV cache.

        A layer with cross-attention needs ``memory`` [B, Ls, d]; a GPT block refuses one.
        """
        fn = "DecoderLayer"
        check_sequence(x, self.d_model, "x", fn)
        if self.cross_attn is None:
            if memory is not None or memory_mask is not None:
                raise ValueError(f"{fn}: this layer has no cross-attention (cross_attention=False); got a memory / memory_mask")
        else:
            if memory is None:
                raise ValueError(f"{fn}: memory [B, Ls, d_model] is required (the layer has cross-attention)")
            check_sequence(memory, self.d_model, "memory", fn)
            if memory.size(0) != x.size(0):
                raise ValueError(f"{fn}: memory {tuple(memory.shape)} and x {tuple(x.shape)} need the same batch B")
            memory_mask = heads_mask(memory_mask, x.size(0), self.cross_attn.n_heads, x.size(1), memory.size(1),
                                     name=f"{fn}: memory_mask")
        past = 0 if cache is None else len(cache)
        self_mask = heads_mask(self_mask, x.size(0), self.self_attn.n_heads, x.size(1), past + x.size(1),
                               name=f"{fn}: self_mask")
        if self.norm_first:
            x = x + self._sa(self.norm1(x), self_mask, causal, cache, need_weights)
            if memory is not None:
                x = x + self._ca(self.norm2(x), memory, memory_mask, need_weights)
            x = x + self.dropout3(self.ff(self.norm3(x)))
        else:
            x = self.norm1(x + self._sa(x, self_mask, causal, cache, need_weights))
            if memory is not None:
                x = self.norm2(x + self._ca(x, memory, memory_mask, need_weights))
            x = self.norm3(x + self.dropout3(self.ff(x)))
        return x
