# %% [markdown]
# # 注意力是一次“软查找”：从字典到核回归
#
# 本脚本用 `transformer_core.attention.scaled_dot_product_attention` 说明三件事：
#
# 1. 注意力是字典查找的“软化”版本：温度越低越像硬查找，越高越像求平均；
# 2. 高斯核的 Nadaraya–Watson 核回归**精确等于**一次点积注意力（数值验证）；
# 3. 注意力权重不等于解释：不同的权重可以给出完全相同的输出。

# %% setup
import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]) if "__file__" in globals() else ".")

import math

import matplotlib.pyplot as plt
import torch

from transformer_core.attention import scaled_dot_product_attention
from transformer_core.fonts import use_cjk_font

torch.manual_seed(0)
plt.rcParams.update({"figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white"})
use_cjk_font()  # Chinese figure text on Linux, macOS and Windows


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention on 2-D inputs q [Lq, d], k [Lk, d], v [Lk, dv] -> (out [Lq, dv], weights [Lq, Lk])."""
    out, w = scaled_dot_product_attention(q[None, None], k[None, None], v[None, None], scale=scale)
    return out[0, 0], w[0, 0]


# %% [markdown]
# ## 1. 硬查找与软查找
#
# 一个小“字典”：5 个键是二维单位向量（方向不同），值是一个数字。查询向量不等于任何一个键
# ——硬查找（精确匹配）找不到它；最近邻查找只返回一个键的值；软查找按相似度把所有值加权平均。
# 温度（temperature）$\tau$ 就是注意力的缩放：分数为 $q^\top k/\tau$。

# %% dict_lookup
names = ["apple", "banana", "cherry", "durian", "elderberry"]
angles = torch.tensor([0.0, 0.6, 1.2, 1.8, 2.4])
keys = torch.stack([angles.cos(), angles.sin()], dim=1)  # [5, 2]
values = torch.tensor([[10.0], [20.0], [30.0], [40.0], [50.0]])  # [5, 1]
query = torch.tensor([[math.cos(0.8), math.sin(0.8)]])  # between banana (0.6) and cherry (1.2)

exact = [n for n, k in zip(names, keys) if torch.equal(k, query[0])]
print("硬查找（exact match，精确匹配）：", exact[0] if exact else "KeyError —— 没有与查询（query）完全相等的键（key）")
nearest = int((keys @ query[0]).argmax())
print(f"最近邻查找（nearest neighbour）：{names[nearest]} -> {values[nearest].item():.1f}\n")

print(f"{'温度（temperature）':>11} | " + " | ".join(f"{n:>10}" for n in names) + " | 输出（output）")
outputs = {}
for tau in [0.02, 0.1, 0.5, 2.0, 100.0]:
    out, w = attend(query, keys, values, scale=1.0 / tau)
    outputs[tau] = out.item()
    print(f"{tau:>11g} | " + " | ".join(f"{x:>10.3f}" for x in w[0].tolist()) + f" | {out.item():6.2f}")
    assert abs(w.sum().item() - 1.0) < 1e-5  # a weighted average: the weights sum to 1

# The two limits stated in the note: low temperature -> nearest neighbour, high -> plain mean.
assert abs(outputs[0.02] - values[nearest].item()) < 0.5
assert abs(outputs[100.0] - values.mean().item()) < 0.5
print(f"\n低温 -> {outputs[0.02]:.2f}（最近邻的值 {values[nearest].item():.0f}）；"
      f"高温 -> {outputs[100.0]:.2f}（所有值的平均 {values.mean().item():.0f}）")

# %% [markdown]
# ## 2. Nadaraya–Watson 核回归 = 点积注意力
#
# 高斯核 $K(q-k)=\exp(-(q-k)^2/2\sigma^2)$。展开平方后，$-q^2/2\sigma^2$ 对同一行是常数（softmax 消掉），
# 剩下的两项可以写成点积：$\tilde q=[q/\sigma^2,\ 1]$，$\tilde k=[k,\ -k^2/2\sigma^2]$，缩放取 1。

# %% equivalence
g = torch.Generator().manual_seed(0)
n_train = 50
# float64: at small sigma the augmented scores are large (|q/sigma^2| ~ 500) and float32 rounding shows.
x_train = torch.sort(torch.rand(n_train, generator=g, dtype=torch.float64) * 5).values


def f_true(x: torch.Tensor) -> torch.Tensor:
    return 2 * torch.sin(x) + x**0.8


y_train = f_true(x_train) + 0.5 * torch.randn(n_train, generator=g, dtype=torch.float64)
x_test = torch.linspace(0, 5, 101, dtype=torch.float64)


def nadaraya_watson(x_query: torch.Tensor, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Classic kernel regression, written directly: returns (predictions [Lq], weights [Lq, n])."""
    kernel = torch.exp(-((x_query[:, None] - x_train[None, :]) ** 2) / (2 * sigma**2))
    weights = kernel / kernel.sum(dim=1, keepdim=True)
    return weights @ y_train, weights


def as_attention(x_query: torch.Tensor, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The same regression as one dot-product attention call with augmented queries and keys."""
    q = torch.stack([x_query / sigma**2, torch.ones_like(x_query)], dim=1)  # [Lq, 2]
    k = torch.stack([x_train, -(x_train**2) / (2 * sigma**2)], dim=1)  # [n, 2]
    out, w = attend(q, k, y_train[:, None], scale=1.0)
    return out[:, 0], w


print(f"{'sigma':>6} | {'max |NW - attention|（预测）':>34} | {'max |NW - attention|（权重）':>31}")
for sigma in [0.1, 0.3, 1.0]:
    p_nw, w_nw = nadaraya_watson(x_test, sigma)
    p_at, w_at = as_attention(x_test, sigma)
    dp, dw = (p_nw - p_at).abs().max().item(), (w_nw - w_at).abs().max().item()
    print(f"{sigma:>6} | {dp:>34.2e} | {dw:>31.2e}")
    assert dp < 1e-9 and dw < 1e-9
print("\n核回归（kernel regression）与 scaled_dot_product_attention 的结果在 float64 舍入误差内一致。")

# %% [markdown]
# ## 3. 带宽就是“注意力有多集中”
#
# 左：不同带宽 $\sigma$ 的核回归曲线；右：$\sigma=0.3$ 时的注意力权重矩阵（每行一个查询位置）。

# %% kernel_regression
SIGMAS = [0.05, 0.3, 2.0]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
ax1.plot(x_test, f_true(x_test), "k--", lw=1.5, label="真实函数（true function）")
ax1.plot(x_train, y_train, "o", color="gray", ms=4, alpha=0.7, label="训练样本（键 key、值 value）")
print(f"{'sigma':>6} | {'相对真实函数的均方误差（MSE）':>36} | {'每个查询的最大权重均值':>26}")
for sigma, color in zip(SIGMAS, ["tab:red", "tab:blue", "tab:green"]):
    pred, w = as_attention(x_test, sigma)
    mse = ((pred - f_true(x_test)) ** 2).mean().item()
    peak = w.max(dim=1).values.mean().item()
    print(f"{sigma:>6} | {mse:>36.3f} | {peak:>26.3f}")
    ax1.plot(x_test, pred, color=color, lw=2, label=f"注意力汇聚（attention pooling），sigma={sigma}（MSE {mse:.2f}）")
ax1.set_xlabel("x（查询 query）")
ax1.set_ylabel("y")
ax1.set_title("Nadaraya-Watson 核回归 = 注意力汇聚（attention pooling）")
ax1.legend(fontsize=8, loc="lower left")

_, w = as_attention(x_test, 0.3)
im = ax2.imshow(w, aspect="auto", cmap="viridis", extent=[0, n_train, 5, 0])
ax2.set_xlabel("训练样本序号（键 key，按 x 排序）")
ax2.set_ylabel("查询（query）x")
ax2.set_title("注意力权重（attention weight），sigma = 0.3")
fig.colorbar(im, ax=ax2, fraction=0.046)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 4. 注意力权重不等于解释
#
# 四个值向量中，位置 0 和 1 的值**完全相同**。两组完全不同的权重（一组集中在位置 0，
# 一组集中在位置 1）给出一模一样的输出——看热力图会得出“模型在看第 0 个词”或“在看第 1 个词”
# 两种相反的“解释”。第二个例子：权重最大的位置，若值向量很小，对输出的贡献也很小。

# %% not_explanation
v = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])  # positions 0 and 1 carry the same value
target_a = torch.tensor([0.70, 0.10, 0.10, 0.10])
target_b = torch.tensor([0.10, 0.70, 0.10, 0.10])
q = torch.ones(1, 1)
# Keys chosen so that the scores are log-weights: softmax then returns exactly the target weights.
out_a, w_a = attend(q, target_a.log()[:, None], v, scale=1.0)
out_b, w_b = attend(q, target_b.log()[:, None], v, scale=1.0)
print("例 1：不同的注意力权重，得到相同的输出")
print(f"  权重 A = {[round(x, 3) for x in w_a[0].tolist()]} -> 输出 {[round(x, 3) for x in out_a[0].tolist()]}")
print(f"  权重 B = {[round(x, 3) for x in w_b[0].tolist()]} -> 输出 {[round(x, 3) for x in out_b[0].tolist()]}")
assert not torch.allclose(w_a, w_b, atol=0.1)
assert torch.allclose(out_a, out_b, atol=1e-6)

v2 = torch.tensor([[0.05, 0.0], [0.0, 2.0], [1.0, 1.0], [-1.0, 0.5]])
out_c, w_c = attend(q, torch.tensor([[2.0], [0.0], [0.0], [-1.0]]), v2, scale=1.0)
contribution = (w_c[0][:, None] * v2).norm(dim=1)
print("\n例 2：权重最大的位置，贡献不一定最大")
print(f"  {'位置':>8} | {'权重':>7} | {'|值|':>7} | {'|权重 × 值|':>16}")
for j in range(4):
    print(f"  {j:>8} | {w_c[0, j].item():>7.3f} | {v2[j].norm().item():>7.3f} | {contribution[j].item():>16.3f}")
assert int(w_c[0].argmax()) != int(contribution.argmax())

fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
for ax, w, title in [(axes[0], w_a, "权重 A"), (axes[1], w_b, "权重 B")]:
    ax.bar(range(4), w[0], color=["tab:orange", "tab:orange", "tab:blue", "tab:blue"])
    ax.set_title(f"{title} -> 输出 {[round(x, 2) for x in (w @ v)[0].tolist()]}", fontsize=9)
    ax.set_xticks(range(4), ["位置 0", "位置 1", "位置 2", "位置 3"])
    ax.set_ylim(0, 1)
axes[0].set_ylabel("注意力权重（attention weight）")
axes[2].bar(range(4), w_c[0], width=0.4, label="权重（weight）", color="tab:gray")
axes[2].bar([x + 0.4 for x in range(4)], contribution, width=0.4, label="|权重 × 值|（贡献）", color="tab:green")
axes[2].set_xticks([x + 0.2 for x in range(4)], ["位置 0", "位置 1", "位置 2", "位置 3"])
axes[2].set_title("权重与实际贡献（contribution）", fontsize=9)
axes[2].legend(fontsize=8)
fig.suptitle("权重不同，输出相同（橙色柱对应的值向量完全相同）", fontsize=10)
fig.tight_layout()
plt.show()
