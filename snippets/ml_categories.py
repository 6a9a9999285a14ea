# %% [markdown]
# # 机器学习的三大类别：各跑一个最小例子
#
# - **监督学习**：两个交错的“月牙”点集，用一个小神经网络分类（隐藏层是 Transformer 里的前馈网络 `FeedForward`）；
# - **无监督学习**：三团没有标签的点，用 k-means 自己找出分组；
# - **强化学习**：5×5 格子世界，用 Q 学习从奖励中学会走到终点、避开陷阱。
#
# 所有数据都由代码生成，随机种子固定，每次运行结果相同。

# %% setup
import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]) if "__file__" in globals() else ".")

import itertools
import unicodedata

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from transformer_core.feedforward import FeedForward
from transformer_core.fonts import use_cjk_font

torch.manual_seed(0)
plt.rcParams.update({"figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white"})
use_cjk_font()  # Chinese figure text on Linux, macOS and Windows


def print_table(header: list[str], rows: list[list[str]]) -> None:
    """Print a Markdown pipe table aligned for a monospace view (CJK characters count double)."""
    def width(s: str) -> int:
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)

    widths = [max(width(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = lambda r: "| " + " | ".join(str(c) + " " * (w - width(str(c))) for c, w in zip(r, widths)) + " |"  # noqa: E731
    print("\n".join([fmt(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [fmt(r) for r in rows]))


def two_moons(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n points on two interleaving half circles -> X [n, 2] float, y [n] in {0, 1}."""
    y = rng.integers(0, 2, n)
    t = rng.uniform(0, np.pi, n)
    x = np.where(y == 0, np.cos(t), 1 - np.cos(t))
    z = np.where(y == 0, np.sin(t), 0.5 - np.sin(t))
    X = np.stack([x, z], axis=1) + rng.normal(0, noise, (n, 2))
    return X.astype(np.float32), y


# %% supervised
rng = np.random.default_rng(0)
X_train, y_train = two_moons(400, 0.15, rng)
X_test, y_test = two_moons(400, 0.15, rng)  # fresh points the model never sees while training

D = 16
classifier = nn.Sequential(nn.Linear(2, D), FeedForward(D, 4 * D, activation="gelu"), nn.Linear(D, 2))
opt = torch.optim.Adam(classifier.parameters(), lr=1e-2)
Xt, yt = torch.from_numpy(X_train), torch.from_numpy(y_train)
sup_losses = []
for step in range(300):
    loss = F.cross_entropy(classifier(Xt), yt)  # supervised: every point has its label
    opt.zero_grad()
    loss.backward()
    opt.step()
    sup_losses.append(loss.item())

with torch.no_grad():
    train_acc = (classifier(Xt).argmax(-1) == yt).float().mean().item()
    test_acc = (classifier(torch.from_numpy(X_test)).argmax(-1).numpy() == y_test).mean()
print(f"训练点：{len(y_train)}，测试点：{len(y_test)}，参数：{sum(p.numel() for p in classifier.parameters())}")
print(f"交叉熵损失（cross-entropy loss）：{sup_losses[0]:.3f} -> {sup_losses[-1]:.3f}")
print(f"准确率  训练集：{train_acc:.1%}   测试集（未见过）：{test_acc:.1%}")
assert test_acc > 0.9, "a small MLP separates the two moons"

gx, gy = np.meshgrid(np.linspace(-1.5, 2.5, 200), np.linspace(-1.0, 1.5, 160))
with torch.no_grad():
    grid = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32))
    prob = classifier(grid).softmax(-1)[:, 1].numpy().reshape(gx.shape)
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
ax.contourf(gx, gy, prob, levels=20, cmap="RdBu_r", alpha=0.35)
ax.contour(gx, gy, prob, levels=[0.5], colors="k", linewidths=1)
ax.scatter(*X_test.T, c=y_test, cmap="bwr", s=8, edgecolors="none")
ax.set(title=f"监督学习（supervised）：决策边界（测试准确率 {test_acc:.0%}）", xlabel="x1", ylabel="x2")
ax2.plot(sup_losses)
ax2.set(title="训练损失（交叉熵 cross-entropy）", xlabel="步数（step）", ylabel="损失（loss）")
fig.tight_layout()
plt.show()

# %% unsupervised
rng = np.random.default_rng(1)
centers = np.array([[0.0, 0.0], [4.0, 1.0], [1.5, 4.0]])
true_group = np.repeat(np.arange(3), 150)
X = centers[true_group] + rng.normal(0, 0.8, (450, 2))


def kmeans(X: np.ndarray, k: int, iters: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Lloyd's algorithm -> (assignments [n], centroids [k, 2], objective J after each iteration)."""
    mu = X[rng.choice(len(X), k, replace=False)]
    history = []
    for _ in range(iters):
        d = ((X[:, None, :] - mu[None]) ** 2).sum(-1)  # [n, k] squared distances
        assign = d.argmin(1)
        mu = np.stack([X[assign == j].mean(0) if (assign == j).any() else mu[j] for j in range(k)])
        history.append(float(((X - mu[assign]) ** 2).sum()))
    return assign, mu, history


assign, mu, J = kmeans(X, 3, 10, rng)
# The labels were never shown to k-means; compare only after the fact, under the best matching of names.
agreement = max((np.array(perm)[assign] == true_group).mean() for perm in itertools.permutations(range(3)))
print(f"数据点：{len(X)} 个（不给标签），k = 3")
print("每轮迭代的目标函数 J：" + ", ".join(f"{j:.0f}" for j in J))
print(f"与隐藏的真实分组的一致率（取最佳对应）：{agreement:.1%}")
assert all(a >= b - 1e-9 for a, b in zip(J, J[1:])), "k-means never increases its objective"
assert agreement > 0.9

fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
ax.scatter(*X.T, c=assign, cmap="viridis", s=8)
ax.scatter(*mu.T, c="red", marker="x", s=120, linewidths=3, label="簇中心（centroids）")
ax.set(title="无监督学习（unsupervised）：k-means 找到 3 组", xlabel="x1", ylabel="x2")
ax.legend()
ax2.plot(range(1, len(J) + 1), J, marker="o")
ax2.set(title="目标函数 J（簇内平方距离）", xlabel="迭代轮次（iteration）", ylabel="J")
fig.tight_layout()
plt.show()

# %% reinforcement
SIZE, START, GOAL = 5, (0, 0), (4, 4)
PITS = {(1, 1), (1, 3), (3, 2), (2, 4)}
ACTIONS = [(-1, 0), (1, 0), (0, -1), (0, 1)]  # up, down, left, right
ARROWS = "↑↓←→"


def step_env(s: tuple[int, int], a: int) -> tuple[tuple[int, int], float, bool]:
    """Deterministic gridworld: walls keep you in place; goal +1, pit -1, else -0.01 per step."""
    r, c = s[0] + ACTIONS[a][0], s[1] + ACTIONS[a][1]
    nxt = (min(max(r, 0), SIZE - 1), min(max(c, 0), SIZE - 1))
    if nxt == GOAL:
        return nxt, 1.0, True
    if nxt in PITS:
        return nxt, -1.0, True
    return nxt, -0.01, False


rng = np.random.default_rng(0)
Q = np.zeros((SIZE, SIZE, 4))
alpha, gamma, epsilon = 0.5, 0.95, 0.2
returns = []
for episode in range(400):
    s, total = START, 0.0
    for _ in range(50):
        a = int(rng.integers(4)) if rng.random() < epsilon else int(Q[s].argmax())  # epsilon-greedy
        s2, r, done = step_env(s, a)
        target = r if done else r + gamma * Q[s2].max()
        Q[s][a] += alpha * (target - Q[s][a])  # Q-learning update
        s, total = s2, total + r
        if done:
            break
    returns.append(total)

# Follow the learned greedy policy from the start.
s, path, reward = START, [START], 0.0
for _ in range(20):
    s, r, done = step_env(s, int(Q[s].argmax()))
    path.append(s)
    reward += r
    if done:
        break
print(f"回合数（episodes）：{len(returns)}，alpha={alpha}，gamma={gamma}，epsilon={epsilon}")
print(f"平均回报（return），前 50 回合：{np.mean(returns[:50]):+.2f}   后 50 回合：{np.mean(returns[-50:]):+.2f}")
print("学到的贪心策略（greedy policy）（S 起点，G 终点，X 陷阱）：")
for r in range(SIZE):
    row = []
    for c in range(SIZE):
        cell = (r, c)
        row.append("G" if cell == GOAL else "X" if cell in PITS else ("S" if cell == START else "") + ARROWS[int(Q[cell].argmax())])
    print("  " + " ".join(f"{x:>2}" for x in row))
print(f"贪心路径：{' -> '.join(map(str, path))}（{len(path) - 1} 步，回报 {reward:+.2f}）")
assert path[-1] == GOAL and not PITS & set(path), "the learned policy reaches the goal without falling into a pit"
assert len(path) - 1 == 8, "and takes a shortest path (8 moves on a 5x5 grid)"

fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
window = 20
smooth = np.convolve(returns, np.ones(window) / window, mode="valid")
ax.plot(returns, alpha=0.3, label="每回合回报（episode return）")
ax.plot(range(window - 1, len(returns)), smooth, label=f"滑动平均（{window}）")
ax.set(title="强化学习（reinforcement learning）：每回合回报", xlabel="回合（episode）", ylabel="回报（return）")
ax.legend()
V = Q.max(-1)
im = ax2.imshow(V, cmap="viridis")
for (r, c) in PITS:
    ax2.text(c, r, "X", ha="center", va="center", color="red", fontsize=14, weight="bold")
ax2.text(GOAL[1], GOAL[0], "G", ha="center", va="center", color="white", fontsize=14, weight="bold")
ax2.plot([p[1] for p in path], [p[0] for p in path], color="white", lw=2)
ax2.set(title="max_a Q(s, a) 与贪心路径", xticks=range(SIZE), yticks=range(SIZE))
fig.colorbar(im, ax=ax2)
fig.tight_layout()
plt.show()

# %% summary
rows = [
    ("监督学习 Supervised", "输入 + 标签", "交叉熵等损失", f"测试准确率 {test_acc:.0%}", "SFT 微调、分类器、奖励模型"),
    ("无监督学习 Unsupervised", "只有输入", "组内距离 J", f"与隐藏分组一致 {agreement:.0%}", "聚类、降维；预训练是“自监督”"),
    ("强化学习 Reinforcement", "状态、动作、奖励", "累计奖励", f"最短路径 {len(path) - 1} 步到终点", "RLHF 中的 PPO"),
]
print_table(["类别", "数据", "目标", "本页的小例子", "在大模型中"], [list(r) for r in rows])
