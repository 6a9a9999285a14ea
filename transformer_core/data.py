"""Training data: the shipped text corpus and the synthetic copy/reverse task."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

CORPUS_PATH = Path(__file__).resolve().parent / "data" / "corpus.txt"
PAD_ID, BOS_ID = 0, 1  # copy-task special tokens; symbols are 2 .. vocab-1


def load_corpus() -> str:
    """The project's own Chinese + ASCII text about Transformers, ML and everyday topics."""
    return CORPUS_PATH.read_text(encoding="utf-8")


def copy_task_batch(
    batch: int, length: int, vocab: int, generator: torch.Generator | None = None, reverse: bool = False
) -> tuple[Tensor, Tensor]:
    """Random symbol sequences to copy (or reverse), as in The Annotated Transformer.

    Returns src [batch, length] with ids in [2, vocab) and tgt [batch, length + 1] =
    BOS followed by src (reversed when ``reverse``). Train on decoder input tgt[:, :-1]
    and labels tgt[:, 1:].
    """
    if batch < 1 or length < 1 or vocab < 3:
        raise ValueError(f"copy_task_batch: batch={batch}, length={length} must be >= 1 and vocab={vocab} >= 3 (ids 0, 1 are PAD, BOS)")
    src = torch.randint(2, vocab, (batch, length), generator=generator)
    body = src.flip(1) if reverse else src
    tgt = torch.cat([torch.full((batch, 1), BOS_ID, dtype=torch.long), body], dim=1)
    return src, tgt


def lm_batch(data: Tensor, batch: int, block: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Random windows of a 1-D id tensor: x [batch, block] and the next-token targets y."""
    if data.dim() != 1 or data.numel() < block + 2 or block < 1 or batch < 1:
        raise ValueError(
            f"lm_batch: data must be 1-D ids longer than block + 1; got data {tuple(data.shape)}, block={block}, batch={batch}"
        )
    starts = torch.randint(0, data.numel() - block - 1, (batch,), generator=generator)
    x = torch.stack([data[s : s + block] for s in starts.tolist()])
    y = torch.stack([data[s + 1 : s + 1 + block] for s in starts.tolist()])
    return x, y
