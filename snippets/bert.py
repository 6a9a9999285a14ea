# kbgen: timeout=180
# %% [markdown]
# # BERT：双向注意力与“完形填空”
#
# 本脚本配合笔记 [[架构演进/BERT]]：
#
# 1. 画出双向掩码（BERT）与因果掩码（GPT）；
# 2. 在项目自带的语料上训练一个字符级的迷你 BERT 做掩码语言模型（Masked LM）；
# 3. 让它填空，并与“总猜最常见的字”的基线比较；
# 4. 在 `meta` 设备上构建 BERT-base / BERT-large，数出参数量并与论文的 110M / 340M 对照。

# %%
import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]) if "__file__" in globals() else ".")

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from transformer_core.attention import causal_mask, padding_mask
from transformer_core.configs import PAPER_COUNTS, PRESETS, count_parameters
from transformer_core.data import load_corpus
from transformer_core.models import BertModel, TransformerConfig
from transformer_core.tokenizer import CharTokenizer
from transformer_core.train import warmup_cosine
from transformer_core.fonts import use_cjk_font

plt.rcParams.update({"figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white"})
use_cjk_font()  # Chinese figure text on Linux, macOS and Windows
KB_VALUES = {}  # values the notes bind into prose: {{bert.py:key}}
torch.manual_seed(0)

# %% [markdown]
# ## 双向掩码 vs 因果掩码
# 掩码由 `transformer_core.attention` 生成（True = 允许注意）。左：BERT 的双向掩码，只屏蔽填充位 `[PAD]`；
# 右：GPT 的因果掩码，每个词只看自己和左边。

# %% masks
tokens = ["[CLS]", "the", "cat", "sat", "on", "the", "mat", "[SEP]", "[PAD]", "[PAD]"]
L, real = len(tokens), tokens.index("[PAD]")
bidirectional = padding_mask([real], L)[0, 0].expand(L, L)  # [L, L]: every query may see every real key
causal = causal_mask(L, L)
fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
for ax, m, title in [(axes[0], bidirectional, "BERT: bidirectional (+ padding mask)"),
                     (axes[1], causal, "GPT: causal (lower-triangular)")]:
    ax.imshow(m.float().numpy(), cmap="Blues", vmin=0, vmax=1.25)
    ax.set_xticks(range(L), tokens, rotation=60, fontsize=8)
    ax.set_yticks(range(L), tokens, fontsize=8)
    ax.set_xlabel("键（被关注的位置）")
    ax.set_ylabel("查询（发出关注的位置）")
    ax.set_title(title, fontsize=10)
fig.tight_layout()
plt.show()
print(f"{real} 个真实 token 之间允许的查询-键（query-key）对：双向（bidirectional） {int(bidirectional[:real, :real].sum())}，"
      f"因果（causal） {int(causal[:real, :real].sum())}（共 {real * real} 对）")

# %% [markdown]
# ## 训练迷你 BERT：随机遮盖 15% 的字
# 选中的位置 80% 换成 `[MASK]`、10% 换成随机字、10% 不变（与论文相同），只在选中位置上计算交叉熵。
# 语料最后 10% 留作测试，不参与训练。

# %% mlm_train
text = load_corpus()
tok = CharTokenizer.from_text(text)
MASK_ID, VOCAB = tok.vocab_size, tok.vocab_size + 1  # one extra id for [MASK]
data = torch.tensor(tok.encode(text))
split = int(len(data) * 0.9)
train_data, test_data = data[:split], data[split:]
BLOCK = 32


def windows(src: torch.Tensor, n: int, gen: torch.Generator) -> torch.Tensor:
    starts = torch.randint(0, src.numel() - BLOCK, (n,), generator=gen)
    return torch.stack([src[s : s + BLOCK] for s in starts.tolist()])


def mask_tokens(x: torch.Tensor, gen: torch.Generator, rate: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking: returns (corrupted input, labels with -100 where not selected)."""
    chosen = torch.rand(x.shape, generator=gen) < rate
    roll = torch.rand(x.shape, generator=gen)
    corrupted = x.clone()
    corrupted[chosen & (roll < 0.8)] = MASK_ID
    random_pos = chosen & (roll >= 0.8) & (roll < 0.9)
    corrupted[random_pos] = torch.randint(1, tok.vocab_size, (int(random_pos.sum()),), generator=gen)
    return corrupted, torch.where(chosen, x, torch.full_like(x, -100))


cfg = TransformerConfig(vocab_size=VOCAB, d_model=64, n_heads=4, n_layers=2, d_ff=256, max_len=BLOCK,
                        positional="learned", norm_first=True, activation="gelu", arch="encoder")
model = BertModel(cfg)
STEPS = 250
opt = torch.optim.AdamW(model.parameters(), lr=4e-3, weight_decay=0.01)
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, STEPS, STEPS // 10))
gen = torch.Generator().manual_seed(0)
history = []
model.train()
for step in range(STEPS):
    x, y = mask_tokens(windows(train_data, 32, gen), gen)
    loss = F.cross_entropy(model(x).reshape(-1, VOCAB), y.reshape(-1), ignore_index=-100)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    history.append(loss.item())
model.eval()
KB_VALUES["mlm_params"] = sum(p.numel() for p in model.parameters())
KB_VALUES["mlm_steps"] = STEPS
print(f"模型：{sum(p.numel() for p in model.parameters()):,} 个参数；掩码语言模型（masked-LM）损失 "
      f"{history[0]:.2f} -> {sum(history[-20:]) / 20:.2f}（最后 20 步的平均）")

fig, ax = plt.subplots(figsize=(7, 3.2))
ax.plot(history, alpha=0.35, label="每一步")
smooth = [sum(history[max(0, i - 19) : i + 1]) / len(history[max(0, i - 19) : i + 1]) for i in range(len(history))]
ax.plot(smooth, label="滑动平均（20 步）")
ax.set_xlabel("步数（step）")
ax.set_ylabel("被遮盖位置上的交叉熵")
ax.set_title("迷你 BERT 学习填回被遮住的字")
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 填空
# 在测试文本（训练时没见过）里遮住一个字，看模型给出的前 3 个候选及概率。
# 最后比较模型在 2000 个被遮住位置上的准确率与“总猜语料中最常见的字”的基线。

# %% mlm_fill
@torch.no_grad()
def fill(window: torch.Tensor, pos: int) -> list[tuple[str, float]]:
    x = window.clone()[None]
    x[0, pos] = MASK_ID
    probs = model(x)[0, pos].softmax(-1)
    top = probs.topk(3)
    return [(visible(tok.itos[i]) if i < tok.vocab_size else "[MASK]", p) for p, i in zip(top.values.tolist(), top.indices.tolist())]


def visible(c: str) -> str:
    return {"\n": "⏎", " ": "␣"}.get(c, c)


eval_gen = torch.Generator().manual_seed(7)
shown = 0
for window in windows(test_data, 200, eval_gen):
    chars = tok.decode(window.tolist())
    pos = BLOCK // 2
    if not ("\u4e00" <= chars[pos] <= "\u9fff") or "\n" in chars[pos - 8 : pos + 9]:
        continue  # show Chinese characters in the middle of a single line
    context = "".join(map(visible, chars[pos - 8 : pos])) + "[MASK]" + "".join(map(visible, chars[pos + 1 : pos + 9]))
    guesses = "  ".join(f"{c}({p:.0%})" for c, p in fill(window, pos))
    print(f"{context}   答案：{chars[pos]}   模型：{guesses}")
    shown += 1
    if shown == 6:
        break

with torch.no_grad():
    x, y = mask_tokens(windows(test_data, 400, torch.Generator().manual_seed(11)), torch.Generator().manual_seed(12))
    logits = model(x)
    sel = y != -100
    accuracy = (logits.argmax(-1)[sel] == y[sel]).float().mean().item()
    top5 = (logits.topk(5, dim=-1).indices[sel] == y[sel][:, None]).any(-1).float().mean().item()
most_common = torch.bincount(train_data, minlength=tok.vocab_size).argmax()
baseline = (y[sel] == most_common).float().mean().item()
print(f"\n留出文本中被遮盖的位置：{int(sel.sum())} 个；模型 top-1 准确率 {accuracy:.1%}，top-5 {top5:.1%}；"
      f"基线（baseline，总是猜 '{visible(tok.itos[int(most_common)])}'）{baseline:.1%}")
KB_VALUES["mlm_accuracy"] = round(accuracy, 3)
KB_VALUES["mlm_baseline"] = round(baseline, 3)
KB_VALUES["mlm_vs_baseline"] = round(accuracy / baseline, 1)
KB_VALUES["mlm_beats_2x_baseline"] = bool(accuracy > 2 * baseline)  # context, not frequency, drives the guesses
assert KB_VALUES["mlm_beats_2x_baseline"], (accuracy, baseline)

# %% [markdown]
# ## BERT-base / BERT-large 参数量
# 在 `meta` 设备上构建（只有形状、不分配内存），按组件计数；论文数字为 110M / 340M。

# %% param_counts
names = ["bert-base", "bert-large"]
counts = {n: count_parameters(n) for n in names}
print(f"{'组件':<10}" + "".join(f"{n:>16}{'占比':>6}" for n in names))
for comp in ["embeddings", "attention", "ffn", "norms", "head", "other"]:
    print(f"{comp:<12}" + "".join(f"{counts[n].by_component[comp]:>16,}{counts[n].by_component[comp] / counts[n].total:>8.1%}"
                                  for n in names))
print(f"{'合计':<10}" + "".join(f"{counts[n].total:>16,}{'':>8}" for n in names))
print(f"{'论文':<10}" + "".join(f"{PAPER_COUNTS[n]:>16,.0f}{'':>8}" for n in names))
print(f"{'差异':<10}" + "".join(f"{counts[n].total / PAPER_COUNTS[n] - 1:>+16.1%}{'':>8}" for n in names))
print("\n（层数 layers, d_model, 头数 heads）：" + ", ".join(f"{n} = ({PRESETS[n].n_layers}, {PRESETS[n].d_model}, {PRESETS[n].n_heads})"
                                                 for n in names))
print("'other' 是 [CLS] 池化层（pooler）；预训练用的 MLM 变换层不计入论文公布的参数量。")
for n in names:
    assert abs(counts[n].total / PAPER_COUNTS[n] - 1) < 0.05, (n, counts[n].total)
KB_VALUES["base_embedding_share"] = round(counts["bert-base"].by_component["embeddings"] / counts["bert-base"].total, 3)
KB_VALUES["bert_within_5pct"] = bool(all(abs(counts[n].total / PAPER_COUNTS[n] - 1) < 0.05 for n in names))
assert KB_VALUES["bert_within_5pct"]
