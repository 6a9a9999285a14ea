# kbgen: timeout=180
# %% [markdown]
# # 原始 Transformer (2017)：编码器-解码器
#
# 本脚本配合笔记 [[架构演进/原始Transformer]]：
#
# 1. 从 `transformer_core.configs.PRESETS` 读出论文中 base / big 两种规模的超参数；
# 2. 画出论文的预热学习率（warmup）曲线；
# 3. 在 CPU 上训练一个迷你编码器-解码器完成“倒序”任务（reverse task），展示贪心解码和交叉注意力图；
# 4. 在 `meta` 设备上构建 base / big 模型，数出参数量，与论文的 65M / 213M 以及原始笔记的“约1亿参数”对照，并用 `assert` 检查。

# %%
import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]) if "__file__" in globals() else ".")

import matplotlib.pyplot as plt
import numpy as np
import torch

from transformer_core.configs import PAPER_COUNTS, PRESETS, count_parameters
from transformer_core.data import BOS_ID, copy_task_batch
from transformer_core.train import copy_task_accuracy, train_copy_task
from transformer_core.fonts import use_cjk_font

plt.rcParams.update({"figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white"})
use_cjk_font()  # Chinese figure text on Linux, macOS and Windows
KB_VALUES = {}  # values the notes bind into prose: {{transformer_2017.py:key}}
torch.manual_seed(0)
PAPER_NAMES = ["transformer-base", "transformer-big"]

# %% [markdown]
# ## 论文的两种规模
# 超参数直接从预设配置（presets）中读出；$d_k = d_\text{model} / h$ 是每个头的维度。

# %% config_table
print(f"{'配置（preset）':<14}{'层数 N':>9}{'d_model':>9}{'头数 h':>9}{'d_k':>6}{'d_ff':>7}{'词表':>8}{'dropout':>9}")
for name in PAPER_NAMES:
    c = PRESETS[name]
    print(f"{name:<18}{c.n_layers:>11}{c.d_model:>9}{c.n_heads:>10}{c.d_model // c.n_heads:>6}{c.d_ff:>7}{c.vocab_size:>8}{c.dropout:>9}")

# %% [markdown]
# ## 预热学习率
# 论文公式：$\mathrm{lr} = d_\text{model}^{-0.5}\cdot\min(\text{step}^{-0.5},\ \text{step}\cdot\text{warmup}^{-1.5})$，warmup = 4000。

# %% lr_schedule
def paper_lr(step: np.ndarray, d_model: int, warmup: int = 4000) -> np.ndarray:
    """Learning rate of Vaswani et al. (2017), eq. 3, for steps >= 1."""
    return d_model**-0.5 * np.minimum(step**-0.5, step * warmup**-1.5)


steps = np.arange(1, 100_001)
fig, ax = plt.subplots(figsize=(7, 3.2))
for name in PAPER_NAMES:
    d = PRESETS[name].d_model
    ax.plot(steps, paper_lr(steps, d), label=f"{name} (d_model={d})")
ax.axvline(4000, color="gray", ls="--", lw=1)
ax.text(4500, ax.get_ylim()[1] * 0.9, "预热（warmup） = 4000 步", color="gray")
ax.set_xlabel("训练步数（training step）")
ax.set_ylabel("学习率（learning rate）")
ax.set_title("先预热、再按步数平方根的倒数衰减（Vaswani 等 2017）")
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 训练一个迷你编码器-解码器：把数字串倒过来
# 输入是 8 个随机数字，目标是把它们倒序输出。《The Annotated Transformer》的玩具任务是原样复制（copy）；
# 倒序是它的一个变体，对齐图是反对角线，更容易看出交叉注意力在做什么。
# 模型：2 层编码器 + 2 层解码器，宽度 64，4 个头；训练 300 步，固定随机种子。

# %% train_reverse
LENGTH, VOCAB = 8, 12  # ids 0 = pad, 1 = BOS, 2..11 = the digits 0..9
model, history = train_copy_task(length=LENGTH, vocab=VOCAB, steps=300, batch=64, d_model=64, n_heads=4,
                                 n_layers=2, d_ff=128, reverse=True, seed=0, log_every=10, device="cpu")
n_params = sum(p.numel() for p in model.parameters())
print(f"模型：{n_params:,} 个参数；最终训练损失 {history[-1]['loss']:.4f}，"
      f"teacher-forced token accuracy {history[-1]['accuracy']:.1%}")

fig, ax1 = plt.subplots(figsize=(7, 3.2))
ax1.plot([h["step"] for h in history], [h["loss"] for h in history], color="tab:blue")
ax1.set_yscale("log")
ax1.set_xlabel("步数（step）")
ax1.set_ylabel("交叉熵损失（对数坐标）", color="tab:blue")
ax2 = ax1.twinx()
ax2.plot([h["step"] for h in history], [h["accuracy"] for h in history], color="tab:orange")
ax2.set_ylabel("逐词准确率（token accuracy）", color="tab:orange")
ax2.set_ylim(0, 1.02)
ax1.set_title("编码器-解码器学习把数字串倒过来")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 贪心解码
# 从 `BOS` 开始，每一步取概率最高的符号接到输出后面。下面是从未见过的随机输入；
# 最后一行是在 256 条新序列上的逐位准确率（不使用 teacher forcing）。

# %% greedy_decoding
def show(ids: torch.Tensor) -> str:
    return " ".join(str(int(i) - 2) for i in ids)


src, tgt = copy_task_batch(5, LENGTH, VOCAB, torch.Generator().manual_seed(42), reverse=True)
out = model.greedy_decode(src, LENGTH + 1, BOS_ID)
print(f"{'输入':<16} {'期望（倒序）':<14} {'贪心解码输出':<12} 正确")
for s, t, o in zip(src, tgt, out):
    print(f"{show(s):<18} {show(t[1:]):<20} {show(o[1:]):<18} {'是' if torch.equal(t, o) else '否'}")
accuracy = copy_task_accuracy(model, LENGTH, VOCAB, batch=256, seed=1234, reverse=True)
print(f"\n在 256 条新序列上，贪心解码的逐词准确率：{accuracy:.1%}")
assert accuracy >= 0.95, accuracy
KB_VALUES["reverse_accuracy"] = round(accuracy, 3)
KB_VALUES["reverse_params"] = n_params

# %% [markdown]
# ## 交叉注意力图
# 解码器写第 $i$ 个输出时对输入第 $j$ 个位置的注意力权重（各头平均）。倒序任务的理想模式是反对角线。
# 我们给每个解码器层挂一个前向预钩子（forward pre-hook）打开 `need_weights`，
# 层把最近一次的交叉注意力权重存在 `.last_cross_weights` 中。

# %% cross_attention_map
def want_weights(module, args, kwargs):
    return args, {**kwargs, "need_weights": True}


hooks = [layer.register_forward_pre_hook(want_weights, with_kwargs=True) for layer in model.decoder]
with torch.no_grad():
    model(src[:1], out[:1, :-1])  # teacher-force the model's own greedy output
for h in hooks:
    h.remove()

x_labels = [str(int(i) - 2) for i in src[0]]
y_labels = ["BOS"] + [str(int(i) - 2) for i in out[0, 1:-1]]
fig, axes = plt.subplots(1, len(model.decoder), figsize=(4.2 * len(model.decoder), 4))
for li, (ax, layer) in enumerate(zip(np.atleast_1d(axes), model.decoder)):
    w = layer.last_cross_weights[0].mean(0).numpy()  # [Lt, Ls], averaged over heads
    ax.imshow(w, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(LENGTH), x_labels)
    ax.set_yticks(range(LENGTH), y_labels)
    ax.set_xlabel("输入（原文）位置的数字")
    ax.set_ylabel("解码器输入 → 预测下一个")
    ax.set_title(f"解码器第 {li + 1} 层：交叉注意力（各头平均）")
fig.tight_layout()
plt.show()

last = model.decoder[-1].last_cross_weights[0].mean(0)
hits = (last.argmax(-1) == torch.arange(LENGTH - 1, -1, -1)).float().mean().item()
print(f"最后一层：{hits:.0%} 的输出位置把最大的注意力给了镜像位置的输入")
KB_VALUES["mirror_hits"] = round(hits, 3)

# %% [markdown]
# ## 参数量：核对“约1亿参数”
# 在 `meta` 设备上构建模型（只有形状，不分配内存），逐个张量计数并按组件分类。

# %% param_counts
counts = {name: count_parameters(name) for name in PAPER_NAMES}
components = ["embeddings", "attention", "ffn", "norms", "head", "other"]
print(f"{'组件':<10}" + "".join(f"{n:>20}" for n in PAPER_NAMES))
for comp in components:
    print(f"{comp:<12}" + "".join(f"{counts[n].by_component.get(comp, 0):>20,}" for n in PAPER_NAMES))
print(f"{'合计':<10}" + "".join(f"{counts[n].total:>20,}" for n in PAPER_NAMES))
print(f"{'论文':<10}" + "".join(f"{PAPER_COUNTS[n]:>20,.0f}" for n in PAPER_NAMES))
print(f"{'差异':<10}" + "".join(f"{counts[n].total / PAPER_COUNTS[n] - 1:>+20.1%}" for n in PAPER_NAMES))

# The layer stack alone, cross-checked against PyTorch's own nn.Transformer with the same shape.
for name in PAPER_NAMES:
    c = PRESETS[name]
    with torch.device("meta"):
        ref = torch.nn.Transformer(d_model=c.d_model, nhead=c.n_heads, num_encoder_layers=c.n_layers,
                                   num_decoder_layers=c.decoder_layers, dim_feedforward=c.d_ff,
                                   batch_first=True)  # [B, L, d] like ours; also avoids nested-tensor warning
    ref_attn_ffn = sum(p.numel() for n, p in ref.named_parameters() if "attn" in n or "linear" in n)
    ours = counts[name].by_component["attention"] + counts[name].by_component["ffn"]
    print(f"{name}：注意力 + FFN = {ours:,}；torch.nn.Transformer 的注意力 + FFN = {ref_attn_ffn:,}")
    assert ours == ref_attn_ffn, (ours, ref_attn_ffn)

base, big = counts["transformer-base"].total, counts["transformer-big"].total
print(f"\n原始笔记：约1亿参数。计算结果：base {base / 1e6:.1f}M，big {big / 1e6:.1f}M "
      f"（论文：{PAPER_COUNTS['transformer-base'] / 1e6:.0f}M、{PAPER_COUNTS['transformer-big'] / 1e6:.0f}M）")
for name in PAPER_NAMES:
    assert abs(counts[name].total / PAPER_COUNTS[name] - 1) < 0.05, name
assert 50e6 < base < 80e6, base  # "about 100M" is the order of magnitude: base is 0.5-0.8 x 10^8
assert 150e6 < big < 250e6, big
KB_VALUES["params_base"] = base
KB_VALUES["params_big"] = big
KB_VALUES["diff_base"] = round(base / PAPER_COUNTS["transformer-base"] - 1, 4)
KB_VALUES["diff_big"] = round(big / PAPER_COUNTS["transformer-big"] - 1, 4)
KB_VALUES["weights_mb_fp32_base"] = round(base * 4 / 1e6)
KB_VALUES["within_5pct_of_paper"] = bool(all(abs(counts[n].total / PAPER_COUNTS[n] - 1) < 0.05 for n in PAPER_NAMES))
assert KB_VALUES["within_5pct_of_paper"], "within_5pct_of_paper"
KB_VALUES["about_1e8_is_order_only"] = bool(50e6 < base < 80e6 and 150e6 < big < 250e6)
assert KB_VALUES["about_1e8_is_order_only"], "about_1e8_is_order_only"
