"""Byte-level byte-pair encoding (BPE), the tokenizer family of GPT-2 onward, written from scratch.

Text is turned into UTF-8 bytes, so the 256 byte values are the starting vocabulary and any
string (Chinese, emoji, code) can be encoded with no unknown token. Training repeatedly finds
the most frequent adjacent pair of token ids in the training text and merges it into a new id
(Sennrich et al., 2016; Radford et al., 2019). Encoding replays the merges in the order they
were learned; decoding concatenates the bytes of the ids and decodes them as UTF-8.

As in GPT-2, the text is first split into chunks (a run of letters, a run of digits, a run of
punctuation, whitespace) and merges never cross a chunk boundary, so "the" and "the," share
tokens and training only has to count each distinct chunk once.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

N_BYTES = 256  # ids 0..255 are the raw bytes

# One alternative per chunk kind; the last one (any single character) makes the split total,
# so the chunks always concatenate back to the text. Letters include CJK characters.
CHUNK_PATTERN = re.compile(r" ?[^\W\d_]+| ?\d+| ?[^\s\w]+|\s+(?!\S)|\s+|.", re.DOTALL)

Pair = tuple[int, int]


@dataclass(frozen=True)
class Merge:
    """One learned rule: ``pair`` (two existing ids) becomes ``new_id``.

    ``count`` is how often the pair occurred in the training text when it was chosen.
    """

    pair: Pair
    new_id: int
    count: int


def split_chunks(text: str) -> list[str]:
    """Split text into pre-tokenization chunks; ``"".join(split_chunks(t)) == t`` for every t."""
    return CHUNK_PATTERN.findall(text)


def _pair_counts(words: list[list[int]], freqs: list[int]) -> tuple[Counter[Pair], dict[Pair, set[int]]]:
    counts: Counter[Pair] = Counter()
    where: dict[Pair, set[int]] = {}
    for w, (ids, f) in enumerate(zip(words, freqs)):
        for pair in zip(ids, ids[1:]):
            counts[pair] += f
            where.setdefault(pair, set()).add(w)
    return counts, where


def _merge_ids(ids: list[int], pair: Pair, new_id: int) -> list[int]:
    """Replace every non-overlapping occurrence of ``pair`` in ``ids`` (left to right) by ``new_id``."""
    out: list[int] = []
    i = 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def train(text: str, vocab_size: int) -> list[Merge]:
    """Learn ``vocab_size - 256`` merges from ``text`` (fewer if no pair occurs twice any more).

    Deterministic: the most frequent pair wins; ties go to the smallest pair of ids.
    Raises ValueError when ``vocab_size`` is below 256, the byte vocabulary.
    """
    if vocab_size < N_BYTES:
        raise ValueError(f"vocab_size must be at least {N_BYTES} (the byte vocabulary), got {vocab_size}")
    chunk_freq = Counter(split_chunks(text))
    words = [list(chunk.encode("utf-8")) for chunk in chunk_freq]
    freqs = list(chunk_freq.values())
    counts, where = _pair_counts(words, freqs)

    merges: list[Merge] = []
    for new_id in range(N_BYTES, vocab_size):
        if not counts:
            break
        pair, count = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        if count < 2:
            break
        merges.append(Merge(pair, new_id, count))
        for w in sorted(where.pop(pair, set())):
            old = words[w]
            new = _merge_ids(old, pair, new_id)
            f = freqs[w]
            for p in zip(old, old[1:]):
                counts[p] -= f
                if counts[p] <= 0:
                    del counts[p]
            for p in zip(new, new[1:]):
                counts[p] += f
                where.setdefault(p, set()).add(w)
            words[w] = new
        counts.pop(pair, None)
    return merges


@dataclass
class BPETokenizer:
    """Encode text to ids and back with a list of learned merges (ids 0..255 are bytes)."""

    merges: list[Merge]
    vocab: dict[int, bytes] = field(init=False)
    _rank: dict[Pair, int] = field(init=False, repr=False)
    _cache: dict[str, list[int]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.vocab = {i: bytes([i]) for i in range(N_BYTES)}
        for m in self.merges:
            a, b = m.pair
            if a not in self.vocab or b not in self.vocab or m.new_id in self.vocab:
                raise ValueError(f"merge {m} refers to an unknown id or reuses an id")
            self.vocab[m.new_id] = self.vocab[a] + self.vocab[b]
        self._rank = {m.pair: k for k, m in enumerate(self.merges)}
        self._cache = {}

    @classmethod
    def train(cls, text: str, vocab_size: int) -> "BPETokenizer":
        """A tokenizer with ``vocab_size`` ids learned from ``text`` (see :func:`train`)."""
        return cls(train(text, vocab_size))

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def _encode_chunk(self, chunk: str) -> list[int]:
        cached = self._cache.get(chunk)
        if cached is not None:
            return cached
        ids = list(chunk.encode("utf-8"))
        while len(ids) >= 2:
            ranked = [(self._rank[p], p) for p in zip(ids, ids[1:]) if p in self._rank]
            if not ranked:
                break
            rank, pair = min(ranked)
            ids = _merge_ids(ids, pair, self.merges[rank].new_id)
        self._cache[chunk] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``: each chunk's bytes with the merges applied in learned order."""
        return [i for chunk in split_chunks(text) for i in self._encode_chunk(chunk)]

    def decode(self, ids: list[int]) -> str:
        """The text of ``ids``; exact inverse of :meth:`encode` (invalid UTF-8 shows as U+FFFD)."""
        return b"".join(self.vocab[int(i)] for i in ids).decode("utf-8", errors="replace")

    def token_text(self, token_id: int) -> str:
        """A printable form of one token: its text, or escaped bytes when it is part of a character."""
        return self.vocab[token_id].decode("utf-8", errors="backslashreplace")

    def tokenize(self, text: str) -> list[str]:
        """The tokens of ``text`` as printable pieces (see :meth:`token_text`)."""
        return [self.token_text(i) for i in self.encode(text)]
