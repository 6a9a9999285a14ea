# kbgen: measured
# %% [markdown]
# # 二次方的账：注意力 vs 前馈层
#
# 先用公式数一层 Transformer 的浮点运算（FLOPs），解出“注意力的二次项追上线性项”的交叉长度；
# 再把论文模型的宽度代进去；最后在本机实测 `transformer_core` 的注意力和前馈层的时间与内存。

# %% setup
import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]) if "__file__" in globals() else ".")

import matplotlib.pyplot as plt
import numpy as np
import torch

from transformer_core.attention import scaled_dot_product_attention
from transformer_core.configs import PRESETS
from transformer_core.feedforward import FeedForward
from transformer_core.measure import best_time, machine, peak_bytes
from transformer_core.report import print_table
from transformer_core.fonts import use_cjk_font

torch.manual_seed(0)
plt.rcParams.update({"figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white"})
use_cjk_font()  # Chinese figure text on Linux, macOS and Windows


# FLOPs of one layer's forward pass for n tokens (a matmul [a,b]x[b,c] costs 2abc FLOPs).
def flops_projections(n: float, d: float) -> float:
    return 4 * 2 * n * d * d  # Q, K, V and output projections


def flops_ffn(n: float, d: float, d_ff: float) -> float:
    return 2 * 2 * n * d * d_ff  # d -> d_ff -> d


def flops_attention_quadratic(n: float, d: float, causal: bool = False) -> float:
    full = 2 * 2 * n * n * d  # Q K^T and weights x V, summed over heads
    return full / 2 if causal else full  # a causal kernel skips the masked half


def crossover(d: float, d_ff: float, against: str, causal: bool) -> float:
    """Smallest n where the quadratic attention FLOPs reach the chosen linear FLOPs (bisection)."""
    def linear(n: float) -> float:
        ffn = flops_ffn(n, d, d_ff)
        return ffn if against == "ffn" else ffn + flops_projections(n, d)

    lo, hi = 1.0, 1e9
    for _ in range(200):
        mid = (lo * hi) ** 0.5
        lo, hi = (mid, hi) if flops_attention_quadratic(mid, d, causal) < linear(mid) else (lo, mid)
    return hi


# %% [markdown]
# ## 交叉长度：公式推导，代码求解
#
# 一层的 FLOPs：投影 $8nd^2$，前馈 $4nd\,d_{ff}$，注意力二次项 $4n^2d$（因果掩码减半为 $2n^2d$）。
# 代码对每种口径用二分法求出使二次项等于线性项的 $n$，再除以 $d$——结果与手推的 $4d, 6d, 8d, 12d$ 一致。

# %% crossover
KB_VALUES = {}  # values the notes bind into prose: {{quadratic_cost.py:key}}
d, d_ff = 768.0, 4 * 768.0
cases = [
    ("注意力 n^2 项 vs FFN", "ffn", False, 4),
    ("注意力 n^2 项 vs FFN + 投影（projections）", "all", False, 6),
    ("因果（causal，减半）n^2 项 vs FFN", "ffn", True, 8),
    ("因果（causal，减半）n^2 项 vs FFN + 投影（projections）", "all", True, 12),
]
print(f"d_ff = 4d。交叉长度（crossover）n*：注意力的二次 FLOPs 等于线性部分 FLOPs 时的序列长度：\n")
_tbl = [f"| 比较（comparison） | 方程 | n* / d | d = {int(d)} 时的 n* |"]
equations = {("ffn", False): "4n²d = 16nd²", ("all", False): "4n²d = 24nd²",
             ("ffn", True): "2n²d = 16nd²", ("all", True): "2n²d = 24nd²"}
for label, against, causal, expected in cases:
    n_star = crossover(d, d_ff, against, causal)
    _tbl.append(f"| {label} | {equations[(against, causal)]} | {n_star / d:.2f} | {n_star:,.0f} |")
    assert abs(n_star / d - expected) < 1e-6 * expected
print_table(_tbl)
print("\n一般的 d_ff：n* = d_ff（对比 FFN），n* = 2d + d_ff（对比 FFN + 投影）；因果（causal）时翻倍。")
assert abs(crossover(512, 1000, "ffn", False) - 1000) < 1e-3 and abs(crossover(512, 1000, "all", False) - 2024) < 1e-3
# The d = 4096 example in the note: from 4d (vs FFN) to 12d (causal, vs the whole layer).
KB_VALUES["crossover_4096_low"] = round(crossover(4096, 4 * 4096, "ffn", False))
KB_VALUES["crossover_4096_high"] = round(crossover(4096, 4 * 4096, "all", True))

# %% [markdown]
# ## 各部分 FLOPs 随长度变化
#
# 左：$d=768$（GPT-2 small / BERT-base 的宽度）时一层各部分的 FLOPs；右：注意力二次项占一层总 FLOPs 的比例，
# 不同宽度的模型曲线整体右移——越宽的模型，越晚撞上二次方的墙。

# %% flops_chart
ns = np.logspace(5, 20, 200, base=2)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
ax1.loglog(ns, flops_ffn(ns, d, d_ff), label="前馈层（FFN）  16 n d^2", lw=2)
ax1.loglog(ns, flops_projections(ns, d), label="Q/K/V/O 投影（projections）  8 n d^2", lw=2)
ax1.loglog(ns, flops_attention_quadratic(ns, d), label="注意力分数 + 加权求和  4 n^2 d", lw=2)
for mult, style in [(4, ":"), (6, "--")]:
    ax1.axvline(mult * d, color="gray", ls=style, lw=1)
    ax1.text(mult * d * 1.05, 1e9, f"n = {mult}d = {int(mult * d)}", rotation=90, fontsize=8, color="gray")
ax1.set_xlabel("序列长度 n（token 数）")
ax1.set_ylabel("每层 FLOPs（前向）")
ax1.set_title(f"一层，d = {int(d)}，d_ff = 4d")
ax1.legend(fontsize=8)
for width in [256, 768, 4096, 12288]:
    share = flops_attention_quadratic(ns, width) / (
        flops_attention_quadratic(ns, width) + flops_projections(ns, width) + flops_ffn(ns, width, 4 * width))
    ax2.semilogx(ns, share, lw=2, label=f"d = {width}")
ax2.axhline(0.5, color="gray", ls="--", lw=1)
ax2.set_xlabel("序列长度 n（token 数）")
ax2.set_ylabel("注意力 n^2 项占一层 FLOPs 的比例")
ax2.set_title("注意力何时占主导？（非因果）")
ax2.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 真实模型：交叉长度与“在自己的上下文长度上，注意力占多少”
#
# 宽度与上下文长度取自 `transformer_core.configs.PRESETS`（论文配置）。

# %% real_models
_tbl = ["| 模型 | d_model | d_ff | 上下文长度 n | 交叉长度 vs FFN（d_ff） | vs 整层（2d + d_ff） | 因果，整层 | 在自身上下文长度上注意力 n² 占比 |"]
for name in ["transformer-base", "bert-base", "gpt2-small", "gpt2-xl", "gpt-3"]:
    cfg = PRESETS[name]
    causal = cfg.arch == "decoder"
    n = cfg.max_len
    quad = flops_attention_quadratic(n, cfg.d_model, causal)
    share = quad / (quad + flops_projections(n, cfg.d_model) + flops_ffn(n, cfg.d_model, cfg.d_ff))
    c_ffn = crossover(cfg.d_model, cfg.d_ff, "ffn", False)
    c_all = crossover(cfg.d_model, cfg.d_ff, "all", False)
    c_causal = crossover(cfg.d_model, cfg.d_ff, "all", True)
    _tbl.append(f"| {name} | {cfg.d_model} | {cfg.d_ff} | {n} | {c_ffn:,.0f} | {c_all:,.0f} | {c_causal:,.0f} | {share:.1%} |")
    assert share < 0.5  # every classic preset runs below its crossover at its own context length
print_table(_tbl)
print("\n（仅解码器模型的占比按因果计数 2n²d 计算。）上下文长度取论文公布的最大值。")

# %% [markdown]
# ## 本机实测：时间
#
# 同一宽度 $d$ 下，分别计时 `scaled_dot_product_attention`（只含 $QK^\top$、softmax、乘 $V$，多头）
# 和 `FeedForward(d, 4d)`，取多次运行中最快的一次（单线程 CPU 时间，不受构建机上其他任务排队的影响）。
# 对数坐标上拟合斜率（用 n ≥ 256 的点）：注意力应接近 2，前馈层接近 1。

# %% measured
D_MODEL, N_HEADS = 128, 4
LENGTHS = [64, 128, 256, 512, 1024, 2048]
ffn = FeedForward(D_MODEL, 4 * D_MODEL).eval()
t_attn, t_ffn = [], []
for n in LENGTHS:
    x = torch.randn(1, n, D_MODEL)
    q = k = v = torch.randn(1, N_HEADS, n, D_MODEL // N_HEADS)
    t_attn.append(best_time(lambda: scaled_dot_product_attention(q, k, v)))
    t_ffn.append(best_time(lambda: ffn(x)))
t_attn, t_ffn = np.array(t_attn), np.array(t_ffn)
slope_attn = np.polyfit(np.log(LENGTHS[2:]), np.log(t_attn[2:]), 1)[0]
slope_ffn = np.polyfit(np.log(LENGTHS[2:]), np.log(t_ffn[2:]), 1)[0]
ratio = t_attn / t_ffn
above = np.nonzero(ratio >= 1)[0]
if len(above) and above[0] > 0:  # interpolate the crossing on log-log axes
    i = above[0]
    f = np.log(ratio[i - 1]) / (np.log(ratio[i - 1]) - np.log(ratio[i]))
    measured_cross = float(np.exp(np.log(LENGTHS[i - 1]) + f * (np.log(LENGTHS[i]) - np.log(LENGTHS[i - 1]))))
    cross_text = f"实测交叉长度 ≈ {measured_cross:,.0f} 个 token"
elif len(above):
    cross_text = f"n = {LENGTHS[0]} 时注意力已经更慢"
else:
    cross_text = f"n = {LENGTHS[-1]} 以内没有交叉"

fig, ax = plt.subplots(figsize=(7.5, 4.4))
ax.loglog(LENGTHS, t_attn * 1e3, "o-", lw=2, label=f"注意力核心（attention core，拟合斜率 {slope_attn:.2f}）")
ax.loglog(LENGTHS, t_ffn * 1e3, "s-", lw=2, label=f"前馈层 FFN d -> 4d -> d（拟合斜率 {slope_ffn:.2f}）")
ax.axvline(4 * D_MODEL, color="gray", ls=":", lw=1)
ax.text(4 * D_MODEL * 1.05, t_ffn.min() * 1e3, f"理论值 4d = {4 * D_MODEL}", rotation=90, fontsize=8, color="gray")
ax.set_xlabel("序列长度 n（token 数）")
ax.set_ylabel("每次前向调用的 CPU 时间（ms，多次取最快）")
ax.set_title(f"d = {D_MODEL}，{N_HEADS} 个头（head）：{cross_text}", fontsize=10)
ax.legend(fontsize=8)
fig.text(0.01, 0.01, f"构建时测量于：{machine()}", fontsize=7, color="dimgray")
fig.tight_layout(rect=(0, 0.03, 1, 1))
plt.show()
print(f"测量环境：{machine()}。")
print(f"{'n':>6} | {'注意力 CPU ms':>16} | {'FFN CPU ms':>10} | 注意力 / FFN")
for n, a, b in zip(LENGTHS, t_attn, t_ffn):
    print(f"{n:>6} | {a * 1e3:>16.3f} | {b * 1e3:>10.3f} | {a / b:>6.2f}")
print(f"{cross_text}；理论（FLOPs）交叉长度：{4 * D_MODEL}")
assert slope_attn > slope_ffn  # attention grows faster with n than the FFN

# %% [markdown]
# ## 本机实测：内存
#
# 在一次前向计算中，记录 torch 运算新分配、同时存活的张量字节数的峰值（不含事先准备好的输入）。
# 公式：注意力权重 $h\cdot n^2$ 个 float32，前馈层中间激活 $n\cdot d_{ff}$ 个 float32。

# %% memory
print(f"d = {D_MODEL}，{N_HEADS} 个头，float32。同时存活张量的峰值内存由 dispatch-mode 跟踪器测得。")
_tbl = [f"| n | 注意力权重 h·n²·4 B（公式） | 注意力峰值（实测） | FFN 隐藏层 n·4d·4 B（公式） | FFN 峰值（实测） |"]
mem_attn = []
for n in [256, 1024, 4096]:
    x = torch.randn(1, n, D_MODEL)
    q = k = v = torch.randn(1, N_HEADS, n, D_MODEL // N_HEADS)
    pa = peak_bytes(lambda: scaled_dot_product_attention(q, k, v))
    pf = peak_bytes(lambda: ffn(x))
    mem_attn.append(pa)
    w_formula, h_formula = N_HEADS * n * n * 4, n * 4 * D_MODEL * 4
    _tbl.append(f"| {n:,} | {w_formula / 2**20:,.2f} MiB | {pa / 2**20:,.2f} MiB | {h_formula / 2**20:,.2f} MiB | {pf / 2**20:,.2f} MiB |")
    assert pa >= w_formula  # the explicit implementation really holds the n x n weights
print_table(_tbl)
growth = mem_attn[-1] / mem_attn[-2]
print(f"\nn 增大 4 倍时，注意力峰值内存增长 {growth:.1f} 倍（二次增长应为 16 倍）。")
assert growth > 8
print("实测峰值约为公式的两倍：softmax 之前的分数和之后的权重"
      "同时存活（FFN 中则是非线性激活前后的隐藏层激活）。")
