# kbgen: timeout=600
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
import torch.nn.functional as F

from transformer_core.data import lm_batch, load_corpus
from transformer_core.models import GPT, TransformerConfig
from transformer_core.tokenizer import CharTokenizer
from transformer_core.train import warmup_cosine
from transformer_core.report import print_table
from transformer_core.fonts import use_cjk_font

torch.manual_seed(0)
plt.rcParams.update({"figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white"})
use_cjk_font()  # Chinese figure text on Linux, macOS and Windows
KB_VALUES = {}  # values the notes bind into prose: {{scaling_laws.py:key}}


def non_embedding_params(model: torch.nn.Module) -> int:
    """Parameters outside the token/position embeddings (Kaplan et al. count N this way)."""
    return sum(p.numel() for name, p in model.named_parameters() if "emb" not in name and "pos" not in name)


# %% [markdown]
# ## 1. 本机实验：训练几个不同大小的模型，每个大小 3 个随机种子
#
# 所有模型：相同的语料切分、步数（`STEPS`）、批大小、上下文长度和学习率；只改变宽度 $d$（`SIZES`）。
# 语料按 256 字一块切开，**每 10 块留出 1 块**作验证集（validation set，训练时没见过，但和训练文本来自同一批文章）；
# 只留最后 10% 会让验证集变成一篇没读过的文章，那时损失主要被“没见过的字”决定，看不出规模的作用。
# 每个大小用 3 个随机种子（初始化和取样顺序不同）各训练一次，报告平均值和标准差（误差棒）。

# %% experiment
SIZES = [(8, 1), (16, 1), (32, 1), (64, 1), (128, 1)]  # (d_model, n_layers)
SEEDS = [0, 1, 2]
STEPS, BATCH, BLOCK, LR, CHUNK = 300, 16, 32, 3e-3, 256
torch.set_num_threads(1)  # the build runs snippets in parallel; one thread each keeps timings comparable

text = load_corpus()
corpus_bytes = len(text.encode("utf-8"))
tok = CharTokenizer.from_text(text)
ids = torch.tensor(tok.encode(text))
chunks = ids[: ids.numel() // CHUNK * CHUNK].view(-1, CHUNK)
held_out = torch.arange(chunks.size(0)) % 10 == 9
train_ids, val_chunks = chunks[~held_out].reshape(-1), chunks[held_out]
val_x = val_chunks[:, :-1].unfold(1, BLOCK, BLOCK).reshape(-1, BLOCK)
val_y = val_chunks[:, 1:].unfold(1, BLOCK, BLOCK).reshape(-1, BLOCK)


def train_one(d_model: int, n_layers: int, seed: int) -> dict:
    """Train a char-level GPT for STEPS steps; return N, validation loss and the training-loss curve (nats)."""
    torch.manual_seed(seed)
    cfg = TransformerConfig(vocab_size=tok.vocab_size, d_model=d_model, n_heads=max(1, d_model // 16),
                            n_layers=n_layers, d_ff=4 * d_model, max_len=BLOCK, norm_first=True, positional="learned")
    model = GPT(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.95), weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, STEPS, max(1, STEPS // 10)))
    gen = torch.Generator().manual_seed(seed)
    curve, ema = [], None
    for step in range(STEPS):
        x, y = lm_batch(train_ids, BATCH, BLOCK, gen)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        ema = loss.item() if ema is None else 0.9 * ema + 0.1 * loss.item()
        curve.append(ema)
    model.eval()
    with torch.no_grad():
        val = F.cross_entropy(model(val_x).flatten(0, 1), val_y.flatten()).item()
    return dict(n=non_embedding_params(model), val=val, curve=curve)


runs = {(d, layers): [train_one(d, layers, seed) for seed in SEEDS] for d, layers in SIZES}
rows = []
for (d, layers), rs in runs.items():
    vals = np.array([r["val"] for r in rs])
    rows.append(dict(d=d, layers=layers, n=rs[0]["n"], mean=vals.mean(), std=vals.std(ddof=1), vals=vals))

print(f"语料（corpus）：{len(text):,} 个字符，{corpus_bytes:,} 字节（约 {corpus_bytes / 1000:.0f} KB），词表 {tok.vocab_size} 个字符；"
      f"训练集 {train_ids.numel():,} 字符，验证集 {val_chunks.numel():,} 字符（每 10 块留 1 块）")
print(f"每个模型：{STEPS} 步 × 批大小 {BATCH} × 上下文 {BLOCK} 字符；每个大小 {len(SEEDS)} 个随机种子\n")
_tbl = ["| 宽度 d_model | 层数 | 非嵌入参数 N | 验证损失（3 个种子） | 平均 ± 标准差 |"]
for r in rows:
    _tbl.append(f"| {r['d']} | {r['layers']} | {r['n']:,} | {' / '.join(f'{v:.3f}' for v in r['vals'])} | "
                f"{r['mean']:.3f} ± {r['std']:.3f} |")
print_table(_tbl)
print(f"\n参考：均匀乱猜 = ln({tok.vocab_size}) = {math.log(tok.vocab_size):.3f} nats / 字符")

# %% [markdown]
# ## 2. 损失 vs 参数量（对数坐标）、误差棒与幂律拟合

# %% loss_vs_params
N = np.array([r["n"] for r in rows], dtype=float)
mean = np.array([r["mean"] for r in rows])
std = np.array([r["std"] for r in rows])
# One power-law fit per seed gives a spread for the exponent too.
alphas = np.array([-np.polyfit(np.log(N), np.log([r["vals"][s] for r in rows]), 1)[0] for s in range(len(SEEDS))])
slope, intercept = np.polyfit(np.log(N), np.log(mean), 1)
alpha, a = -slope, math.exp(intercept)
# Loss drop per tenfold increase of N, over the smaller and the larger half of the sizes.
per_decade = -np.diff(mean) / np.diff(np.log10(N))

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.3))
ax1.errorbar(N, mean, yerr=std, fmt="o", ms=7, capsize=4, label=f"验证损失（{len(SEEDS)} 个种子的平均 ± 标准差）")
grid = np.logspace(np.log10(N.min() / 1.5), np.log10(N.max() * 1.5), 50)
ax1.plot(grid, a * grid**-alpha, "--", label=f"幂律拟合（power law）: L = {a:.2f}·N^(-{alpha:.3f})")
ax1.set_xscale("log")
ax1.set_yscale("log")
ax1.set_xlabel("非嵌入参数量 N（non-embedding parameters）")
ax1.set_ylabel("验证损失（nats / 字符）")
ax1.set_title(f"迷你字符级 GPT，每个 {STEPS} 步")
ax1.yaxis.set_major_formatter(plt.matplotlib.ticker.ScalarFormatter())
ax1.yaxis.set_minor_formatter(plt.matplotlib.ticker.ScalarFormatter())
ax1.legend(fontsize=8)
for (d, layers), rs in runs.items():
    ax2.plot(np.mean([r["curve"] for r in rs], axis=0), label=f"d={d}, N={rs[0]['n']:,}")
ax2.set_xlabel("训练步数（step）")
ax2.set_ylabel("训练损失（滑动平均，nats）")
ax2.set_title("训练过程（3 个种子的平均）")
ax2.legend(fontsize=8)
fig.tight_layout()
plt.show()

print(f"幂律拟合（平均值）：L(N) = {a:.3f} · N^(-{alpha:.4f})；按种子分别拟合：α = {alphas.mean():.4f} ± {alphas.std(ddof=1):.4f}")
print(f"N 每翻 10 倍，验证损失下降：" + "，".join(f"{N[i]:,.0f}→{N[i + 1]:,.0f}: {per_decade[i]:.3f}" for i in range(len(per_decade))))
print(f"（Kaplan 2020 在大规模上：α_N = 0.076，两者不可直接比较：这里的模型远未收敛，语料只有约 {corpus_bytes / 1000:.0f} KB）")

KB_VALUES["corpus_bytes"] = corpus_bytes
KB_VALUES["corpus_kb"] = round(corpus_bytes / 1000)
KB_VALUES["corpus_chars"] = len(text)
KB_VALUES["steps"] = STEPS
KB_VALUES["n_seeds"] = len(SEEDS)
KB_VALUES["n_sizes"] = len(SIZES)
KB_VALUES["n_smallest"] = int(N[0])
KB_VALUES["n_largest"] = int(N[-1])
KB_VALUES["val_loss_smallest"] = round(float(mean[0]), 3)
KB_VALUES["val_loss_largest"] = round(float(mean[-1]), 3)
KB_VALUES["alpha_fit"] = round(float(alpha), 4)
KB_VALUES["alpha_seed_std"] = round(float(alphas.std(ddof=1)), 4)
KB_VALUES["max_seed_std"] = round(float(std.max()), 3)
KB_VALUES["drop_per_decade_small"] = round(float(per_decade[0]), 3)
KB_VALUES["drop_per_decade_large"] = round(float(per_decade[-1]), 3)
# Claims the note makes about this output.
# 越大越好: the mean loss falls at every size step, and the whole fall dwarfs the seed-to-seed spread.
KB_VALUES["bigger_is_better"] = bool(np.all(np.diff(mean) < 0) and mean[0] - mean[-1] > 10 * std.max())
# 收益递减: a tenfold N buys less loss at the large end than at the small end.
KB_VALUES["diminishing_returns"] = bool(per_decade[-1] < 0.5 * per_decade[0])
# The exponent is positive for every seed (a trend, not noise).
KB_VALUES["alpha_positive_every_seed"] = bool(np.all(alphas > 0))
assert KB_VALUES["bigger_is_better"], mean
assert KB_VALUES["diminishing_returns"], per_decade
assert KB_VALUES["alpha_positive_every_seed"], alphas

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
ax1.set_xlabel("非嵌入参数量 N（non-embedding parameters）")
ax1.set_ylabel("测试损失（nats / token）")
ax1.set_title("Kaplan 等 2020：L(N) = (8.8e13 / N)^0.076")
for tokens in [3e11, 1.4e12, 1.5e13]:
    ax2.semilogx(ns, chinchilla_loss(ns, tokens), lw=2, label=f"数据量 D = {tokens:.1e} token")
ax2.axhline(CHIN["E"], color="gray", ls="--", lw=1, label="不可约损失（irreducible loss）E = 1.69")
models = {"Gopher 280B / 300B": (280e9, 300e9), "Chinchilla 70B / 1.4T": (70e9, 1.4e12)}
for (name, (n, d)), offset in zip(models.items(), [(-20, 25), (-110, -35)]):
    ax2.plot(n, chinchilla_loss(n, d), "o", color="black")
    ax2.annotate(f"{name}\nL = {chinchilla_loss(n, d):.3f}", (n, chinchilla_loss(n, d)), textcoords="offset points",
                 xytext=offset, fontsize=8, arrowprops=dict(arrowstyle="-", color="gray"))
ax2.set_xlabel("参数量 N（parameters）")
ax2.set_ylabel("预测损失（predicted loss）")
ax2.set_title("Chinchilla 拟合：L(N, D) = E + A/N^0.34 + B/D^0.28")
ax2.legend(fontsize=8)
fig.tight_layout()
plt.show()

for factor in [2, 10, 100]:
    print(f"Kaplan L(N)：参数 × {factor:>3} → 损失 × {factor ** -KAPLAN['alpha_n']:.3f}"
          f"（降低 {1 - factor ** -KAPLAN['alpha_n']:.1%}）")
l_gopher, l_chin = chinchilla_loss(*models["Gopher 280B / 300B"]), chinchilla_loss(*models["Chinchilla 70B / 1.4T"])
print(f"\nChinchilla 拟合：Gopher（280B 参数，300B token）L = {l_gopher:.3f}；Chinchilla（70B，1.4T token）L = {l_chin:.3f}")
# Kaplan's compute law L ∝ C^-0.050: the compute multiple that buys a 10% lower loss.
compute_for_10pct = (1 / 0.9) ** (1 / 0.050)
print(f"Kaplan L(C)：损失降低 10% 需要算力 × {compute_for_10pct:.1f}（幂律：每降一个固定比例，算力乘一个固定倍数）")
KB_VALUES["kaplan_drop_10x"] = round(1 - 10 ** -KAPLAN["alpha_n"], 4)
KB_VALUES["compute_for_10pct"] = round(compute_for_10pct, 1)
KB_VALUES["loss_gopher_fit"] = round(float(l_gopher), 3)
KB_VALUES["loss_chinchilla_fit"] = round(float(l_chin), 3)
KB_VALUES["chinchilla_beats_gopher_fit"] = bool(l_chin < l_gopher)  # the paper's headline, on its own fit
assert KB_VALUES["chinchilla_beats_gopher_fit"]

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
_tbl = ["| 模型 | 参数 N | token 数 D | token / 参数 | 算力 C = 6ND（FLOPs） | 同算力下的最优 N | 最优 D | 预测损失（实际 → 最优） |"]
for name, (n, d) in real.items():
    c = 6 * n * d
    n_opt, d_opt = optimal(c)
    _tbl.append(f"| {name} | {n / 1e9:,.0f}B | {d / 1e9:,.0f}B | {d / n:,.1f} | {c:.2e} | {n_opt / 1e9:,.0f}B | {d_opt / 1e9:,.0f}B | "
          f"{chinchilla_loss(n, d):.3f} → {chinchilla_loss(n_opt, d_opt):.3f} |")
print_table(_tbl)
n_opt, d_opt = optimal(6 * 280e9 * 300e9)
print(f"\n用 Gopher 的算力，按每参数 20 个 token 的经验法则：N = {n_opt / 1e9:.0f}B，D = {d_opt / 1e12:.2f}T"
      f"（论文实际训练的 Chinchilla 是 70B 参数、1.4T token）。")
KB_VALUES["gopher_compute_opt_n_b"] = round(n_opt / 1e9)
KB_VALUES["gopher_compute_opt_d_t"] = round(d_opt / 1e12, 2)
assert 55e9 < n_opt < 85e9 and 1.1e12 < d_opt < 1.7e12
