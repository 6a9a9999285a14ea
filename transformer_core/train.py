"""Minimal, seeded training loops small enough for a snippet on a CPU."""

from __future__ import annotations

import math
import time
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from .data import BOS_ID, copy_task_batch, lm_batch
from .device import get_device
from .models import GPT, EncoderDecoderTransformer, TransformerConfig
from .tokenizer import CharTokenizer


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """Learning-rate multiplier: linear warm-up, then cosine decay to 10%."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def copy_task_accuracy(
    model: EncoderDecoderTransformer, length: int, vocab: int, batch: int = 256, seed: int = 1234, reverse: bool = False
) -> float:
    """Token accuracy of greedy decoding on fresh random sequences (no teacher forcing)."""
    model.eval()
    device = next(model.parameters()).device
    src, tgt = copy_task_batch(batch, length, vocab, torch.Generator().manual_seed(seed), reverse)
    out = model.greedy_decode(src.to(device), length + 1, BOS_ID)
    return (out[:, 1:].cpu() == tgt[:, 1:]).float().mean().item()


def train_copy_task(
    length: int = 10,
    vocab: int = 11,
    steps: int = 400,
    batch: int = 64,
    lr: float = 3e-3,
    d_model: int = 64,
    n_heads: int = 4,
    n_layers: int = 2,
    d_ff: int = 128,
    reverse: bool = False,
    seed: int = 0,
    log_every: int = 20,
    device: torch.device | str | None = None,
) -> tuple[EncoderDecoderTransformer, list[dict]]:
    """Train an encoder-decoder to copy (or reverse) random sequences.

    Returns the model and ``history``: dicts with step, loss, token accuracy (teacher forced),
    lr and elapsed seconds, every ``log_every`` steps. Same seed, same numbers.
    """
    torch.manual_seed(seed)
    device = torch.device(device) if device is not None else get_device()
    cfg = TransformerConfig(
        vocab_size=vocab, d_model=d_model, n_heads=n_heads, n_layers=n_layers, d_ff=d_ff,
        max_len=length + 1, arch="encoder-decoder", norm_first=True,
    )
    model = EncoderDecoderTransformer(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, steps, max(1, steps // 10)))
    gen = torch.Generator().manual_seed(seed)
    history: list[dict] = []
    start = time.perf_counter()
    model.train()
    for step in range(steps):
        src, tgt = copy_task_batch(batch, length, vocab, gen, reverse)
        src, tgt = src.to(device), tgt.to(device)
        logits = model(src, tgt[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, vocab), tgt[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % log_every == 0 or step == steps - 1:
            acc = (logits.argmax(-1) == tgt[:, 1:]).float().mean().item()
            history.append(dict(step=step, loss=loss.item(), accuracy=acc, lr=sched.get_last_lr()[0],
                                seconds=time.perf_counter() - start))
    model.eval()
    return model, history


def train_char_lm(
    text: str,
    cfg: TransformerConfig,
    steps: int = 300,
    batch: int = 32,
    block: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    log_every: int = 20,
    val_fraction: float = 0.1,
    device: torch.device | str | None = None,
) -> tuple[GPT, CharTokenizer, list[dict]]:
    """Train a tiny character-level GPT on ``text``.

    ``cfg.vocab_size`` is replaced by the tokenizer's and ``cfg.max_len`` raised to ``block``
    when needed. ``history``: dicts with step, loss (train), val_loss, lr, seconds.
    """
    torch.manual_seed(seed)
    device = torch.device(device) if device is not None else get_device()
    tok = CharTokenizer.from_text(text)
    cfg = replace(cfg, vocab_size=tok.vocab_size, max_len=max(cfg.max_len, block), arch="decoder")
    data = torch.tensor(tok.encode(text), dtype=torch.long)
    n_val = max(block + 2, int(len(data) * val_fraction))
    train_data, val_data = data[:-n_val], data[-n_val:]
    model = GPT(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, steps, max(1, steps // 10)))
    gen = torch.Generator().manual_seed(seed)
    val_gen_seed = seed + 1
    history: list[dict] = []
    start = time.perf_counter()
    for step in range(steps):
        model.train()
        x, y = lm_batch(train_data, batch, block, gen)
        x, y = x.to(device), y.to(device)
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, cfg.vocab_size), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % log_every == 0 or step == steps - 1:
            model.eval()
            with torch.no_grad():
                vx, vy = lm_batch(val_data, batch, block, torch.Generator().manual_seed(val_gen_seed))
                vlogits = model(vx.to(device))
                val = F.cross_entropy(vlogits.reshape(-1, cfg.vocab_size), vy.to(device).reshape(-1)).item()
            history.append(dict(step=step, loss=loss.item(), val_loss=val, lr=sched.get_last_lr()[0],
                                seconds=time.perf_counter() - start))
    model.eval()
    return model, tok, history
