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
from transformer_core.report import print_table
from transformer_core.tokenizer import CharTokenizer

torch.manual_seed(0)
plt.rcParams.update({"figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white"})
KB_VALUES = {}  # values the notes bind into prose: {{self_attention.py:key}}

CJK_FONT = use_cjk_font()  # finds a Chinese font on Linux, macOS and Windows (None when there is none)


def token_labels(tokens: list[str]) -> tuple[list[str], FontProperties | None]:
    """Tick labels for the tokens: the characters when a CJK font is installed, else 'index:codepoint'."""
    if CJK_FONT is not None:
        return tokens, FontProperties(fname=CJK_FONT.path)
    return [f"{i}:" + "+".join(f"U{ord(c):04X}" for c in t) for i, t in enumerate(tokens)], None


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
KB_VALUES["rows_sum_to_one"] = bool(torch.allclose(row_sums, torch.ones(n), atol=1e-6))
assert KB_VALUES["rows_sum_to_one"], "rows_sum_to_one"
KB_VALUES["matches_library"] = bool(diff < 1e-6)
assert KB_VALUES["matches_library"], "matches_library"
# The two-key example worked by hand in the note: scaled scores [2, 1] -> softmax.
two_key = torch.softmax(torch.tensor([2.0, 1.0]), dim=-1)
KB_VALUES["two_key_w1"] = round(two_key[0].item(), 2)
KB_VALUES["two_key_w2"] = round(two_key[1].item(), 2)

# %% heatmap
labels, font = token_labels(chars)
# Second panel: the same weights with a causal mask (GPT-style: no peeking at later characters).
_, causal_w = scaled_dot_product_attention(Q[None, None], K[None, None], V[None, None], causal=True)
fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), constrained_layout=True)
for ax, w, title in [(axes[0], weights, "双向（不加掩码，bidirectional）"), (axes[1], causal_w[0, 0], "因果掩码（causal mask）")]:
    im = ax.imshow(w.numpy(), cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, fontproperties=font)
    ax.set_yticks(range(n), labels, fontproperties=font)
    ax.set_xlabel("键（key，被关注的字）")
    ax.set_ylabel("查询（query）")
    ax.set_title(title)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{w[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if w[i, j] < 0.5 else "black")
fig.colorbar(im, ax=axes, shrink=0.8, label="注意力权重（attention weight）")
fig.suptitle("自注意力权重：每行是一个查询字（随机、未训练的投影）")
plt.show()
KB_VALUES["causal_hides_future"] = bool(torch.all(causal_w[0, 0].triu(diagonal=1) == 0))
assert KB_VALUES["causal_hides_future"], "causal mask must zero the future"

# %% [markdown]
# ## 一个查询的完整路径
#
# 取上面那句话里的一个查询字，把它走过的四步画出来：与每个键的点积 $q\cdot k_j$ → 除以 $\sqrt{d_k}$ →
# softmax 得到权重 → 按权重把各个 $v_j$ 加起来。图中的数字就是上面那次计算里的真实数值。

# %% query_path
qi = 1  # the query character (the second one)
raw_row, scaled_row, weight_row = scores[qi], scaled[qi], weights[qi]
contrib = weight_row[:, None] * V  # [n, d_k]: what each value contributes to the output
fig, axes = plt.subplots(1, 4, figsize=(15, 3.6), constrained_layout=True)
xs = range(n)
for ax, row, title, fmt in [(axes[0], raw_row, f"① 点积 q·k（查询“{chars[qi]}”）", "{:.2f}"),
                            (axes[1], scaled_row, f"② 除以 √d_k = {math.sqrt(d_k):.0f}", "{:.2f}"),
                            (axes[2], weight_row, "③ softmax：权重（和为 1）", "{:.2f}")]:
    bars = ax.bar(xs, row.numpy(), color=["tab:orange" if j == qi else "tab:blue" for j in xs])
    ax.bar_label(bars, [fmt.format(v) for v in row.tolist()], fontsize=7)
    ax.set_xticks(list(xs), labels, fontproperties=font)
    ax.set_xlabel("键（key）")
    ax.set_title(title, fontsize=10)
    ax.axhline(0, color="gray", lw=0.5)
bottom = torch.zeros(d_k)
pos_bottom, neg_bottom = torch.zeros(d_k), torch.zeros(d_k)
for j in xs:
    c = contrib[j]
    base = torch.where(c >= 0, pos_bottom, neg_bottom)
    axes[3].bar(range(d_k), c.numpy(), bottom=base.numpy(), label=f"{weight_row[j]:.2f}·v[{j}]")
    pos_bottom += c.clamp_min(0)
    neg_bottom += c.clamp_max(0)
axes[3].plot(range(d_k), out[qi].numpy(), "k_", ms=28, mew=2, label="输出 o = Σ A·v")
for m in range(d_k):
    axes[3].annotate(f"{out[qi, m].item():.3f}", (m, out[qi, m].item()), textcoords="offset points", xytext=(0, 6),
                     ha="center", fontsize=8)
axes[3].set_xticks(range(d_k), [f"维 {m}" for m in range(d_k)])
axes[3].set_title("④ 加权求和：各个 v 的贡献叠起来", fontsize=10)
axes[3].legend(fontsize=6, ncol=2)
fig.suptitle("一个查询走过的四步（真实数值，来自上面的计算）")
plt.show()
print(f"查询“{chars[qi]}”：权重最大的是“{chars[int(weight_row.argmax())]}”（{weight_row.max().item():.1%}）；"
      f"输出 = {[round(x, 3) for x in out[qi].tolist()]}")
assert torch.allclose(scaled_row, raw_row / math.sqrt(d_k))
assert torch.allclose(weight_row, torch.softmax(scaled_row, dim=-1))
assert torch.allclose(contrib.sum(0), out[qi], atol=1e-6), "the output is the weighted sum of the values"

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

print("raw = 不缩放 QK^T，scaled = 缩放 QK^T/√d_k；熵 H 越大越分散；梯度 = softmax 雅可比矩阵的范数")
_tbl = ["| d_k | 分数标准差 raw | scaled | 熵 H raw | scaled | 最大权重 raw | scaled | 梯度 raw | scaled |"]
for d in dims:
    u = next(r for r in rows if r["d_k"] == d and not r["scaled"])
    s = next(r for r in rows if r["d_k"] == d and r["scaled"])
    _tbl.append(f"| {d} | {u['std']:.2f} | {s['std']:.2f} | {u['entropy']:.3f} | {s['entropy']:.3f} | "
                f"{u['max_w']:.3f} | {s['max_w']:.3f} | {u['jac']:.4f} | {s['jac']:.4f} |")
print_table(_tbl)
print(f"(熵的最大值 ln {n_keys} = {math.log(n_keys):.3f}，即完全平均分配)")

fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), constrained_layout=True)
for key, ax, title in [("entropy", axes[0], "softmax 的熵（entropy，nats）"),
                       ("max_w", axes[1], "最大的注意力权重"),
                       ("jac", axes[2], "softmax 雅可比范数（梯度大小）")]:
    for flag, style, name in [(False, "o-", "不缩放：QK^T"), (True, "s-", "缩放：QK^T / √d_k")]:
        ax.plot(dims, [r[key] for r in rows if r["scaled"] == flag], style, label=name)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("d_k")
    ax.set_title(title)
    ax.grid(alpha=0.3)
axes[0].axhline(math.log(n_keys), color="gray", ls=":", label=f"完全平均 = ln {n_keys}")
axes[0].legend(fontsize=8)
fig.suptitle(f"为什么除以 √d_k：{n_keys} 个键，q、k ~ N(0, I)")
plt.show()

# Checked claims: unscaled score std grows like sqrt(d_k); scaled std stays ~1; without scaling
# softmax saturates (entropy collapses, gradients vanish) as d_k grows, with scaling it does not.
std_ok = []
for d in dims:
    u = next(r for r in rows if r["d_k"] == d and not r["scaled"])
    s = next(r for r in rows if r["d_k"] == d and r["scaled"])
    std_ok.append(abs(u["std"] / math.sqrt(d) - 1) < 0.1 and abs(s["std"] - 1) < 0.1)
big_u = next(r for r in rows if r["d_k"] == 512 and not r["scaled"])
big_s = next(r for r in rows if r["d_k"] == 512 and r["scaled"])
scaled_entropies = [r["entropy"] for r in rows if r["scaled"]]
# Unscaled scores have std ~ sqrt(d_k), scaled ones ~1, at every d_k.
KB_VALUES["scaled_std_near_one"] = bool(all(std_ok))
# Without scaling softmax saturates at large d_k: entropy collapses, one weight dominates, gradients shrink.
KB_VALUES["unscaled_softmax_saturates"] = bool(big_u["entropy"] < 0.25 * big_s["entropy"] and big_u["max_w"] > 0.8
                                               and big_u["jac"] < 0.5 * big_s["jac"])
# With scaling the entropy does not depend on d_k.
KB_VALUES["scaled_entropy_flat"] = bool(max(scaled_entropies) - min(scaled_entropies) < 0.1)
assert KB_VALUES["scaled_std_near_one"]
assert KB_VALUES["unscaled_softmax_saturates"]
assert KB_VALUES["scaled_entropy_flat"], "scaled entropy should not depend on d_k"
KB_VALUES["unscaled_entropy_512"] = round(big_u["entropy"], 3)
KB_VALUES["scaled_entropy_512"] = round(big_s["entropy"], 3)
KB_VALUES["unscaled_maxw_512"] = round(big_u["max_w"], 3)
# Typical score size sqrt(64) = 8; two scores 16 apart give a softmax ratio e^16.
KB_VALUES["e16"] = round(math.exp(16), -5)
