"""Presets: exact closed-form counts, published figures, and counting on the meta device."""

import pytest
import torch
from torch import nn

from transformer_core.configs import (
    COMPONENTS,
    PAPER_COUNTS,
    PRESETS,
    build,
    closed_form_count,
    component_breakdown,
    count_parameters,
)
from transformer_core.models import TransformerConfig

KNOWN = {
    "gpt2-small": 124_439_808,
    "gpt2-medium": 354_823_168,
    "gpt2-large": 774_030_080,
    "gpt2-xl": 1_557_611_200,
    "bert-base": 109_482_240,
    "bert-large": 335_141_888,
}


def test_every_contract_preset_exists() -> None:
    expected = {"transformer-base", "transformer-big", "bert-base", "bert-large", "gpt-1", "gpt2-small",
                "gpt2-medium", "gpt2-large", "gpt2-xl", "gpt-3"}
    assert set(PRESETS) == expected == set(PAPER_COUNTS)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_count_equals_closed_form_and_paper(name: str) -> None:
    count = count_parameters(name)
    assert count.total == closed_form_count(PRESETS[name])
    assert sum(count.by_component.values()) == count.total
    assert set(count.by_component) == set(COMPONENTS)
    assert abs(count.total / PAPER_COUNTS[name] - 1) < 0.05, (name, count.total)
    if name in KNOWN:
        assert count.total == KNOWN[name]


def test_nn_transformer_default_layer_stack() -> None:
    with torch.device("meta"):
        ref = nn.Transformer(batch_first=True)  # defaults: d=512, 8 heads, 6+6 layers, d_ff=2048, final norms
    assert sum(p.numel() for p in ref.parameters()) == 44_140_544
    count = count_parameters(PRESETS["transformer-base"])
    stack = count.total - count.by_component["embeddings"]
    assert stack == 44_140_544


def test_breakdown_of_gpt2_small() -> None:
    c = count_parameters("gpt2-small").by_component
    assert c["embeddings"] == 50257 * 768 + 1024 * 768
    assert c["attention"] == 12 * (4 * 768 * 768 + 4 * 768)
    assert c["ffn"] == 12 * (2 * 768 * 3072 + 3072 + 768)
    assert c["norms"] == (2 * 12 + 1) * 2 * 768
    assert c["head"] == 0  # tied to the token embedding


def test_untied_head_is_counted_as_head() -> None:
    cfg = TransformerConfig(vocab_size=100, d_model=8, n_heads=2, n_layers=1, d_ff=16, max_len=10, tie_embeddings=False)
    c = count_parameters(cfg)
    assert c.by_component["head"] == 800
    assert c.total == closed_form_count(cfg)
    mlm = TransformerConfig(vocab_size=100, d_model=8, n_heads=2, n_layers=1, d_ff=16, max_len=10, arch="encoder")
    assert count_parameters(mlm).total == closed_form_count(mlm)
    assert count_parameters(mlm).by_component["head"] == 8 * 8 + 8 + 16 + 100


def test_counting_gpt3_allocates_no_parameter_memory() -> None:
    def rss_bytes() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    before = rss_bytes()
    model = build("gpt-3")
    count = component_breakdown(model)
    grown = rss_bytes() - before
    assert all(p.is_meta for p in model.parameters())
    assert count.total > 170e9
    assert grown < 200e6  # 175B float32 parameters would be 700 GB


def test_build_on_cpu_gives_a_runnable_model() -> None:
    cfg = TransformerConfig(vocab_size=50, d_model=16, n_heads=2, n_layers=1, d_ff=32, max_len=20, arch="encoder-decoder")
    model = build(cfg, device="cpu")
    ids = torch.randint(0, 50, (1, 5))
    assert model(ids, ids).shape == (1, 5, 50)
    with pytest.raises(KeyError):
        build("gpt-5")
