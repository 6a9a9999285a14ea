"""Training loops, data and tokenizer: copy task accuracy, determinism, a char-LM that learns."""

import pytest
import torch

from transformer_core.data import BOS_ID, copy_task_batch, load_corpus
from transformer_core.models import TransformerConfig
from transformer_core.tokenizer import CharTokenizer
from transformer_core.train import copy_task_accuracy, train_char_lm, train_copy_task


@pytest.fixture(autouse=True)
def one_thread():
    """These models are tiny: a second thread only adds synchronisation, which on a loaded
    2-core machine costs far more than the matmuls (measured: 30 copy-task steps took 10 s on
    one thread vs 47 s on two under load)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_copy_task_batch_layout() -> None:
    src, tgt = copy_task_batch(4, 6, 10, torch.Generator().manual_seed(0))
    assert src.shape == (4, 6) and tgt.shape == (4, 7)
    assert (tgt[:, 0] == BOS_ID).all() and torch.equal(tgt[:, 1:], src)
    assert src.min() >= 2 and src.max() < 10
    src, tgt = copy_task_batch(4, 6, 10, torch.Generator().manual_seed(0), reverse=True)
    assert torch.equal(tgt[:, 1:], src.flip(1))


def test_copy_task_reaches_99_percent_greedy_token_accuracy() -> None:
    model, history = train_copy_task(steps=300, seed=0, device="cpu")
    assert history[-1]["loss"] < history[0]["loss"] / 10
    assert copy_task_accuracy(model, length=10, vocab=11) >= 0.99


def test_training_is_deterministic_with_a_seed() -> None:
    _, h1 = train_copy_task(steps=6, log_every=2, seed=3, device="cpu")
    _, h2 = train_copy_task(steps=6, log_every=2, seed=3, device="cpu")
    assert [r["loss"] for r in h1] == [r["loss"] for r in h2]
    assert {"step", "loss", "accuracy"} <= set(h1[0])


def test_char_lm_learns_the_corpus() -> None:
    text = load_corpus()
    assert 40_000 < len(text.encode("utf-8")) < 400_000
    cfg = TransformerConfig(vocab_size=0, d_model=48, n_heads=4, n_layers=1, d_ff=96, max_len=32, norm_first=True,
                            positional="learned")
    model, tok, history = train_char_lm(text[:20000], cfg, steps=60, batch=16, block=32, lr=3e-3, seed=0, log_every=20, device="cpu")
    assert history[-1]["loss"] < history[0]["loss"] - 1.0
    assert "val_loss" in history[-1]
    out = model.generate(torch.tensor([tok.encode("注意力")]), 10, greedy=True)
    assert tok.decode(out[0].tolist()).startswith("注意力")


def test_char_tokenizer_round_trips_chinese_and_ascii() -> None:
    tok = CharTokenizer.from_text("注意力 attention!")
    text = "注意 at tion"
    assert tok.decode(tok.encode(text)) == text
    assert tok.vocab_size == len(set("注意力 attention!")) + 1
    assert tok.encode("猫") == [tok.unk_id]
