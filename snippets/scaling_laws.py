# kbgen: timeout=240
# %% [markdown]
# # 缩放定律：在小语料上亲手拟合一条幂律，再对照 Kaplan 与 Chinchilla
#
# 1. 用项目自带的语料训练几个不同大小的字符级 GPT（训练步数、批大小、学习率都相同，只改变宽度和层数），
#    在对数坐标上拟合 验证损失 ≈ a · N^(−α)（N 为非嵌入参数量，与 Kaplan 的口径一致）；
# 2. 用论文公开的拟合参数画出 Kaplan 的 L(N) 和 Chinchilla 的 L(N, D)，并检查“Chinchilla 的预测损失低于 Gopher”；
# 3. 用“C ≈ 6ND、每个参数约 20 个 token”的经验法则计算不同算力下的最优分配。

# %% setup
import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]) if "__file__" in globals() else ".")

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from transformer_core.data import load_corpus
from transformer_core.models import TransformerConfig
from transformer_core.train import train_char_lm
from transformer_core.report import print_table
from transformer_core.fonts import use_cjk_font

torch.manual_seed(0)
plt.rcParams.update({"figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white"})
use_cjk_font()  # Chinese figure text on Linux, macOS and Windows


@torch.no_grad()
def split_loss(model: torch.nn.Module, ids: torch.Tensor, block: int, max_windows: int = 64) -> float:
    """Mean next-character cross-entropy over non-overlapping windows of ``ids`` (nats)."""
    model.eval()
    n = min(max_windows, (ids.numel() - 1) // block)
    x = torch.stack([ids[i * block : (i + 1) * block] for i in range(n)])
    y = torch.stack([ids[i * block + 1 : (i + 1) * block + 1] for i in range(n)])
    logits = model(x.to(next(model.parameters()).device)).cpu()
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1)).item()


def non_embedding_params(model: torch.nn.Module) -> int:
    """Parameters outside the token/position embeddings (Kaplan et al. count N this way)."""
    return sum(p.numel() for name, p in model.named_parameters() if "emb" not in name and "pos" not in name)


# %% [markdown]
# ## 1. 本机实验：训练几个不同大小的模型
#
# 所有模型：相同的语料、种子、步数（`STEPS`）、批大小、上下文长度和学习率；只改变 `SIZES` 中的
# 宽度 $d$ 与层数。训练结束后，在训练部分（前 90%）的 64 个窗口上计算训练损失，在语料最后 10%
# （训练时没见过）的全部窗口上计算验证损失（validation loss）。

# %% experiment
SIZES = [(8, 1), (16, 1), (32, 1), (48, 2), (64, 2)]  # (d_model, n_layers)
STEPS, BATCH, BLOCK, LR = 300, 16, 32, 1e-2
text = load_corpus()
rows = []
for d_model, n_layers in SIZES:
    cfg = TransformerConfig(vocab_size=1, d_model=d_model, n_heads=max(1, d_model // 16), n_layers=n_layers,
                            d_ff=4 * d_model, max_len=BLOCK, norm_first=True)
    model, tok, history = train_char_lm(text, cfg, steps=STEPS, batch=BATCH, block=BLOCK, lr=LR, seed=0,
                                        log_every=STEPS // 6)
    n_total = sum(p.numel() for p in model.parameters())
    # The same split as train_char_lm: the last 10% of the corpus is held out.
    ids = torch.tensor(tok.encode(text))
    n_val = max(BLOCK + 2, int(ids.numel() * 0.1))
    rows.append(dict(d=d_model, layers=n_layers, n=non_embedding_params(model), total=n_total,
                     train=split_loss(model, ids[:-n_val], BLOCK), val=split_loss(model, ids[-n_val:], BLOCK),
                     curve=[(h["step"], h["val_loss"]) for h in history]))
vocab = tok.vocab_size
print(f"corpus: {len(text):,} characters, vocabulary {vocab} characters; {STEPS} steps x {BATCH} x {BLOCK} tokens each\n")
_tbl = ["| d_model | layers | non-embedding params N | total params | train loss | validation loss |"]
for r in rows:
    _tbl.append(f"| {r['d']} | {r['layers']} | {r['n']:,} | {r['total']:,} | {r['train']:.3f} | {r['val']:.3f} |")
print_table(_tbl)
print(f"\nfor reference: uniform guessing = ln({vocab}) = {math.log(vocab):.3f} nats")

# %% [markdown]
# ## 2. 损失 vs 参数量（对数坐标）与幂律拟合

# %% loss_vs_params
N = np.array([r["n"] for r in rows], dtype=float)
val = np.array([r["val"] for r in rows])
slope, intercept = np.polyfit(np.log(N), np.log(val), 1)
alpha, a = -slope, math.exp(intercept)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.3))
ax1.loglog(N, val, "o", ms=8, label="validation loss (held-out 10%)")
ax1.loglog(N, [r["train"] for r in rows], "s", ms=6, color="gray", alpha=0.7, label="training loss (seen text)")
grid = np.logspace(np.log10(N.min() / 1.5), np.log10(N.max() * 1.5), 50)
ax1.loglog(grid, a * grid**-alpha, "--", label=f"fit: L = {a:.2f} * N^(-{alpha:.3f})")
ax1.set_xlabel("non-embedding parameters N")
ax1.set_ylabel("validation loss (nats / character)")
ax1.set_title(f"Tiny char-level GPTs, {STEPS} steps each")
ax1.yaxis.set_major_formatter(plt.matplotlib.ticker.ScalarFormatter())
ax1.yaxis.set_minor_formatter(plt.matplotlib.ticker.ScalarFormatter())
ax1.legend(fontsize=8)
for r in rows:
    steps, losses = zip(*r["curve"])
    ax2.plot(steps, losses, "o-", ms=3, label=f"d={r['d']}, {r['layers']} layer(s), N={r['n']:,}")
ax2.set_xlabel("training step")
ax2.set_ylabel("validation loss")
ax2.set_title("Validation loss during training")
ax2.legend(fontsize=8)
fig.tight_layout()
plt.show()
print(f"fitted power law: L(N) = {a:.3f} * N^(-{alpha:.4f})")
print(f"=> doubling N changes the loss by a factor {2 ** -alpha:.4f} in this toy setting "
      f"(Kaplan 2020 at scale: 2^-0.076 = {2 ** -0.076:.4f})")
assert rows[-1]["train"] < rows[0]["train"]  # more parameters fit the corpus better
assert val[-1] < val[0]  # and the largest model also beats the smallest on held-out text

# %% [markdown]
# ## 3. 公开的缩放定律（论文数字）
#
# Kaplan 等（2020）：$L(N)=(N_c/N)^{\alpha_N}$，$\alpha_N=0.076$，$N_c=8.8\times10^{13}$。
# Chinchilla（Hoffmann 等，2022）：$L(N,D)=E+A/N^{\alpha}+B/D^{\beta}$，$E=1.69, A=406.4, B=410.7, \alpha=0.34, \beta=0.28$。

# %% published_laws
KAPLAN = dict(alpha_n=0.076, n_c=8.8e13, alpha_d=0.095, d_c=5.4e13)
CHIN = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)


def kaplan_loss_n(n: np.ndarray) -> np.ndarray:
    return (KAPLAN["n_c"] / n) ** KAPLAN["alpha_n"]


def chinchilla_loss(n: float | np.ndarray, d: float | np.ndarray) -> float | np.ndarray:
    return CHIN["E"] + CHIN["A"] / n ** CHIN["alpha"] + CHIN["B"] / d ** CHIN["beta"]


ns = np.logspace(6, 12, 100)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.3))
ax1.loglog(ns, kaplan_loss_n(ns), lw=2, color="tab:purple")
for label, n in [("GPT-2 1.5B", 1.5e9), ("GPT-3 175B", 175e9)]:
    ax1.plot(n, kaplan_loss_n(np.array(n)), "o", color="black")
    ax1.annotate(label, (n, kaplan_loss_n(np.array(n))), textcoords="offset points", xytext=(5, 5), fontsize=8)
ax1.set_xlabel("non-embedding parameters N")
ax1.set_ylabel("test loss (nats / token)")
ax1.set_title("Kaplan et al. 2020: L(N) = (8.8e13 / N)^0.076")
for tokens in [3e11, 1.4e12, 1.5e13]:
    ax2.semilogx(ns, chinchilla_loss(ns, tokens), lw=2, label=f"D = {tokens:.1e} tokens")
ax2.axhline(CHIN["E"], color="gray", ls="--", lw=1, label="irreducible loss E = 1.69")
models = {"Gopher 280B / 300B": (280e9, 300e9), "Chinchilla 70B / 1.4T": (70e9, 1.4e12)}
for (name, (n, d)), offset in zip(models.items(), [(-20, 25), (-110, -35)]):
    ax2.plot(n, chinchilla_loss(n, d), "o", color="black")
    ax2.annotate(f"{name}\nL = {chinchilla_loss(n, d):.3f}", (n, chinchilla_loss(n, d)), textcoords="offset points",
                 xytext=offset, fontsize=8, arrowprops=dict(arrowstyle="-", color="gray"))
ax2.set_xlabel("parameters N")
ax2.set_ylabel("predicted loss")
ax2.set_title("Chinchilla fit: L(N, D) = E + A/N^0.34 + B/D^0.28")
ax2.legend(fontsize=8)
fig.tight_layout()
plt.show()

for factor in [2, 10, 100]:
    print(f"Kaplan L(N): {factor:>3}x parameters -> loss x {factor ** -KAPLAN['alpha_n']:.3f} "
          f"({1 - factor ** -KAPLAN['alpha_n']:.1%} lower)")
l_gopher, l_chin = chinchilla_loss(*models["Gopher 280B / 300B"]), chinchilla_loss(*models["Chinchilla 70B / 1.4T"])
print(f"\nChinchilla fit: Gopher (280B, 300B tokens) L = {l_gopher:.3f}; Chinchilla (70B, 1.4T tokens) L = {l_chin:.3f}")
assert l_chin < l_gopher  # the paper's headline: 4x smaller, 4.7x more data, better
assert abs(10 ** -0.076 - 0.839) < 1e-3  # "10x parameters -> about 16% lower loss" (note)

# %% [markdown]
# ## 4. 算力最优分配：C ≈ 6ND 与“每个参数约 20 个 token”
#
# 训练一个 $N$ 参数的模型看 $D$ 个 token，约需 $C\approx6ND$ 次浮点运算（前向 2ND + 反向 4ND）。
# 令 $D=20N$，得 $N=\sqrt{C/120}$。下表对几个算力预算求解，并与真实模型对照。

# %% chinchilla_allocation
TOKENS_PER_PARAM = 20


def optimal(compute: float) -> tuple[float, float]:
    n = math.sqrt(compute / (6 * TOKENS_PER_PARAM))
    return n, TOKENS_PER_PARAM * n


real = {
    "GPT-3 (2020)": (175e9, 300e9),
    "Gopher (2021)": (280e9, 300e9),
    "Chinchilla (2022)": (70e9, 1.4e12),
    "Llama 3 8B (2024)": (8e9, 15e12),
}
_tbl = ["| model | params N | tokens D | tokens / param | compute C = 6ND (FLOPs) | compute-optimal N at that C | optimal D | predicted loss (actual → optimal) |"]
for name, (n, d) in real.items():
    c = 6 * n * d
    n_opt, d_opt = optimal(c)
    _tbl.append(f"| {name} | {n / 1e9:,.0f}B | {d / 1e9:,.0f}B | {d / n:,.1f} | {c:.2e} | {n_opt / 1e9:,.0f}B | {d_opt / 1e9:,.0f}B | "
          f"{chinchilla_loss(n, d):.3f} → {chinchilla_loss(n_opt, d_opt):.3f} |")
print_table(_tbl)
n_opt, d_opt = optimal(6 * 280e9 * 300e9)
print(f"\nWith Gopher's compute, the 20-tokens-per-parameter rule gives N = {n_opt / 1e9:.0f}B and D = {d_opt / 1e12:.2f}T "
      f"(the paper trained Chinchilla with 70B and 1.4T).")
assert 55e9 < n_opt < 85e9 and 1.1e12 < d_opt < 1.7e12
