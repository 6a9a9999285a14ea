"""Multi-head attention (self and cross) with a KV cache for incremental decoding."""

from __future__ import annotations

from torch import Tensor, nn

from .attention import fused_attention, heads_mask, scaled_dot_product_attention


def check_sequence(x: Tensor, d_model: int, name: str, fn: str) -> None:
    """Raise ValueError unless x is [B, L, d_model] with a floating dtype."""
    if not isinstance(x, Tensor) or x.dim() != 3 or x.size(-1) != d_model:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{fn}: {name} must be [B, L, d_model={d_model}], got {shape}")
    if not x.is_floating_point():
        raise ValueError(f"{fn}: {name} must be floating point, got {x.dtype}")


class KVCache:
    """Keys and values seen so far by one attention layer; append-only.

    Holds k [B, H, L, dk] and v [B, H, L, dv]. A model keeps one cache per layer
    (see ``GPT.make_cache``). Storage grows geometrically so appending one token is O(1)
    amortised instead of copying the whole history every step. Meant for inference
    (``torch.no_grad``): the storage is written in place.
    """

    def __init__(self) -> None:
        self._k: Tensor | None = None
        self._v: Tensor | None = None
        self.length = 0

    def append(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Add k, v [B, H, Lnew, d]; return all keys/values so far [B, H, length, d]."""
        if k.dim() != 4 or v.dim() != 4 or k.shape[:3] != v.shape[:3]:
            raise ValueError(f"KVCache.append: k and v must be [B, H, Lnew, d] alike, got {tuple(k.shape)}, {tuple(v.shape)}")
        if self._k is not None and self._v is not None:
            held = (self._k.size(0), self._k.size(1), self._k.size(3), self._v.size(3))
            if (k.size(0), k.size(1), k.size(3), v.size(3)) != held or k.dtype != self._k.dtype:
                raise ValueError(
                    f"KVCache.append: new k {tuple(k.shape)}, v {tuple(v.shape)} do not match the cache "
                    f"(B, H, dk, dv) = {held}, dtype {self._k.dtype}; use a fresh cache per sequence batch"
                )
        new = k.size(2)
        if self._k is None or self._v is None or self.length + new > self._k.size(2):
            capacity = max(2 * (self.length + new), 16)
            grown_k = k.new_empty(k.size(0), k.size(1), capacity, k.size(3))
            grown_v = v.new_empty(v.size(0), v.size(1), capacity, v.size(3))
            if self._k is not None and self._v is not None:
                grown_k[:, :, : self.length] = self._k[:, :, : self.length]
                grown_v[:, :, : self.length] = self._v[:, :, : self.length]
            self._k, self._v = grown_k, grown_v
        self._k[:, :, self.length : self.length + new] = k
        self._v[:, :, self.length : self.length + new] = v
        self.length += new
        return self.keys, self.values

    @property
    def keys(self) -> Tensor:
        assert self._k is not None, "empty cache"
        return self._k[:, :, : self.length]

    @property
    def values(self) -> Tensor:
        assert self._v is not None, "empty cache"
        return self._v[:, :, : self.length]

    def __len__(self) -> int:
        return self.length


class MultiHeadAttention(nn.Module):
    """Project to H heads of size d_model/H, attend in parallel, concatenate, project back.

    Parameters: q_proj, k_proj, v_proj, out_proj, each Linear(d_model, d_model):
    4 d^2 weights (+ 4 d biases).
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        if d_model <= 0 or n_heads <= 0:
            raise ValueError(f"d_model={d_model} and n_heads={n_heads} must be positive")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout={dropout} must lie in [0, 1]")
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, d_model // n_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def _split(self, x: Tensor) -> Tensor:
        """[B, L, d_model] -> [B, H, L, head_dim]"""
        b, l, _ = x.shape
        return x.view(b, l, self.n_heads, self.head_dim).transpose(1, 2)

    def forward(
        self,
        query: Tensor,
        key: Tensor | None = None,
        value: Tensor | None = None,
        mask: Tensor | None = None,
        causal: bool = False,
        cache: KVCache | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """query [B, Lq, d], key/value [B, Lk, d] (None: self-attention on query).

        mask: any form of ``attention.normalize_mask`` (bool True = may attend, 0/1 integers,
        additive float), laid out as ``attention.heads_mask`` reads it: [Lk], [B, Lk] padding,
        [Lq, Lk], [B, Lq, Lk], [B * H, Lq, Lk] or [B, H, Lq, Lk] (Lk counts cached keys too).
        cache: new keys/values are appended and attention runs over all of them.
        Returns out [B, Lq, d] and per-head weights [B, H, Lq, Lk] when need_weights, else None.
        Malformed inputs (ranks, widths, batch or length mismatches) raise ValueError.
        """
        key = query if key is None else key
        value = key if value is None else value
        fn = "MultiHeadAttention"
        for name, x in (("query", query), ("key", key), ("value", value)):
            check_sequence(x, self.d_model, name, fn)
        if key.shape[:2] != value.shape[:2]:
            raise ValueError(f"{fn}: key {tuple(key.shape)} and value {tuple(value.shape)} need the same [B, Lk]")
        if key.size(0) != query.size(0):
            raise ValueError(f"{fn}: query {tuple(query.shape)} and key/value {tuple(key.shape)} need the same batch B")
        q = self._split(self.q_proj(query))
        k = self._split(self.k_proj(key))
        v = self._split(self.v_proj(value))
        if cache is not None:
            k, v = cache.append(k, v)
        mask = heads_mask(mask, query.size(0), self.n_heads, q.size(2), k.size(2))
        p = self.dropout if self.training else 0.0
        if need_weights:
            out, weights = scaled_dot_product_attention(q, k, v, mask=mask, causal=causal, dropout_p=p)
        else:
            out, weights = fused_attention(q, k, v, mask=mask, causal=causal, dropout_p=p), None
        b, _, lq, _ = out.shape
        out = out.transpose(1, 2).reshape(b, lq, self.d_model)
        return self.out_proj(out), weights
