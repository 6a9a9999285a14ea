# kbgen: timeout=180
# %% [markdown]
# # 温度与 top-k：从概率分布里挑下一个字
#
# 先在项目语料上训练一个字符级小 GPT，然后给它一个提示，取出它对**下一个字**的分数（logits），看：
#
# - 温度 $T$ 如何把分布变“尖”或变“平”：$p_i(T)=\exp(z_i/T)/\sum_j\exp(z_j/T)$；
# - 熵（entropy）如何随温度上升；
# - 用 `transformer_core.generate.generate` 在不同温度、不同 top-k 下生成文本，结果有何不同。
#
# 随机种子固定，所以“随机采样”的结果每次运行都一样。

# %% setup
import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]) if "__file__" in globals() else ".")

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.font_manager import FontProperties

from transformer_core.data import load_corpus
from transformer_core.fonts import use_cjk_font
from transformer_core.generate import generate
from transformer_core.models import TransformerConfig
from transformer_core.train import train_char_lm

torch.manual_seed(0)
plt.rcParams.update({"figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white"})

_cjk_font = use_cjk_font()  # finds a Chinese font on Linux, macOS and Windows (None when there is none)
CJK = FontProperties(fname=_cjk_font.path) if _cjk_font is not None else None


def label(ch: str) -> str:
    """Readable tick label for one character: itself with a CJK font (or if ASCII), else its code point."""
    if ch == "\n":
        return "\\n"
    if ch == " ":
        return "空格"
    return ch if CJK is not None or ch.isascii() else f"U+{ord(ch):04X}"


# %% train_model
cfg = TransformerConfig(vocab_size=1, d_model=64, n_heads=4, n_layers=2, d_ff=256, max_len=128,
                        positional="learned", activation="gelu", norm_first=True)
model, tok, history = train_char_lm(load_corpus(), cfg, steps=300, batch=16, block=48, lr=4e-3, seed=0)
print(f"迷你字符级 GPT（char-level）：{sum(p.numel() for p in model.parameters()):,} 个参数，词表 {tok.vocab_size} 个字符")
print(f"训练 300 步：验证集损失 {history[-1]['val_loss']:.2f}（困惑度 perplexity {math.exp(history[-1]['val_loss']):.1f}）")

# %% next_token
PROMPT = "注意力机制让每个"
ids = torch.tensor([tok.encode(PROMPT)])
with torch.no_grad():
    logits = model(ids)[0, -1]  # [V] scores for the next character
probs = logits.softmax(-1)
top = torch.topk(probs, 10)
print(f"提示（prompt）: {PROMPT!r}  ->  下一个字的概率（T = 1，前 10 名）")
print(f"{'名次':>4}  {'字符':<6}{'logit':>8}{'概率':>9}")
for r, (p, i) in enumerate(zip(top.values.tolist(), top.indices.tolist()), 1):
    print(f"{r:>4}  {tok.decode([i])!r:<6}{logits[i].item():>8.2f}{p:>9.1%}")
print(f"前 10 名合计 {top.values.sum().item():.1%}，其余 {tok.vocab_size - 10} 个字合计 {1 - top.values.sum().item():.1%}")

# %% temperature
TEMPS = [0.5, 1.0, 2.0]
K_SHOW = 12
order = torch.topk(logits, K_SHOW).indices
x = np.arange(K_SHOW)
fig, ax = plt.subplots(figsize=(10, 3.8))
for j, T in enumerate(TEMPS):
    pT = (logits / T).softmax(-1)
    ax.bar(x + (j - 1) * 0.27, pT[order].numpy(), width=0.27, label=f"T = {T}")
ax.set_xticks(x)
ax.set_xticklabels([label(tok.decode([i])) for i in order.tolist()], fontproperties=CJK, fontsize=12)
ax.set(title=f"三种温度（temperature）下的下一个字概率（按 logit 取前 {K_SHOW} 名）", xlabel="候选的下一个字", ylabel="概率（probability）")
ax.legend()
fig.tight_layout()
plt.show()
for T in TEMPS:
    pT = (logits / T).softmax(-1)
    print(f"T = {T}：第 1 名概率 {pT.max().item():.1%}，前 {K_SHOW} 名合计 {pT[order].sum().item():.1%}")

# %% entropy
temps = np.round(np.linspace(0.1, 3.0, 30), 2)
entropy_bits = []
for T in temps:
    pT = (logits / float(T)).softmax(-1)
    entropy_bits.append(float(-(pT * pT.clamp_min(1e-30).log2()).sum()))
assert all(a < b for a, b in zip(entropy_bits, entropy_bits[1:])), "entropy rises with temperature"
fig, ax = plt.subplots(figsize=(7, 3.4))
ax.plot(temps, entropy_bits, marker="o", ms=3)
ax.axhline(math.log2(tok.vocab_size), color="gray", ls="--", lw=1, label=f"在 {tok.vocab_size} 个字符上均匀分布")
ax.set(title="下一个字分布的熵（entropy）随温度的变化", xlabel="温度（temperature）T", ylabel="熵（比特 bits）")
ax.legend()
fig.tight_layout()
plt.show()
for T in [0.1, 0.5, 1.0, 2.0, 3.0]:
    h = entropy_bits[int(np.argmin(abs(temps - T)))]
    print(f"T = {T:<4} 熵 {h:5.2f} 比特  ~ 相当于在 {2 ** h:6.1f} 个等可能的字里挑")

# %% top_k
N_NEW = 40
settings = [
    ("greedy", dict(greedy=True)),
    ("T=0.5", dict(temperature=0.5)),
    ("T=1.0", dict(temperature=1.0)),
    ("T=2.0", dict(temperature=2.0)),
    ("T=1.0, top_k=1", dict(temperature=1.0, top_k=1)),
    ("T=1.0, top_k=5", dict(temperature=1.0, top_k=5)),
    ("T=2.0, top_k=5", dict(temperature=2.0, top_k=5)),
]
outputs = {}
print(f"提示 {PROMPT!r}，每种设置生成 {N_NEW} 个字（seed 固定）：")
for name, kw in settings:
    out = generate(model, ids, N_NEW, generator=torch.Generator().manual_seed(0), **kw)[0, ids.size(1):]
    outputs[name] = tok.decode(out.tolist())
    print(f"  {name:<15} | {outputs[name]!r}")
assert outputs["T=1.0, top_k=1"] == outputs["greedy"], "top_k = 1 is greedy decoding"

# Sample many single next characters with top_k=5: nothing outside the top 5, frequencies ~ renormalised probabilities.
n = 4000
nxt = generate(model, ids.repeat(n, 1), 1, temperature=1.0, top_k=5, generator=torch.Generator().manual_seed(1))[:, -1]
top5 = torch.topk(probs, 5)
renorm = top5.values / top5.values.sum()
counts = torch.bincount(nxt, minlength=tok.vocab_size)
assert counts.sum() == counts[top5.indices].sum(), "top-k never samples outside the k best"
print(f"\ntop_k=5 时采样 {n} 次下一个字：")
print(f"{'字符':<6}{'p (T=1)':>9}{'p（top-5 重新归一化）':>19}{'采样频率':>15}")
for i, p, q in zip(top5.indices.tolist(), top5.values.tolist(), renorm.tolist()):
    print(f"{tok.decode([i])!r:<6}{p:>9.1%}{q:>19.1%}{counts[i].item() / n:>15.1%}")
