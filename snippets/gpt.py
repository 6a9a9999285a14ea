# kbgen: timeout=180, measured
# %% [markdown]
# # GPT：仅解码器、自回归生成与规模扩展
#
# 本脚本配合笔记 [[架构演进/GPT系列]]：
#
# 1. 在项目自带的语料上训练一个字符级（character-level）迷你 GPT；
# 2. 用不同的温度（temperature）生成文字；
# 3. 实测 KV 缓存（KV cache）带来的生成加速，并检查两种方式生成的文字完全相同；
# 4. 在 `meta` 设备上构建 GPT-1 到 GPT-3，数出参数量画成对数图，并核对原始笔记“从1.17亿到数千亿参数”的说法。

# %%
import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]) if "__file__" in globals() else ".")

import os
import platform
import time

import math

import matplotlib.pyplot as plt
import torch

from transformer_core.configs import PAPER_COUNTS, PRESETS, count_parameters
from transformer_core.data import load_corpus
from transformer_core.device import get_device
from transformer_core.generate import generate
from transformer_core.models import GPT, TransformerConfig
from transformer_core.train import train_char_lm
from transformer_core.fonts import use_cjk_font

plt.rcParams.update({"figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white"})
use_cjk_font()  # Chinese figure text on Linux, macOS and Windows
KB_VALUES = {}  # values the notes bind into prose: {{gpt.py:key}}
torch.manual_seed(0)

# %% [markdown]
# ## 训练一个迷你 GPT
# 2 层解码器、宽度 64、4 个头、Pre-Norm、可学习位置嵌入；词表是语料中出现过的全部字符。
# 语料最后 10% 留作验证集（validation），不参与训练。

# %% train_char_lm
text = load_corpus()
cfg = TransformerConfig(vocab_size=1, d_model=64, n_heads=4, n_layers=2, d_ff=256, max_len=96,
                        positional="learned", norm_first=True, activation="gelu")
model, tok, history = train_char_lm(text, cfg, steps=250, batch=16, block=48, lr=4e-3, seed=0, log_every=10,
                                    device="cpu")
n_params = sum(p.numel() for p in model.parameters())
print(f"语料（corpus）：{len(text):,} 个字符，词表（vocabulary）{tok.vocab_size:,} 个字符")
print(f"模型：{n_params:,} 个参数；损失（loss）{history[0]['loss']:.2f} -> {history[-1]['loss']:.2f}（训练集），"
      f"{history[-1]['val_loss']:.2f}（验证集）")
print(f"在词表上均匀乱猜的损失是 ln({tok.vocab_size}) = {torch.log(torch.tensor(float(tok.vocab_size))):.2f}")

fig, ax = plt.subplots(figsize=(7, 3.2))
ax.plot([h["step"] for h in history], [h["loss"] for h in history], label="训练集")
ax.plot([h["step"] for h in history], [h["val_loss"] for h in history], label="验证集")
ax.set_xlabel("步数（step）")
ax.set_ylabel("交叉熵（nats / 字符）")
ax.set_title("在项目语料上训练的迷你字符级 GPT")
ax.legend()
fig.tight_layout()
plt.show()
assert history[-1]["val_loss"] < history[0]["val_loss"] - 1.0  # it learned something
KB_VALUES["toy_params"] = n_params
KB_VALUES["toy_steps"] = 250

# %% [markdown]
# ## 温度采样
# 同一个开头、同一个随机种子，只改温度 $T$。$T=0$ 即贪心（每步取最可能的字）。

# %% samples_by_temperature
prompt = "注意力"
ids = torch.tensor([tok.encode(prompt)])
for temperature in (0.0, 0.5, 1.0, 1.5):
    out = generate(model, ids, max_new_tokens=40, temperature=temperature, greedy=temperature == 0.0,
                   generator=torch.Generator().manual_seed(0))
    sample = tok.decode(out[0].tolist()).replace("\n", "⏎")
    print(f"T={temperature:<4} | {sample}")

# %% [markdown]
# ## KV 缓存：实测加速
# 用一个随机初始化的稍大模型（生成速度与是否训练过无关），从 16 个词元的开头贪心生成不同长度的文字，
# 分别不用缓存（每步重算整个序列）和使用缓存（每步只算新词元）。两种方式生成的词元必须完全相同。

# %% kv_cache_speedup
device = get_device()
torch.manual_seed(0)
bench_cfg = TransformerConfig(vocab_size=tok.vocab_size, d_model=128, n_heads=4, n_layers=4, d_ff=512, max_len=160,
                              positional="learned", norm_first=True, activation="gelu")
bench = GPT(bench_cfg).to(device).eval()
start_ids = torch.randint(0, tok.vocab_size, (1, 16), generator=torch.Generator().manual_seed(0)).to(device)


def timed(use_cache: bool, n: int) -> tuple[float, torch.Tensor]:
    """Best of two runs (seconds) and the generated ids."""
    best, out = float("inf"), None
    for _ in range(2):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = generate(bench, start_ids, max_new_tokens=n, greedy=True, use_cache=use_cache)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best, out


lengths = [16, 32, 64, 128]
rows = []
for n in lengths:
    t_full, out_full = timed(False, n)
    t_cache, out_cache = timed(True, n)
    assert torch.equal(out_full, out_cache), "KV cache changed the generated tokens"
    rows.append((n, t_full, t_cache))

machine = (f"{platform.machine()} {platform.processor() or ''}".strip() + f"，{os.cpu_count()} 个 CPU，"
           f"{torch.get_num_threads()} 个 torch 线程，设备 {device.type}，torch {torch.__version__}")
print(f"构建时测量于：{machine}")
print(f"{'生成 token 数':>10} {'无缓存（秒）':>10} {'KV 缓存（秒）':>10} {'加速比':>7}")
for n, a, b in rows:
    print(f"{n:>10} {a:>13.3f} {b:>13.3f} {a / b:>8.1f}x")
print("有无缓存生成的 token 完全相同：是")

fig, ax = plt.subplots(figsize=(7, 3.4))
ax.plot(lengths, [r[1] for r in rows], "o-", label="无缓存：每一步重算整段序列")
ax.plot(lengths, [r[2] for r in rows], "s-", label="KV 缓存：每一步只算新 token")
ax.set_xlabel("生成的 token 数")
ax.set_ylabel("秒")
ax.set_title(f"贪心生成用时（d_model=128，4 层）\n{machine}", fontsize=9)
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 从 GPT-1 到 GPT-3：参数量
# 按公开配置在 `meta` 设备上构建模型（只有形状、不分配内存），逐个张量计数；空心圆是论文/官方公布的数字。

# %% param_counts
names = ["gpt-1", "gpt2-small", "gpt2-medium", "gpt2-large", "gpt2-xl", "gpt-3"]
counts = {n: count_parameters(n) for n in names}
print(f"{'模型':<12}{'层数':>7}{'d_model':>8}{'代码数出':>18}{'论文公布':>18}{'差异':>8}{'嵌入占比':>18}")
for n in names:
    c, total = PRESETS[n], counts[n].total
    share = counts[n].by_component["embeddings"] / total
    print(f"{n:<12}{c.n_layers:>7}{c.d_model:>8}{total:>18,}{PAPER_COUNTS[n]:>18,.0f}"
          f"{total / PAPER_COUNTS[n] - 1:>+8.1%}{share:>18.1%}")
    assert abs(total / PAPER_COUNTS[n] - 1) < 0.05, n

fig, ax = plt.subplots(figsize=(7.5, 3.8))
xs = range(len(names))
ax.semilogy(xs, [counts[n].total for n in names], "o-", color="tab:blue", label="代码数出（meta 设备）")
ax.semilogy(xs, [PAPER_COUNTS[n] for n in names], "o", mfc="none", ms=12, color="tab:red", label="论文公布")
for x, n in zip(xs, names):
    ax.annotate(f"{counts[n].total / 1e9:.3g}B" if counts[n].total >= 1e9 else f"{counts[n].total / 1e6:.0f}M",
                (x, counts[n].total), textcoords="offset points", xytext=(0, 10), ha="center", fontsize=8)
ax.set_xticks(list(xs), names)
ax.set_ylabel("参数量（对数坐标）")
ax.set_ylim(5e7, 2e12)
ax.set_title("GPT-1（2018）→ GPT-2（2019）→ GPT-3（2020）")
ax.legend(loc="upper left")
ax.grid(True, which="major", axis="y", alpha=0.3)
fig.tight_layout()
plt.show()

gpt1, gpt3 = counts["gpt-1"].total, counts["gpt-3"].total
print(f"source note: 从1.17亿到数千亿参数 (from 117M to hundreds of billions).")
print(f"computed: GPT-1 {gpt1 / 1e8:.2f} x 10^8 (1.17亿 = 1.17 x 10^8), GPT-3 {gpt3 / 1e9:.1f} x 10^9 "
      f"= {gpt3 / 1e8:,.0f}亿; growth x{gpt3 / gpt1:,.0f}")
assert abs(gpt1 / 117e6 - 1) < 0.05, gpt1
assert 1e11 <= gpt3 < 1e12, gpt3  # 数千亿: hundreds of billions
KB_VALUES["gpt1_params"] = gpt1
KB_VALUES["gpt3_params"] = gpt3
KB_VALUES["gpt1_to_gpt3_growth"] = round(gpt3 / gpt1)
KB_VALUES["gpt1_to_gpt3_orders"] = round(math.log10(gpt3 / gpt1), 1)
KB_VALUES["gpt1_within_5pct"] = bool(abs(gpt1 / 117e6 - 1) < 0.05)
assert KB_VALUES["gpt1_within_5pct"]
KB_VALUES["gpt3_hundreds_of_billions"] = bool(1e11 <= gpt3 < 1e12)
assert KB_VALUES["gpt3_hundreds_of_billions"]
