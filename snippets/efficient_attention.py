# kbgen: measured
# %% [markdown]
# # 高效注意力：模式、实测与近似误差
#
# 用 `transformer_core.efficient` 中的实现：
#
# 1. 画出完整、滑动窗口、步长、块、全局 token、BigBird 式组合几种注意力模式；
# 2. 统计每种稀疏模式的密度，以及要叠几层注意力信息才能传遍整个序列；
# 3. 验证稀疏注意力 = 带掩码的完整注意力；
# 4. 在构建机上实测完整 / 滑动窗口 / 线性注意力的时间和内存随长度的变化（对数坐标拟合斜率）；
# 5. 测量 Performer 线性注意力的近似误差随随机特征数的变化。

# %% setup
import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]) if "__file__" in globals() else ".")

import matplotlib.pyplot as plt
import numpy as np
import torch

from transformer_core.attention import causal_mask, scaled_dot_product_attention
from transformer_core.efficient import (
    block_mask,
    block_sparse_attention,
    linear_attention,
    sliding_window_attention,
    sliding_window_mask,
    strided_attention,
    strided_mask,
)
from transformer_core.measure import best_time, machine, peak_bytes
from transformer_core.report import print_table
from transformer_core.fonts import use_cjk_font

torch.manual_seed(0)
plt.rcParams.update({"figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white"})
use_cjk_font()  # Chinese figure text on Linux, macOS and Windows


def bigbird_mask(L: int, window: int, n_global: int, n_random: int, seed: int = 0) -> torch.Tensor:
    """Bool [L, L]: sliding window + global tokens (first n_global) + n_random random keys per row."""
    g = torch.Generator().manual_seed(seed)
    m = sliding_window_mask(L, window).clone()
    m[:n_global, :] = True
    m[:, :n_global] = True
    rows = torch.arange(L)[:, None].expand(L, n_random)
    m[rows, torch.randint(0, L, (L, n_random), generator=g)] = True
    return m


def global_window_mask(L: int, window: int, n_global: int) -> torch.Tensor:
    m = sliding_window_mask(L, window).clone()
    m[:n_global, :] = True
    m[:, :n_global] = True
    return m


# %% [markdown]
# ## 1. 注意力模式
#
# 每个小图是一个 $L\times L$ 的布尔掩码：第 $i$ 行第 $j$ 列为黑色，表示查询 $i$ 可以看键 $j$。

# %% patterns
L = 32
patterns = {
    "完整注意力（full，O(n^2)）": torch.ones(L, L, dtype=torch.bool),
    "因果完整注意力（causal，GPT）": causal_mask(L, L),
    "滑动窗口（sliding window），w=3\n（Longformer）": sliding_window_mask(L, 3),
    "跨步（strided），stride=4\n（Sparse Transformer）": strided_mask(L, 4),
    "分块（block），block=8\n（块内局部）": block_mask(L, 8),
    "窗口 + 2 个全局 token\n（Longformer）": global_window_mask(L, 3, 2),
    "窗口 + 全局 + 随机\n（BigBird）": bigbird_mask(L, 2, 2, 2),
}
fig, axes = plt.subplots(1, len(patterns), figsize=(2.3 * len(patterns), 3.5))
for ax, (name, m) in zip(axes, patterns.items()):
    ax.imshow(~m, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(f"{name}\n占全部位置对的 {m.float().mean():.0%}", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
axes[0].set_ylabel("查询（query）i")
axes[0].set_xlabel("键（key）j")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 2. 稀疏度与“几层能传遍”
#
# $L=256$。把掩码看成一张图（查询 $i$ 从键 $j$ 获得信息），一层注意力让信息走一步。
# “0 → L−1”：位置 0 的信息最少几层能到达最后一个位置；“all pairs”：最少几层后每个位置都能获得
# 它被允许看到的所有位置的信息（因果模式只要求获得左边的信息）。

# %% sparsity_table
L = 256


def layers_needed(m: torch.Tensor, target: torch.Tensor, max_layers: int = 64) -> int | None:
    """Smallest number of attention layers after which reachability covers ``target`` (bool [L, L])."""
    step = m.float()
    reach = torch.eye(L, dtype=torch.bool) | m  # after one layer (plus the residual path)
    for layers in range(1, max_layers + 1):
        if bool((reach | ~target).all()):
            return layers
        reach = reach | ((step @ reach.float()) > 0)
    return None


full, causal = torch.ones(L, L, dtype=torch.bool), causal_mask(L, L)
table = [
    ("full", full, full),
    ("causal full", causal, causal),
    ("sliding window w=8", sliding_window_mask(L, 8), full),
    ("strided stride=16 (causal)", strided_mask(L, 16), causal),
    ("block-local block=16", block_mask(L, 16), full),
    ("window w=8 + 1 global", global_window_mask(L, 8, 1), full),
    ("BigBird w=4, 1 global, 2 random", bigbird_mask(L, 4, 1, 2), full),
]
print(f"L = {L}\n")
_tbl = ["| 稀疏模式（pattern） | 密度（nnz / L²） | 每个查询的分数个数 | 层数：0 → L−1 | 层数：所有位置对 |"]
results = {}
for name, m, target in table:
    first_last = torch.zeros(L, L, dtype=torch.bool)
    first_last[L - 1, 0] = True
    a = layers_needed(m, first_last)
    b = layers_needed(m, target)
    results[name] = (a, b)
    fmt = lambda x: "永不连通" if x is None else str(x)  # noqa: E731
    _tbl.append(f"| {name} | {m.float().mean():.1%} | {m.sum(1).float().mean():.1f} | {fmt(a)} | {fmt(b)} |")
print_table(_tbl)
assert results["full"] == (1, 1)
assert results["strided stride=16 (causal)"][1] == 2  # Sparse Transformer: any pair within two layers
assert results["block-local block=16"][0] is None  # blocks alone never talk to each other
assert results["window w=8 + 1 global"][1] == 2  # through the global token
print("\n跨步注意力（strided）2 层即可连通所有位置对；单纯的滑动窗口需要约 L/w 层；"
      "加 1 个全局 token 又回到 2 层；互相隔离的分块永远无法连通。")

# %% [markdown]
# ## 3. 稀疏注意力 = 带掩码的完整注意力
#
# `transformer_core.efficient` 的滑动窗口（按带状只计算 $2w+1$ 个分数）、块稀疏（逐块计算）和步长注意力，
# 与“完整注意力 + 对应掩码”逐元素比较。

# %% sparse_equivalence
g = torch.Generator().manual_seed(0)
B, H, L, dk = 2, 4, 128, 16
q, k, v = (torch.randn(B, H, L, dk, generator=g) for _ in range(3))
checks = [
    ("sliding window (banded), w=8",
     sliding_window_attention(q, k, v, window=8, need_weights=False)[0],
     scaled_dot_product_attention(q, k, v, mask=sliding_window_mask(L, 8))[0], L * 17),
    ("block-sparse, block=16",
     block_sparse_attention(q, k, v, block=16, need_weights=False)[0],
     scaled_dot_product_attention(q, k, v, mask=block_mask(L, 16))[0], L * 16),
    ("strided, stride=8 (causal)",
     strided_attention(q, k, v, stride=8)[0],
     scaled_dot_product_attention(q, k, v, mask=strided_mask(L, 8), causal=True)[0], int(strided_mask(L, 8).sum())),
]
print(f"B={B}, H={H}, L={L}, d_k={dk}\n")
_tbl = ["| sparse implementation | max abs difference vs masked full attention | scores needed (per head) | full attention |"]
for name, sparse_out, dense_out, n_scores in checks:
    diff = (sparse_out - dense_out).abs().max().item()
    _tbl.append(f"| {name} | {diff:.1e} | {n_scores:,} | {L * L:,} |")
    assert diff < 1e-5
print_table(_tbl)

# %% [markdown]
# ## 4. 实测：时间与内存随长度的变化
#
# $B=1$、4 个头、$d_k=32$。完整注意力用 `scaled_dot_product_attention`（显式计算 $n\times n$ 矩阵），
# 滑动窗口用带状实现（$w=16$，每个查询 33 个分数），线性注意力用 Performer 随机特征（$m=128$）。
# 时间取多次运行中最快的一次单线程 CPU 时间（不受构建机上其他任务排队的影响）；内存是运算过程中新分配张量的峰值。斜率用全部点拟合。

# %% timing
LENGTHS = [256, 512, 1024, 2048, 4096]
H, DK, WINDOW, M = 4, 32, 16, 128
feats = torch.randn(M, DK, generator=torch.Generator().manual_seed(1))
methods = {
    "full softmax attention": lambda q, k, v: scaled_dot_product_attention(q, k, v),
    f"sliding window (w={WINDOW})": lambda q, k, v: sliding_window_attention(q, k, v, window=WINDOW, need_weights=False),
    f"linear / Performer (m={M})": lambda q, k, v: linear_attention(q, k, v, features=feats),
}
times = {name: [] for name in methods}
mems = {name: [] for name in methods}
g = torch.Generator().manual_seed(0)
for n in LENGTHS:
    q, k, v = (torch.randn(1, H, n, DK, generator=g) for _ in range(3))
    for name, fn in methods.items():
        times[name].append(best_time(lambda: fn(q, k, v)))
        mems[name].append(peak_bytes(lambda: fn(q, k, v)))

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.4))
slopes = {}
for (name, t), marker in zip(times.items(), ["o", "s", "^"]):
    st = np.polyfit(np.log(LENGTHS), np.log(t), 1)[0]
    sm = np.polyfit(np.log(LENGTHS), np.log(mems[name]), 1)[0]
    slopes[name] = (st, sm)
    ax1.loglog(LENGTHS, np.array(t) * 1e3, marker + "-", lw=2, label=f"{name}：斜率（slope） {st:.2f}")
    ax2.loglog(LENGTHS, np.array(mems[name]) / 2**20, marker + "-", lw=2, label=f"{name}：斜率（slope） {sm:.2f}")
for ax, ylabel, title in [(ax1, "每次调用的 CPU 时间（ms）", "时间 vs 序列长度"),
                          (ax2, "张量峰值内存（MiB）", "内存 vs 序列长度")]:
    ax.set_xticks(LENGTHS, [str(n) for n in LENGTHS])
    ax.minorticks_off()
    ax.set_xlabel("序列长度 n（token 数）")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
fig.text(0.01, 0.01, f"构建时测量于：{machine()}。B=1，{H} 个头（head），d_k={DK}，float32。",
         fontsize=7, color="dimgray")
fig.tight_layout(rect=(0, 0.03, 1, 1))
plt.show()

print(f"测量环境：{machine()}。\n")
_tbl = ["| 方法（method） | " + " | ".join(f"n={n}" for n in LENGTHS) + " | 时间斜率 | 内存斜率 |"]
for name in methods:
    cells = " | ".join(f"{t * 1e3:.2f} ms / {m / 2**20:.1f} MiB" for t, m in zip(times[name], mems[name]))
    _tbl.append(f"| {name} | {cells} | {slopes[name][0]:.2f} | {slopes[name][1]:.2f} |")
print_table(_tbl)
full_name = "full softmax attention"
assert slopes[full_name][1] > 1.8  # the n x n matrix: memory is quadratic
assert all(slopes[name][1] < 1.2 for name in methods if name != full_name)  # the others: linear
assert all(slopes[full_name][0] > slopes[name][0] + 0.3 for name in methods if name != full_name)  # time: n^2 vs n

# %% [markdown]
# ## 5. 线性注意力的近似误差 vs 随机特征数
#
# 同一组 $Q,K,V$（$L=256$，$d_k=32$），对每个特征数 $m$ 用 8 组不同的随机特征，
# 计算 Performer 输出与精确 softmax 注意力输出的相对误差 $\lVert\hat Y-Y\rVert/\lVert Y\rVert$，
# 比较正交随机特征（FAVOR+ 的默认）与独立高斯特征。蒙特卡洛估计的误差应大致按 $m^{-1/2}$ 下降。

# %% approx_error
g = torch.Generator().manual_seed(0)
L, DK = 256, 32
q, k = (0.5 * torch.randn(1, 1, L, DK, generator=g) for _ in range(2))
v = torch.randn(1, 1, L, DK, generator=g)
exact, _ = scaled_dot_product_attention(q, k, v)
FEATURES = [8, 16, 32, 64, 128, 256, 512, 1024]
SEEDS = 8
errors = {True: [], False: []}
for orthogonal in (True, False):
    for m in FEATURES:
        errs = []
        for seed in range(SEEDS):
            approx, _ = linear_attention(q, k, v, n_features=m, orthogonal=orthogonal,
                                         generator=torch.Generator().manual_seed(seed))
            errs.append(((approx - exact).norm() / exact.norm()).item())
        errors[orthogonal].append((np.mean(errs), np.std(errs)))

fig, ax = plt.subplots(figsize=(7.5, 4.4))
for orthogonal, color in [(True, "tab:blue"), (False, "tab:orange")]:
    mean = np.array([e[0] for e in errors[orthogonal]])
    std = np.array([e[1] for e in errors[orthogonal]])
    slope = np.polyfit(np.log(FEATURES), np.log(mean), 1)[0]
    label = "正交随机特征（orthogonal，FAVOR+）" if orthogonal else "独立高斯特征（i.i.d. Gaussian）"
    ax.errorbar(FEATURES, mean, yerr=std, fmt="o-", color=color, capsize=3, label=f"{label}：斜率（slope） {slope:.2f}")
ref = errors[False][0][0] * (np.array(FEATURES) / FEATURES[0]) ** -0.5
ax.loglog(FEATURES, ref, "k--", lw=1, label="参考线 m^(-1/2)")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("随机特征数 m（random features）")
ax.set_ylabel("相对精确 softmax 注意力的相对误差")
ax.set_title(f"Performer 近似误差（L={L}，d_k={DK}，{SEEDS} 次抽样的均值 ± 标准差）", fontsize=10)
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

_tbl = ["| m | error, orthogonal | error, i.i.d. |"]
for m, eo, ei in zip(FEATURES, errors[True], errors[False]):
    _tbl.append(f"| {m} | {eo[0]:.3f} ± {eo[1]:.3f} | {ei[0]:.3f} ± {ei[1]:.3f} |")
print_table(_tbl)
assert errors[True][-1][0] < errors[True][0][0] / 3  # more features, smaller error
