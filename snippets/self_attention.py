# %% [markdown]
# # 自注意力：一步一步算
#
# 把一句中文按字切分，给每个字一个随机（但固定种子）的向量，然后按
# $\mathrm{softmax}(QK^\top/\sqrt{d_k})V$ 的四步手算一遍，再与 `transformer_core` 的实现逐元素核对。
# 最后用一个小实验说明为什么要除以 $\sqrt{d_k}$。
#
# 注意：这里的投影矩阵没有经过训练，所以注意力图的**具体模式没有语言学含义**，
# 要看的是计算的形状与性质（每行权重之和为 1，输出是 V 的加权平均）。

# %% setup
import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]) if "__file__" in globals() else ".")

import math

import matplotlib.pyplot as plt
import torch
from matplotlib.font_manager import FontProperties

from transformer_core.attention import scaled_dot_product_attention
from transformer_core.fonts import use_cjk_font
from transformer_core.tokenizer import CharTokenizer

torch.manual_seed(0)
plt.rcParams.update({"figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white"})

CJK_FONT = use_cjk_font()  # finds a Chinese font on Linux, macOS and Windows (None when there is none)
KB_VALUES = {}  # values the notes bind into prose: {{self_attention.py:key}}


def token_labels(tokens: list[str]) -> tuple[list[str], FontProperties | None]:
    """Tick labels for the tokens: the characters when a CJK font is installed, else 'index:codepoint'."""
    if CJK_FONT is not None:
        return tokens, FontProperties(fname=CJK_FONT.path)
    return [f"{i}:U+{ord(c):04X}" for i, c in enumerate(tokens)], None


def show(name: str, m: torch.Tensor, rows: list[str], cols: list[str] | None = None) -> None:
    """Print a 2-D tensor as an aligned table with row labels (and optional column labels)."""
    print(f"{name}  shape={tuple(m.shape)}")
    if cols is not None:
        print("      " + "".join(f"{c:>7}" for c in cols))
    for label, row in zip(rows, m.tolist()):
        print(f"  {label}  " + "".join(f"{x:7.3f}" for x in row))
    print()


# %% qkv_step_by_step
sentence = "小猫坐在垫子上"
tok = CharTokenizer.from_text(sentence)
chars = list(sentence)
ids = torch.tensor(tok.encode(sentence))
n, d_model, d_k = len(chars), 8, 4

g = torch.Generator().manual_seed(0)
embedding = torch.randn(tok.vocab_size, d_model, generator=g)  # one 8-d vector per character
# Projections scaled by 1/sqrt(d_model) so Q, K, V have roughly unit-variance entries.
W_q = torch.randn(d_model, d_k, generator=g) / math.sqrt(d_model)
W_k = torch.randn(d_model, d_k, generator=g) / math.sqrt(d_model)
W_v = torch.randn(d_model, d_k, generator=g) / math.sqrt(d_model)

X = embedding[ids]  # [n, d_model]
print(f"句子: {sentence}   字符 id: {ids.tolist()}   n={n}, d_model={d_model}, d_k={d_k}\n")

# Step 1: projections
Q, K, V = X @ W_q, X @ W_k, X @ W_v  # each [n, d_k]
show("第 1 步  Q = X W_Q", Q, chars)
show("第 1 步  K = X W_K", K, chars)
show("第 1 步  V = X W_V", V, chars)

# Step 2: raw scores, Step 3: scale + row softmax
scores = Q @ K.T  # [n, n]
scaled = scores / math.sqrt(d_k)
weights = torch.softmax(scaled, dim=-1)
show("第 2-3 步  注意力权重 softmax(QK^T / sqrt(d_k))（行 = 查询字，列 = 被关注的字）", weights, chars, chars)

# Step 4: weighted sum of the values
out = weights @ V
show("第 4 步  输出 O = A V", out, chars)

row_sums = weights.sum(dim=-1)
print("每行权重之和:", [round(x, 6) for x in row_sums.tolist()])
first = chars[0]
top = weights[0].argmax().item()
print(f"例：'{first}' 把 {weights[0, top].item():.1%} 的注意力给了 '{chars[top]}'，"
      f"其输出 = Σ_j A[0,j]·V[j]，第一维 = {out[0, 0].item():.4f}")

# The same computation through the library (batch and head dimensions of size 1).
lib_out, lib_w = scaled_dot_product_attention(Q[None, None], K[None, None], V[None, None])
diff = max((lib_out[0, 0] - out).abs().max().item(), (lib_w[0, 0] - weights).abs().max().item())
print(f"\n与 transformer_core.attention.scaled_dot_product_attention 的最大绝对误差: {diff:.2e}")
assert torch.allclose(row_sums, torch.ones(n), atol=1e-6), "softmax rows must sum to 1"
assert diff < 1e-6, "hand-written attention must match transformer_core"

# The note's hand-worked example: scaled scores [2, 1] -> weights.
KB_VALUES["softmax_2_1_first"], KB_VALUES["softmax_2_1_second"] = (round(w, 2) for w in torch.softmax(torch.tensor([2.0, 1.0]), 0).tolist())

# %% heatmap
labels, font = token_labels(chars)
# Second panel: the same weights with a causal mask (GPT-style: no peeking at later characters).
_, causal_w = scaled_dot_product_attention(Q[None, None], K[None, None], V[None, None], causal=True)
fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), constrained_layout=True)
for ax, w, title in [(axes[0], weights, "bidirectional (no mask)"), (axes[1], causal_w[0, 0], "causal mask")]:
    im = ax.imshow(w.numpy(), cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, fontproperties=font)
    ax.set_yticks(range(n), labels, fontproperties=font)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query")
    ax.set_title(title)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{w[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if w[i, j] < 0.5 else "black")
fig.colorbar(im, ax=axes, shrink=0.8, label="attention weight")
fig.suptitle("Self-attention weights, one row per query character")
plt.show()
assert torch.all(causal_w[0, 0].triu(diagonal=1) == 0), "causal mask must zero the future"

# %% [markdown]
# ## 为什么除以 √d_k
#
# 随机生成均值 0、方差 1 的 $q$ 和 $k$，在不同维度 $d_k$ 下比较：分数 $q\cdot k$ 的标准差、
# softmax 的熵（16 个键时最大为 $\ln 16\approx 2.77$）、最大权重，以及 softmax 雅可比矩阵
# $\partial\,\mathrm{softmax}/\partial\,\text{scores}$ 的范数（梯度能传回去多少）。

# %% scaling_entropy
n_keys, n_queries = 16, 2000
dims = [2**p for p in range(1, 11)]  # 2 .. 1024
rows = []
for d in dims:
    gen = torch.Generator().manual_seed(d)
    q = torch.randn(n_queries, d, generator=gen)
    k = torch.randn(n_queries, n_keys, d, generator=gen)
    raw = torch.einsum("qd,qkd->qk", q, k)  # [n_queries, n_keys]
    for scaled_flag, s in [(False, raw), (True, raw / math.sqrt(d))]:
        p = s.softmax(dim=-1)
        entropy = -(p * p.clamp_min(1e-30).log()).sum(-1).mean().item()
        # Jacobian of softmax: diag(p) - p p^T; its Frobenius norm measures how much gradient flows back.
        jac = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
        jac_norm = jac.flatten(1).norm(dim=-1).mean().item()
        rows.append(dict(d_k=d, scaled=scaled_flag, std=s.std().item(), entropy=entropy,
                         max_w=p.max(-1).values.mean().item(), jac=jac_norm))

print("raw = 不缩放 QK^T，scaled = 缩放 QK^T/sqrt(d_k)；H = softmax 的熵，max_w = 最大权重，grad = softmax 雅可比范数")
print(f"{'d_k':>5} | {'std raw':>8} {'scaled':>7} | {'H raw':>6} {'scaled':>7} | {'max_w raw':>9} {'scaled':>7} | {'grad raw':>8} {'scaled':>7}")
for d in dims:
    u = next(r for r in rows if r["d_k"] == d and not r["scaled"])
    s = next(r for r in rows if r["d_k"] == d and r["scaled"])
    print(f"{d:>5} | {u['std']:>8.2f} {s['std']:>7.2f} | {u['entropy']:>6.3f} {s['entropy']:>7.3f} | "
          f"{u['max_w']:>9.3f} {s['max_w']:>7.3f} | {u['jac']:>8.4f} {s['jac']:>7.4f}")
print(f"(熵的最大值 ln {n_keys} = {math.log(n_keys):.3f}，即完全平均分配)")

fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), constrained_layout=True)
for key, ax, title in [("entropy", axes[0], "softmax entropy (nats)"),
                       ("max_w", axes[1], "largest attention weight"),
                       ("jac", axes[2], "softmax Jacobian norm (gradient)")]:
    for flag, style, name in [(False, "o-", "no scaling: QK^T"), (True, "s-", "scaled: QK^T / sqrt(d_k)")]:
        ax.plot(dims, [r[key] for r in rows if r["scaled"] == flag], style, label=name)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("d_k")
    ax.set_title(title)
    ax.grid(alpha=0.3)
axes[0].axhline(math.log(n_keys), color="gray", ls=":", label=f"uniform = ln {n_keys}")
axes[0].legend(fontsize=8)
fig.suptitle(f"Why divide by sqrt(d_k): {n_keys} keys, q,k ~ N(0, I)")
plt.show()

# Checked claims: unscaled score std grows like sqrt(d_k); scaled std stays ~1; without scaling
# softmax saturates (entropy collapses, gradients vanish) as d_k grows, with scaling it does not.
for d in dims:
    u = next(r for r in rows if r["d_k"] == d and not r["scaled"])
    s = next(r for r in rows if r["d_k"] == d and r["scaled"])
    assert abs(u["std"] / math.sqrt(d) - 1) < 0.1 and abs(s["std"] - 1) < 0.1
big_u = next(r for r in rows if r["d_k"] == 512 and not r["scaled"])
big_s = next(r for r in rows if r["d_k"] == 512 and r["scaled"])
assert big_u["entropy"] < 0.25 * big_s["entropy"] and big_u["max_w"] > 0.8
assert big_u["jac"] < 0.5 * big_s["jac"]
scaled_entropies = [r["entropy"] for r in rows if r["scaled"]]
assert max(scaled_entropies) - min(scaled_entropies) < 0.1, "scaled entropy should not depend on d_k"
