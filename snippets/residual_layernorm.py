# kbgen: timeout=120
# %% [markdown]
# # 残差连接与层归一化
#
# 1. LayerNorm 手算一遍，并与 `torch.nn.LayerNorm` 核对。
# 2. 很深的网络里，梯度在有/无残差连接时如何随层数衰减。
# 3. Pre-LN 与 Post-LN：同样的结构、同样（不做预热）的学习率，训练曲线有何不同。

# %% setup
import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]) if "__file__" in globals() else ".")

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from transformer_core.data import copy_task_batch
from transformer_core.layers import EncoderLayer
from transformer_core.fonts import use_cjk_font

torch.manual_seed(0)
plt.rcParams.update({"figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white"})
use_cjk_font()  # Chinese figure text on Linux, macOS and Windows

# %% layernorm_demo
KB_VALUES = {}  # values the notes bind into prose: {{residual_layernorm.py:key}}
x = torch.tensor([[1.0, 2.0, 3.0, 6.0], [100.0, 200.0, 300.0, 600.0]])
mu = x.mean(dim=-1, keepdim=True)
var = x.var(dim=-1, unbiased=False, keepdim=True)  # LayerNorm uses the biased (1/d) variance
eps = 1e-5
manual = (x - mu) / torch.sqrt(var + eps)
ln = nn.LayerNorm(4, eps=eps)  # gamma = 1, beta = 0 at initialisation
for row, m, v, y in zip(x.tolist(), mu.flatten().tolist(), var.flatten().tolist(), manual.tolist()):
    print(f"x = {row}\n  均值 μ = {m:g}, 方差 σ² = {v:g}, 标准差 σ = {v ** 0.5:.4f}")
    print(f"  (x - μ) / sqrt(σ² + ε) = [{', '.join(f'{t:.4f}' for t in y)}]")
diff = (ln(x) - manual).abs().max().item()
print(f"\n与 torch.nn.LayerNorm 的最大绝对误差: {diff:.1e}")
print(f"归一化后每行的均值: {[round(t, 6) for t in manual.mean(-1).tolist()]}，方差: {[round(t, 4) for t in manual.var(-1, unbiased=False).tolist()]}")
assert diff < 1e-5
assert torch.allclose(manual[0], manual[1], atol=1e-4), "LayerNorm is invariant to rescaling its input"
KB_VALUES["ln_example_std"] = round(var[0].item() ** 0.5, 2)
KB_VALUES["ln_example_out"] = ", ".join(f"{t:.2f}" for t in manual[0].tolist())
KB_VALUES["ln_scale_invariant"] = bool(torch.allclose(manual[0], manual[1], atol=1e-4))
assert KB_VALUES["ln_scale_invariant"]

# %% gradient_norm
depth, width, batch = 50, 64, 128


class Block(nn.Module):
    """One 'sublayer': Linear + tanh, optionally wrapped as x + F(x) or x + F(LN(x))."""

    def __init__(self, d: int, mode: str) -> None:
        super().__init__()
        self.mode = mode
        self.linear = nn.Linear(d, d)
        self.norm = nn.LayerNorm(d) if mode == "residual + pre-LN" else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = torch.tanh(self.linear(self.norm(x)))
        return f if self.mode == "plain" else x + f


def input_grad_norms(mode: str) -> list[float]:
    """||dLoss/dx_l|| for the input x_l of every block l (l = 0 is the first block)."""
    torch.manual_seed(0)
    blocks = [Block(width, mode) for _ in range(depth)]
    x = torch.randn(batch, width, generator=torch.Generator().manual_seed(1))
    inputs = []
    for block in blocks:
        x.retain_grad() if x.requires_grad else x.requires_grad_(True)
        inputs.append(x)
        x = block(x)
    target = torch.randn(batch, width, generator=torch.Generator().manual_seed(2))
    F.mse_loss(x, target).backward()
    return [t.grad.norm().item() for t in inputs]


modes = ["plain", "residual", "residual + pre-LN"]
grads = {m: input_grad_norms(m) for m in modes}
fig, ax = plt.subplots(figsize=(8, 4), constrained_layout=True)
for m, style in zip(modes, ["o-", "s-", "^-"]):
    ax.semilogy(range(1, depth + 1), grads[m], style, ms=3, label={"plain": "无残差（plain）", "residual": "残差（residual）", "residual + pre-LN": "残差 + pre-LN"}[m])
ax.set_xlabel("块序号（1 = 最靠近输入）")
ax.set_ylabel("||dLoss / d 块的输入||（梯度范数）")
ax.set_title(f"{depth} 块堆叠中到达每一块的梯度（gradient）（Linear + tanh，宽度 {width}）")
ax.legend()
ax.grid(alpha=0.3, which="both")
plt.show()

print(f"{'结构':<20} {'第 1 块':>10} {'第 25 块':>10} {'第 50 块':>10} {'首/末 比值':>10}")
for m in modes:
    g = grads[m]
    print(f"{m:<20} {g[0]:>10.2e} {g[depth // 2 - 1]:>10.2e} {g[-1]:>10.2e} {g[0] / g[-1]:>10.2e}")
# Checked claims: without residuals the gradient at the first block is orders of magnitude smaller
# than at the last one (vanishing); with residuals it stays within the same order of magnitude.
KB_VALUES["plain_first_over_last"] = float(f"{grads['plain'][0] / grads['plain'][-1]:.1e}")
KB_VALUES["plain_gradient_vanishes"] = bool(grads["plain"][0] / grads["plain"][-1] < 1e-3)
KB_VALUES["residual_gradient_same_order"] = bool(all(0.1 < grads[m][0] / grads[m][-1] < 100 for m in modes[1:]))
assert KB_VALUES["plain_gradient_vanishes"]
assert KB_VALUES["residual_gradient_same_order"]

# %% pre_vs_post
class Stack(nn.Module):
    """Token + learned position embeddings, `depth` EncoderLayers, (final LN for pre-LN), linear head."""

    def __init__(self, vocab: int, d: int, depth: int, length: int, norm_first: bool) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.randn(length, d) * 0.02)
        self.layers = nn.ModuleList(EncoderLayer(d, 4, 4 * d, norm_first=norm_first) for _ in range(depth))
        self.norm = nn.LayerNorm(d) if norm_first else nn.Identity()  # post-LN already ends with a LayerNorm
        self.head = nn.Linear(d, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.emb(ids) + self.pos
        for layer in self.layers:
            h = layer(h)
        return self.head(self.norm(h))


def train(norm_first: bool, lr: float, depth: int = 6, steps: int = 80, length: int = 8, vocab: int = 12) -> list[float]:
    """Reverse a random sequence with an encoder-only stack; Adam at a constant lr, no warm-up."""
    torch.manual_seed(0)
    model = Stack(vocab, 32, depth, length, norm_first)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(steps):
        src, tgt = copy_task_batch(32, length, vocab, gen, reverse=True)
        loss = F.cross_entropy(model(src).flatten(0, 1), tgt[:, 1:].flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def smooth(v: list[float], k: int = 10) -> list[float]:
    return [sum(v[max(0, i - k + 1) : i + 1]) / len(v[max(0, i - k + 1) : i + 1]) for i in range(len(v))]


lrs = [2e-3, 1.5e-2]
curves = {(lr, nf): train(nf, lr) for lr in lrs for nf in (False, True)}
fig, axes = plt.subplots(1, len(lrs), figsize=(11, 3.8), constrained_layout=True, sharey=True)
for ax, lr in zip(axes, lrs):
    for nf, style, name in [(False, "-", "post-LN (2017)"), (True, "--", "pre-LN (GPT-2+)")]:
        ax.plot(smooth(curves[(lr, nf)]), style, lw=2, label=name)
    ax.axhline(torch.log(torch.tensor(10.0)).item(), color="gray", ls=":", label="随机水平（chance） = ln 10")
    ax.set_title(f"6 层编码器，Adam lr={lr:g}，无预热（warm-up）")
    ax.set_xlabel("训练步数（step）")
    ax.grid(alpha=0.3)
axes[0].set_ylabel("训练损失（10 步平均）")
axes[0].legend()
plt.show()

print("最后 20 步的平均训练损失 (mean training loss over the last 20 steps)")
print(f"{'lr':>8} {'post-LN':>9} {'pre-LN':>9}")
final = {key: sum(v[-20:]) / 20 for key, v in curves.items()}
for lr in lrs:
    print(f"{lr:>8g} {final[(lr, False)]:>9.3f} {final[(lr, True)]:>9.3f}")
print("（随机猜测的损失为 ln 10 ≈ 2.303；数字越低越好）")
# Checked claim: at the high learning rate without warm-up, pre-LN trains clearly better than
# post-LN; at the low learning rate the two are close.
KB_VALUES["post_ln_loss_high_lr"] = round(final[(1.5e-2, False)], 2)
KB_VALUES["pre_ln_loss_high_lr"] = round(final[(1.5e-2, True)], 2)
KB_VALUES["pre_ln_better_at_high_lr"] = bool(final[(1.5e-2, True)] < final[(1.5e-2, False)] - 0.2)
KB_VALUES["close_at_low_lr"] = bool(abs(final[(2e-3, True)] - final[(2e-3, False)]) < 0.15)
assert KB_VALUES["pre_ln_better_at_high_lr"]
assert KB_VALUES["close_at_low_lr"]
