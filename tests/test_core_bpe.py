"""Byte-level BPE tokenizer: exact round trips, deterministic merges, compression grows with vocab."""

from __future__ import annotations

import random

import pytest

from transformer_core.bpe import N_BYTES, BPETokenizer, Merge, split_chunks, train
from transformer_core.data import CORPUS_PATH

CORPUS = CORPUS_PATH.read_text(encoding="utf-8")
TRAIN = CORPUS[:8000]


@pytest.fixture(scope="module")
def tokenizer() -> BPETokenizer:
    return BPETokenizer.train(TRAIN, 600)


def random_text(rng: random.Random, n: int) -> str:
    """Random code points from every plane, surrogates excluded (they are not valid in UTF-8)."""
    out = []
    for _ in range(n):
        cp = rng.choice([rng.randrange(0x20, 0x80), rng.randrange(0x4E00, 0x9FFF), rng.randrange(0x1F300, 0x1FAFF),
                         rng.randrange(0, 0xD800), rng.randrange(0xE000, 0x110000), ord(rng.choice(" \n\t_"))])
        out.append(chr(cp))
    return "".join(out)


@pytest.mark.parametrize("text", [
    "", "a", "猫", "注意力机制让每个词都能看到其他词。", "Hello, world!  Tabs\tand\nnewlines\r\n",
    "emoji 🙂🚀👩‍👩‍👧 and flags 🇨🇳", "x_1 = [1, 2, 3]  # code", "   leading and trailing   ", "ǅ Ω ß ﬁ ١٢٣ ½",
])
def test_round_trip_examples(tokenizer: BPETokenizer, text: str) -> None:
    assert tokenizer.decode(tokenizer.encode(text)) == text
    assert "".join(split_chunks(text)) == text


def test_round_trip_random_unicode(tokenizer: BPETokenizer) -> None:
    rng = random.Random(0)
    for _ in range(200):
        text = random_text(rng, rng.randrange(0, 40))
        assert tokenizer.decode(tokenizer.encode(text)) == text


def test_round_trip_of_training_text_and_ids_in_vocab(tokenizer: BPETokenizer) -> None:
    ids = tokenizer.encode(CORPUS)
    assert tokenizer.decode(ids) == CORPUS
    assert all(0 <= i < tokenizer.vocab_size for i in ids)


def test_merges_are_deterministic_and_well_formed() -> None:
    a, b = train(TRAIN, 500), train(TRAIN, 500)
    assert a == b
    assert [m.new_id for m in a] == list(range(N_BYTES, N_BYTES + len(a)))
    counts = [m.count for m in a]
    assert all(c >= 2 for c in counts)
    assert a[:100] == train(TRAIN, 356)  # a smaller vocabulary is a prefix of a bigger one


def test_first_merge_is_the_most_frequent_pair() -> None:
    text = "ab ab ab cd cd x"
    first = train(text, 257)[0]
    assert first == Merge(pair=(ord("a"), ord("b")), new_id=256, count=3)


def test_ties_go_to_the_smallest_pair() -> None:
    assert train("ba\nab\nba\nab", 257)[0].pair == (ord("a"), ord("b"))


def test_merges_never_cross_chunks() -> None:
    tok = BPETokenizer.train("aa bb " * 50, 300)
    assert all(b" " not in tok.vocab[m.new_id][1:] for m in tok.merges)  # a space only ever leads a token


def test_stops_when_no_pair_repeats() -> None:
    assert train("abcdef", 1000) == []


def test_compression_improves_with_vocab() -> None:
    held_out = CORPUS[8000:12000]
    lengths = [len(BPETokenizer.train(TRAIN, v).encode(held_out)) for v in (256, 300, 450, 700)]
    assert lengths[0] == len(held_out.encode("utf-8"))
    assert all(x > y for x, y in zip(lengths, lengths[1:]))


def test_a_learned_hanzi_is_one_token(tokenizer: BPETokenizer) -> None:
    assert len("的".encode("utf-8")) == 3
    assert tokenizer.encode("的") == [next(i for i, b in tokenizer.vocab.items() if b == "的".encode())]
    assert tokenizer.token_text(0xE4) == "\\xe4"  # part of a character prints as escaped bytes


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least 256"):
        train("abc", 100)
    with pytest.raises(ValueError, match="unknown id"):
        BPETokenizer([Merge(pair=(1, 999), new_id=256, count=2)])
