# %% [markdown]
# # 前馈神经网络（FFN）
#
# 1. “逐位置”（position-wise）是什么意思：整句一起算 = 每个字单独算。
# 2. 激活函数 ReLU / GELU / Swish(SiLU) 的曲线与导数；SwiGLU 的参数量。
# 3. 参数都去哪儿了：由预设模型（在 meta 设备上构建）数出的 FFN 与注意力参数占比。

# %% setup
import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]) if "__file__" in globals() else ".")

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from transformer_core.configs import PRESETS, count_parameters
from transformer_core.feedforward import ACTIVATIONS, FeedForward, SwiGLU
from transformer_core.fonts import use_cjk_font

torch.manual_seed(0)
plt.rcParams.update({"figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white"})
use_cjk_font()  # Chinese figure text on Linux, macOS and Windows
KB_VALUES = {}  # values the notes bind into prose: {{feed_forward.py:key}}

# %% position_wise
d_model, d_ff, L = 16, 64, 5
ffn = FeedForward(d_model, d_ff).eval()
x = torch.randn(1, L, d_model)
with torch.no_grad():
    together = ffn(x)  # the whole sentence at once
    one_by_one = torch.cat([ffn(x[:, i : i + 1]) for i in range(L)], dim=1)  # each token alone
    shuffled = ffn(x[:, torch.tensor([4, 2, 0, 3, 1])])
diff = (together - one_by_one).abs().max().item()
print(f"FFN: d_model={d_model} -> d_ff={d_ff} -> d_model={d_model}，参数 {sum(p.numel() for p in ffn.parameters())} 个"
      f" = 2·d·d_ff + d_ff + d = {2 * d_model * d_ff + d_ff + d_model}")
print(f"整句一起算 vs 每个位置单独算，最大绝对误差: {diff:.1e}")
print(f"打乱顺序后，第 0 个输出是否等于原来第 4 个位置的输出: {torch.allclose(shuffled[0, 0], together[0, 4], atol=1e-6)}")
# Checked claim: the FFN never mixes positions (the same MLP applied to each token independently).
assert diff < 1e-6
assert torch.allclose(shuffled[0, 0], together[0, 4], atol=1e-6)

# %% activations
xs = torch.linspace(-4, 4, 401, requires_grad=True)
curves = {
    "ReLU (2017)": ACTIVATIONS["relu"],
    "GELU (BERT, erf)": ACTIVATIONS["gelu"],
    "GELU tanh 近似（GPT-2）": ACTIVATIONS["gelu_tanh"],
    "Swish / SiLU（SwiGLU 的门控）": F.silu,
}
fig, axes = plt.subplots(1, 3, figsize=(15, 4), constrained_layout=True)
for (name, fn), style in zip(curves.items(), ["-", "-", ":", "--"]):
    y = fn(xs)
    (grad,) = torch.autograd.grad(y.sum(), xs)
    axes[0].plot(xs.detach().numpy(), y.detach().numpy(), style, lw=2, label=name)
    axes[1].plot(xs.detach().numpy(), grad.numpy(), style, lw=2, label=name)
axes[0].set_title("激活函数（activation）f(x)")
axes[1].set_title("导数 f'(x)：x < 0 时 ReLU 不传梯度（gradient）")
for ax in axes[:2]:
    ax.axhline(0, color="gray", lw=0.5)
    ax.axvline(0, color="gray", lw=0.5)
    ax.set_xlabel("x")
    ax.grid(alpha=0.3)
axes[0].legend(fontsize=8)

# One SwiGLU unit (d_model=2, d_ff=1): input (a, b), gate w1 reads a, value w3 reads b, w2 copies
# the product back, so the output is SiLU(a) * b: the gate decides how much of the value passes.
unit = SwiGLU(2, 1)
with torch.no_grad():
    unit.w1.weight.copy_(torch.tensor([[1.0, 0.0]]))
    unit.w3.weight.copy_(torch.tensor([[0.0, 1.0]]))
    unit.w2.weight.copy_(torch.tensor([[1.0], [0.0]]))
    grid = torch.linspace(-4, 4, 161)
    a, b = torch.meshgrid(grid, grid, indexing="xy")
    gated = unit(torch.stack([a, b], dim=-1))[..., 0]
im = axes[2].imshow(gated.numpy(), origin="lower", extent=(-4, 4, -4, 4), cmap="RdBu_r", vmin=-16, vmax=16)
axes[2].set_xlabel("门控输入（gate）a  (x W)")
axes[2].set_ylabel("值输入（value）b  (x V)")
axes[2].set_title("SwiGLU 单元：SiLU(a) * b")
fig.colorbar(im, ax=axes[2])
plt.show()
assert torch.allclose(gated, F.silu(a) * b, atol=1e-5), "SwiGLU computes w2(silu(w1 x) * w3 x)"

probe = torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0])
print(f"{'x':>30}" + "".join(f"{v:>8.1f}" for v in probe.tolist()))
for name, fn in curves.items():
    print(f"{name:>30}" + "".join(f"{v:>8.3f}" for v in fn(probe).tolist()))
gap = (ACTIVATIONS["gelu"](xs) - ACTIVATIONS["gelu_tanh"](xs)).abs().max().item()
print(f"\nGELU 精确式与 tanh 近似的最大差: {gap:.1e}")
assert gap < 1e-3

# SwiGLU has three matrices; with d_ff = 2/3 * 4d it costs the same as a 4d ReLU/GELU FFN.
d = 768
swiglu = SwiGLU(d, int(2 * 4 * d / 3))
plain = FeedForward(d, 4 * d, bias=False)
n_swiglu, n_plain = sum(p.numel() for p in swiglu.parameters()), sum(p.numel() for p in plain.parameters())
print(f"d_model={d}: SwiGLU(d_ff={int(2 * 4 * d / 3)}) 参数 {n_swiglu:,}，FFN(d_ff={4 * d}, 无偏置) 参数 {n_plain:,}")
assert abs(n_swiglu / n_plain - 1) < 0.01

# %% param_share
def n_attention_blocks(cfg) -> int:
    """Attention modules in the model: one per encoder/decoder-only layer, two per 2017 decoder layer."""
    if cfg.arch == "encoder-decoder":
        return cfg.n_layers + 2 * cfg.decoder_layers
    return cfg.n_layers


def n_ffn_blocks(cfg) -> int:
    return cfg.n_layers + (cfg.decoder_layers if cfg.arch == "encoder-decoder" else 0)


def human(n: float) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"


rows = []
print("列：总参数量 | 嵌入（embeddings） | 注意力（attention） | FFN | FFN/注意力 | FFN 占非嵌入参数的比例")
print(f"{'模型':<17}{'总量':>9}{'嵌入':>9}{'注意力':>9}{'FFN':>9}{'FFN/注意力':>10}{'FFN 占比':>11}")
for name, cfg in PRESETS.items():
    pc = count_parameters(name)
    c = pc.by_component
    non_embedding = pc.total - c["embeddings"] - c["head"]
    ratio, share = c["ffn"] / c["attention"], c["ffn"] / non_embedding
    rows.append((name, cfg, pc, ratio, share))
    print(f"{name:<17}{human(pc.total):>9}{human(c['embeddings']):>9}{human(c['attention']):>9}{human(c['ffn']):>9}"
          f"{ratio:>10.2f}{share:>11.0%}")
    # Checked claims: the counts match the formulas 4d^2+4d per attention module and
    # 2·d·d_ff + d_ff + d per FFN; with d_ff = 4d the FFN has ~2x the attention parameters
    # (4/3 in the 2017 encoder-decoder, whose decoder layers hold two attention modules).
    d, f = cfg.d_model, cfg.d_ff
    assert c["attention"] == n_attention_blocks(cfg) * (4 * d * d + 4 * d), name
    assert c["ffn"] == n_ffn_blocks(cfg) * (2 * d * f + f + d), name
    expected = 2.0 * n_ffn_blocks(cfg) / n_attention_blocks(cfg)
    assert abs(ratio - expected) < 0.01 * expected, (name, ratio, expected)

decoder_only = [share for name, cfg, pc, ratio, share in rows if cfg.arch != "encoder-decoder"]
print(f"\n仅编码器 / 仅解码器模型中，FFN 占非嵌入参数的 {min(decoder_only):.0%}–{max(decoder_only):.0%}"
      "（其余主要是注意力，LayerNorm 只占极小一部分）")
assert all(0.6 < s < 0.7 for s in decoder_only), "FFN holds about two thirds of the non-embedding parameters"
KB_VALUES["ffn_over_attention"] = round(min(r[3] for r in rows if r[1].arch != "encoder-decoder"), 2)  # GPT/BERT layers
KB_VALUES["ffn_share_min"] = round(min(decoder_only), 2)
KB_VALUES["ffn_share_max"] = round(max(decoder_only), 2)

fig, ax = plt.subplots(figsize=(10, 3.8), constrained_layout=True)
names = [r[0] for r in rows]
parts = ["embeddings", "attention", "ffn", "norms", "head", "other"]
left = torch.zeros(len(rows))
for part, color in zip(parts, ["#9e9e9e", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#8c564b"]):
    frac = torch.tensor([r[2].by_component[part] / r[2].total for r in rows])
    ax.barh(names, frac.numpy(), left=left.numpy(), color=color, label={"embeddings": "嵌入（embeddings）", "attention": "注意力（attention）", "ffn": "前馈（FFN）", "norms": "归一化（norms）", "head": "输出头（head）", "other": "其他（other）"}[part])
    left += frac
ax.invert_yaxis()
ax.set_xlabel("占全部参数的比例")
ax.set_title("参数都在哪里（在 meta device 上按 transformer_core 预设统计）")
ax.legend(ncol=6, fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.08))
ax.set_xlim(0, 1)
plt.show()
