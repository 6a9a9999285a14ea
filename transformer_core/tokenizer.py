"""Character-level tokenizer: one id per Unicode character (Chinese and ASCII alike)."""

from __future__ import annotations

UNK = "\ufffd"  # shown for characters the vocabulary has never seen


class CharTokenizer:
    """Id 0 is the unknown character; the rest are the sorted distinct characters of a text."""

    def __init__(self, chars: list[str]) -> None:
        self.itos: list[str] = [UNK] + [c for c in chars if c != UNK]
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(self.itos)}

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    @property
    def unk_id(self) -> int:
        return 0

    def encode(self, text: str) -> list[int]:
        return [self.stoi.get(c, 0) for c in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.itos[int(i)] for i in ids)

    def __len__(self) -> int:
        return self.vocab_size
