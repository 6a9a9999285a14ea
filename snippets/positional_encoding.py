# %% [markdown]
# # 位置编码：为什么需要它，以及它长什么样
#
# 1. 没有位置编码时，自注意力是**置换等变**的：打乱输入，输出只会跟着打乱（数值验证）。
# 2. 正弦位置编码的热力图，以及“相似度只取决于距离”的性质。
# 3. RoPE 的相对位置性质：注意力分数只依赖两个位置的差。
# 4. ALiBi：按距离线性惩罚的注意力偏置。

# %% setup
import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]) if "__file__" in globals() else ".")

import matplotlib.pyplot as plt
import torch

from transformer_core.layers import EncoderLayer
from transformer_core.positional import RotaryEmbedding, SinusoidalPositionalEncoding, alibi_bias, alibi_slopes, sinusoidal_table
from transformer_core.tokenizer import CharTokenizer
from transformer_core.fonts import use_cjk_font

torch.manual_seed(0)
plt.rcParams.update({"figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white"})
use_cjk_font()  # Chinese figure text on Linux, macOS and Windows

# %% permutation_equivariance
d_model = 32
layer = EncoderLayer(d_model, n_heads=4, d_ff=64).eval()
pos_enc = SinusoidalPositionalEncoding(d_model, max_len=64)
tok = CharTokenizer.from_text("狗咬人")
embed = torch.nn.Embedding(tok.vocab_size, d_model)

a, b = "狗咬人", "人咬狗"
xa, xb = embed(torch.tensor([tok.encode(a)])), embed(torch.tensor([tok.encode(b)]))
with torch.no_grad():
    # Without PE: the vector computed for "狗" is the same in both sentences.
    ya, yb = layer(xa), layer(xb)
    dog_no_pe = (ya[0, a.index("狗")] - yb[0, b.index("狗")]).abs().max().item()
    # With PE added to the embeddings, "狗" at position 0 and at position 2 differ.
    za, zb = layer(pos_enc(xa)), layer(pos_enc(xb))
    dog_pe = (za[0, a.index("狗")] - zb[0, b.index("狗")]).abs().max().item()
print(f"“{a}” 与 “{b}” 中，编码器层为“狗”算出的向量之差 (max abs)：")
print(f"  不加位置编码: {dog_no_pe:.2e}   -> 模型分不清谁咬谁")
print(f"  加正弦位置编码: {dog_pe:.2e}\n")

# The general statement on a random sequence and a random permutation P: f(P X) == P f(X)?
L = 10
x = torch.randn(1, L, d_model)
perm = torch.randperm(L, generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    no_pe = (layer(x[:, perm]) - layer(x)[:, perm]).abs().max().item()
    with_pe = (layer(pos_enc(x[:, perm])) - layer(pos_enc(x))[:, perm]).abs().max().item()
print(f"随机序列 (L={L})，置换 P={perm.tolist()}")
print(f"  max |f(PX) - P f(X)|，不加位置编码: {no_pe:.2e}")
print(f"  max |f(PX) - P f(X)|，加位置编码:   {with_pe:.2e}")
# Checked claims: self-attention (+FFN) without PE is permutation-equivariant; PE breaks it.
assert no_pe < 1e-5 and dog_no_pe < 1e-5
assert with_pe > 1e-2 and dog_pe > 1e-2

# %% sinusoidal_heatmap
max_len, d_pe = 64, 128
pe = sinusoidal_table(max_len, d_pe)
fig, axes = plt.subplots(1, 2, figsize=(12, 4), constrained_layout=True, gridspec_kw={"width_ratios": [1.3, 1]})
im = axes[0].imshow(pe.numpy(), cmap="RdBu_r", aspect="auto", vmin=-1, vmax=1)
axes[0].set_xlabel("维度（dimension）i")
axes[0].set_ylabel("位置（position）pos")
axes[0].set_title(f"正弦位置编码（sinusoidal PE），{max_len} 个位置 × d_model={d_pe}")
fig.colorbar(im, ax=axes[0])
for dim in [0, 10, 40, 100]:
    axes[1].plot(pe[:, dim].numpy(), label=f"第 {dim} 维")
axes[1].set_xlabel("位置（position）pos")
axes[1].set_ylabel("PE 取值")
axes[1].set_title("低维变化快，高维变化慢")
axes[1].legend(fontsize=8)
axes[1].grid(alpha=0.3)
plt.show()
wavelengths = [2 * torch.pi * 10000 ** (i / d_pe) for i in (0, d_pe - 2)]
print(f"波长从 {wavelengths[0]:.2f}（第 0 维）到 {wavelengths[1]:.0f}（第 {d_pe - 2} 维）个位置，几何级数增长")
assert torch.allclose(pe.norm(dim=1), torch.full((max_len,), (d_pe / 2) ** 0.5), atol=1e-4), "every PE row has norm sqrt(d/2)"

# %% similarity_vs_distance
table = sinusoidal_table(512, d_pe)
unit = table / table.norm(dim=1, keepdim=True)
max_k = 100
starts = [0, 37, 250]
fig, ax = plt.subplots(figsize=(8, 3.6), constrained_layout=True)
curves = []
for p, style in zip(starts, ["-", "--", ":"]):
    sims = (unit[p] * unit[p : p + max_k + 1]).sum(-1)  # cosine similarity with positions p .. p+max_k
    curves.append(sims)
    ax.plot(range(max_k + 1), sims.numpy(), style, lw=2, label=f"从位置 {p} 出发")
ax.set_xlabel("距离（distance）k")
ax.set_ylabel("cos(PE[p], PE[p+k])")
ax.set_title("正弦位置编码之间的相似度只取决于距离 k")
ax.legend()
ax.grid(alpha=0.3)
plt.show()
spread = max((c - curves[0]).abs().max().item() for c in curves)
print(f"从位置 {starts} 出发的三条曲线之间的最大差: {spread:.1e}")
for k in [1, 2, 5, 10, 50, 100]:
    print(f"  距离 {k:>3}: 余弦相似度 {curves[0][k].item():.3f}")
# Checked claim: PE[p]·PE[p+k] = sum_i cos(w_i k), independent of p.
assert spread < 1e-4
assert curves[0][1] > curves[0][10] > curves[0][50], "nearby positions are more similar"

# %% rope_relative
head_dim, n_pos = 16, 32
rope = RotaryEmbedding(head_dim)
g = torch.Generator().manual_seed(3)
q, k = torch.randn(head_dim, generator=g), torch.randn(head_dim, generator=g)
positions = torch.arange(n_pos)
rq = rope.rotate(q.expand(n_pos, head_dim), positions)  # q placed at every position m
rk = rope.rotate(k.expand(n_pos, head_dim), positions)  # k placed at every position n
scores = rq @ rk.T  # scores[m, n] = <R_m q, R_n k>

# If the score depends only on m - n, every diagonal of the matrix is constant (a Toeplitz matrix).
worst = max((scores.diagonal(off) - scores.diagonal(off)[0]).abs().max().item() for off in range(-n_pos + 1, n_pos))
print(f"RoPE, head_dim={head_dim}: 同一相对距离 m-n 下分数的最大差 = {worst:.1e}")
for m, n in [(5, 2), (105, 102), (1005, 1002), (2, 5)]:
    s = (rope.rotate(q[None], torch.tensor([m])) @ rope.rotate(k[None], torch.tensor([n])).T).item()
    print(f"  q 在位置 {m:>4}, k 在位置 {n:>4} (m-n={m - n:+d}): 分数 = {s:.5f}")
norm_change = (rq.norm(dim=-1) - q.norm()).abs().max().item()
print(f"旋转不改变向量长度：max | |R_m q| - |q| | = {norm_change:.1e}")
# Checked claims: <R_m q, R_n k> depends only on m - n; rotation preserves the norm.
assert worst < 1e-4
far = [(rope.rotate(q[None], torch.tensor([m])) @ rope.rotate(k[None], torch.tensor([m - 3])).T).item() for m in (5, 105, 1005)]
assert max(far) - min(far) < 1e-3
assert norm_change < 1e-5

fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
im = axes[0].imshow(scores.numpy(), cmap="RdBu_r")
axes[0].set_xlabel("键位置（key）n")
axes[0].set_ylabel("查询位置（query）m")
axes[0].set_title("RoPE 分数 <R_m q, R_n k>：沿对角线不变")
fig.colorbar(im, ax=axes[0])
offsets = torch.arange(-n_pos + 1, n_pos)
axes[1].plot(offsets.numpy(), [scores.diagonal(-int(o)).mean().item() for o in offsets], "o-", ms=3)
axes[1].set_xlabel("相对偏移（relative offset）m - n")
axes[1].set_ylabel("注意力分数（score）")
axes[1].set_title("分数只是 m - n 的函数")
axes[1].grid(alpha=0.3)
plt.show()

# %% alibi
n_heads, L = 8, 12
bias = alibi_bias(n_heads, L, L)  # [H, L, L], -slope_h * |i - j|
slopes = alibi_slopes(n_heads)
print("ALiBi 每个头的斜率:", ", ".join(f"{s:.4f}" for s in slopes.tolist()))
fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), constrained_layout=True)
for ax, h in zip(axes[:2], [0, n_heads - 1]):
    im = ax.imshow(bias[h].numpy(), cmap="magma")
    ax.set_title(f"ALiBi 偏置（bias），头 {h}（斜率 {slopes[h]:.3f}）")
    ax.set_xlabel("键（key）j")
    ax.set_ylabel("查询（query）i")
    fig.colorbar(im, ax=ax)
for h in range(n_heads):
    axes[2].plot(range(L), bias[h, L - 1].numpy(), label=f"头（head） {h}")
axes[2].set_xlabel("键位置 j（查询 = 最后一个位置）")
axes[2].set_ylabel("加到分数上的偏置（bias）")
axes[2].set_title("陡 = 只看近处，平 = 也看远处")
axes[2].legend(fontsize=7, ncol=2)
axes[2].grid(alpha=0.3)
plt.show()
assert torch.allclose(bias[:, 3, 1], -2 * slopes), "bias is -slope * distance"
