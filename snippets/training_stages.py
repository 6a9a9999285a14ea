# kbgen: timeout=180
# %% [markdown]
# # 大模型训练的三个阶段：预训练 → 监督微调 → 偏好对齐（DPO）
#
# 用一个只有十几万参数的字符级 GPT，把大模型训练的三个阶段完整跑一遍：
#
# 1. **预训练（pre-training）**：在项目自带的语料上做“预测下一个字”；
# 2. **监督微调（SFT）**：在代码里构造的“问：…答：…”小数据集上继续训练，只在回答部分计算损失；
# 3. **偏好对齐（DPO）**：在“被选中 / 被拒绝”的回答对上，用 DPO 损失让模型更偏向被选中的回答。
#
# 模型极小，生成的句子不会通顺；要看的是**每个阶段之后行为的变化**和损失曲线。

# %% setup
import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]) if "__file__" in globals() else ".")

import copy
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from transformer_core.data import load_corpus
from transformer_core.generate import generate
from transformer_core.models import GPT, TransformerConfig
from transformer_core.tokenizer import CharTokenizer
from transformer_core.train import train_char_lm
from transformer_core.fonts import use_cjk_font

torch.manual_seed(0)
plt.rcParams.update({"figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white"})
use_cjk_font()  # Chinese figure text on Linux, macOS and Windows
KB_VALUES = {}  # values the notes bind into prose: {{training_stages.py:key}}

CFG = TransformerConfig(vocab_size=1, d_model=64, n_heads=4, n_layers=2, d_ff=256, max_len=128,
                        positional="learned", activation="gelu", norm_first=True)
PRETRAIN_STEPS, SFT_STEPS, DPO_STEPS = 300, 80, 30


@torch.no_grad()
def complete(model: GPT, tok: CharTokenizer, prompt: str, n: int = 24) -> str:
    """Greedy continuation of ``prompt``, cut at the first newline (one answer line)."""
    ids = torch.tensor([tok.encode(prompt)])
    out = generate(model, ids, n, greedy=True)[0, ids.size(1):].tolist()
    return tok.decode(out).split("\n")[0]


# %% pretrain
corpus = load_corpus()
base, tok, pt_history = train_char_lm(corpus, CFG, steps=PRETRAIN_STEPS, batch=16, block=48, lr=4e-3, seed=0)
torch.manual_seed(0)
untrained = GPT(base.cfg).eval()  # same shape as the base model, random weights
n_params = sum(p.numel() for p in base.parameters())

print(f"语料：{len(corpus):,} 个字符，词表：{tok.vocab_size} 个字符，模型：{n_params:,} 个参数")
print(f"预训练（pre-training）：{PRETRAIN_STEPS} 步，损失 {pt_history[0]['loss']:.2f} → {pt_history[-1]['loss']:.2f}"
      f"（验证损失 {pt_history[-1]['val_loss']:.2f}，困惑度 perplexity {math.exp(pt_history[-1]['val_loss']):.1f}）")
assert pt_history[-1]["val_loss"] < pt_history[0]["val_loss"] - 1.0, "pre-training should lower the validation loss"
# Scale against GPT-3 (Brown et al. 2020, Table D.1: 175B parameters, 3.14e23 training FLOPs).
GPT3_PARAMS, GPT3_FLOPS = 175e9, 3.14e23
toy_tokens = PRETRAIN_STEPS * 16 * 48  # steps x batch x block
toy_flops = 6 * n_params * toy_tokens  # C ~ 6ND (forward 2ND + backward 4ND)
orders_params = math.log10(GPT3_PARAMS / n_params)
orders_flops = math.log10(GPT3_FLOPS / toy_flops)
print(f"训练算力（training compute）≈ 6·N·D = 6 × {n_params:,} × {toy_tokens:,} token ≈ {toy_flops:.2e} FLOPs；"
      f"GPT-3：{GPT3_FLOPS:.2e} FLOPs，相差约 {orders_flops:.1f} 个数量级；参数量相差约 {orders_params:.1f} 个数量级")
KB_VALUES["n_params"] = n_params
KB_VALUES["pretrain_steps"] = PRETRAIN_STEPS
KB_VALUES["toy_flops"] = float(f"{toy_flops:.2e}")
KB_VALUES["orders_flops"] = round(orders_flops)
KB_VALUES["orders_params"] = round(orders_params)
KB_VALUES["pretrain_lowers_val_loss"] = bool(pt_history[-1]["val_loss"] < pt_history[0]["val_loss"] - 1.0)
assert KB_VALUES["pretrain_lowers_val_loss"], "pretrain_lowers_val_loss"
for prompt in ["模型", "训练"]:
    print(f"\n续写「{prompt}」")
    print(f"  训练前（随机权重）: {complete(untrained, tok, prompt, 30)!r}")
    print(f"  预训练后（基座模型）: {complete(base, tok, prompt, 30)!r}")

# %% sft_data
# Instruction pairs written for this demo. The first six questions also appear twice with an evasive
# answer ("我不知道。"), as low-quality demonstrations do in real SFT data: SFT then learns to dodge
# them, and the preference step has to undo that.
QA = [
    ("什么是注意力", "让每个字看所有的字。"),
    ("什么是多头注意力", "多个头一起看，各看各的。"),
    ("为什么要位置编码", "注意力本身不知道顺序。"),
    ("什么是预训练", "在大量文本上预测下一个字。"),
    ("什么是微调", "用问题和回答的例子继续训练。"),
    ("什么是过拟合", "训练时好，新数据上差。"),
    ("什么是梯度下降", "沿着损失下降的方向走一小步。"),
    ("什么是分词", "把文本切成一个个小单位。"),
    ("什么是掩码", "不让模型看到不该看的位置。"),
    ("什么是残差连接", "把输入直接加到输出上。"),
    ("什么是检索增强生成", "先找资料，再让模型回答。"),
    ("为什么要除以根号d_k", "让分数的方差保持在一左右。"),
    ("什么是提示词", "告诉模型要做什么的文字。"),
    ("模型的参数从哪里来", "从数据中训练出来。"),
    ("什么是 KV 缓存", "把算过的键和值存起来。"),
    ("什么是层归一化", "把每个位置的向量标准化。"),
]
EVASIVE = "我不知道。"
DPO_QUESTIONS = [q for q, _ in QA[:6]]


def fmt_prompt(q: str) -> str:
    return f"问：{q}？\n答："


sft_pairs = [(fmt_prompt(q), a + "\n") for q, a in QA] + [(fmt_prompt(q), EVASIVE + "\n") for q in DPO_QUESTIONS] * 2
unknown = sorted({c for p, a in sft_pairs for c in p + a if c not in tok.stoi})
assert not unknown, f"characters outside the pre-training vocabulary: {unknown}"
KB_VALUES["sft_examples"] = len(sft_pairs)
KB_VALUES["sft_good"] = len(QA)
KB_VALUES["dpo_pairs"] = len(DPO_QUESTIONS)
print(f"SFT 数据：{len(sft_pairs)} 条（{len(QA)} 条好回答 + {2 * len(DPO_QUESTIONS)} 条敷衍回答，"
      f"{len(DPO_QUESTIONS)} 个问题各两条）")
for p, a in sft_pairs[:3] + sft_pairs[-1:]:
    print("  " + (p + a).replace("\n", " ⏎ "))


# %% sft
def pad_batch(pairs: list[tuple[str, str]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(prompt, response) strings -> x [N, L], targets y [N, L], response mask [N, L] (True on response targets)."""
    seqs = [(tok.encode(p), tok.encode(r)) for p, r in pairs]
    length = max(len(p) + len(r) for p, r in seqs) - 1
    x = torch.zeros(len(seqs), length, dtype=torch.long)
    y = torch.zeros(len(seqs), length, dtype=torch.long)
    m = torch.zeros(len(seqs), length, dtype=torch.bool)
    for i, (p, r) in enumerate(seqs):
        ids = p + r
        x[i, : len(ids) - 1] = torch.tensor(ids[:-1])
        y[i, : len(ids) - 1] = torch.tensor(ids[1:])
        m[i, len(p) - 1 : len(ids) - 1] = True  # predict only the response tokens (loss masking)
    return x, y, m


def masked_token_logprobs(model: GPT, x: torch.Tensor, y: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Per-sequence sum of log p(y_t | x_<=t) over masked positions -> [N]."""
    logp = model(x).log_softmax(-1).gather(-1, y.unsqueeze(-1)).squeeze(-1)
    return (logp * m).sum(-1)


sft_model = copy.deepcopy(base).train()
x, y, m = pad_batch(sft_pairs)
opt = torch.optim.AdamW(sft_model.parameters(), lr=2e-3, weight_decay=0.0)
sft_history = []
for step in range(SFT_STEPS):
    loss = -masked_token_logprobs(sft_model, x, y, m).sum() / m.sum()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(sft_model.parameters(), 1.0)
    opt.step()
    sft_history.append(dict(step=step, loss=loss.item()))
sft_model.eval()
print(f"SFT：{SFT_STEPS} 步全批量训练，只在回答部分计算损失，损失 {sft_history[0]['loss']:.2f} → {sft_history[-1]['loss']:.2f}")
assert sft_history[-1]["loss"] < 0.5 * sft_history[0]["loss"]
for q in ["什么是梯度下降", "什么是掩码"]:
    print(f"\n{fmt_prompt(q)!r}")
    print(f"  基座模型: {complete(base, tok, fmt_prompt(q))!r}")
    print(f"  SFT 模型: {complete(sft_model, tok, fmt_prompt(q))!r}")

# %% dpo
BETA = 0.5
good = dict(QA)
prefs = [(fmt_prompt(q), good[q] + "\n", EVASIVE + "\n") for q in DPO_QUESTIONS]  # (prompt, chosen, rejected)
xw, yw, mw = pad_batch([(p, c) for p, c, _ in prefs])
xl, yl, ml = pad_batch([(p, r) for p, _, r in prefs])

reference = copy.deepcopy(sft_model).eval()
for p in reference.parameters():
    p.requires_grad_(False)
with torch.no_grad():
    ref_w, ref_l = masked_token_logprobs(reference, xw, yw, mw), masked_token_logprobs(reference, xl, yl, ml)


def implicit_margins(model: GPT) -> torch.Tensor:
    """beta * [log pi/pi_ref (chosen) - log pi/pi_ref (rejected)] per preference pair -> [N]."""
    return BETA * ((masked_token_logprobs(model, xw, yw, mw) - ref_w) - (masked_token_logprobs(model, xl, yl, ml) - ref_l))


def chosen_minus_rejected(model: GPT) -> torch.Tensor:
    """log p(chosen) - log p(rejected) under ``model`` (not relative to the reference) -> [N]."""
    with torch.no_grad():
        return masked_token_logprobs(model, xw, yw, mw) - masked_token_logprobs(model, xl, yl, ml)


policy = copy.deepcopy(sft_model).train()
opt = torch.optim.AdamW(policy.parameters(), lr=2e-4, weight_decay=0.0)
dpo_history = []
for step in range(DPO_STEPS):
    margins = implicit_margins(policy)
    loss = -F.logsigmoid(margins).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    dpo_history.append(dict(step=step, loss=loss.item(), accuracy=(margins > 0).float().mean().item()))
policy.eval()
assert abs(dpo_history[0]["loss"] - math.log(2)) < 1e-4, "DPO starts at log 2 because policy == reference"

before, after = chosen_minus_rejected(sft_model), chosen_minus_rejected(policy)
print(f"DPO：beta={BETA}，{DPO_STEPS} 步，损失 {dpo_history[0]['loss']:.3f}（= log 2）→ {dpo_history[-1]['loss']:.3f}")
print("log p(chosen) − log p(rejected)，SFT 模型 → DPO 模型：")
for (q, (p, c, r)), b, a in zip(zip(DPO_QUESTIONS, prefs), before.tolist(), after.tolist()):
    print(f"  {q:<10} 选中（chosen）={c.strip()!r:<18} 拒绝（rejected）={r.strip()!r}  {b:+6.2f} -> {a:+6.2f}")
acc_before, acc_after = (before > 0).float().mean().item(), (after > 0).float().mean().item()
print(f"偏好准确率（chosen 比 rejected 概率更高的比例）：{acc_before:.0%} → {acc_after:.0%}")
KB_VALUES["pref_acc_before"] = round(acc_before, 3)
KB_VALUES["pref_acc_after"] = round(acc_after, 3)
KB_VALUES["dpo_raises_preference"] = bool(acc_after > acc_before and after.mean() > before.mean())
KB_VALUES["dpo_starts_at_log2"] = bool(abs(dpo_history[0]["loss"] - math.log(2)) < 1e-4)
assert KB_VALUES["dpo_starts_at_log2"], "dpo_starts_at_log2"
assert KB_VALUES["dpo_raises_preference"], "DPO should favour the chosen answers"

# %% loss_curves
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
steps = [h["step"] for h in pt_history]
axes[0].plot(steps, [h["loss"] for h in pt_history], label="训练集")
axes[0].plot(steps, [h["val_loss"] for h in pt_history], label="验证集")
axes[0].set(title="1. 预训练（下一个字的交叉熵）", xlabel="步数（step）", ylabel="损失（loss）")
axes[0].legend()
axes[1].plot([h["step"] for h in sft_history], [h["loss"] for h in sft_history], color="tab:green")
axes[1].set(title="2. 监督微调 SFT（只算回答部分的交叉熵）", xlabel="步数（step）", ylabel="损失（loss）")
axes[2].plot([h["step"] for h in dpo_history], [h["loss"] for h in dpo_history], color="tab:red", label="DPO 损失")
axes[2].axhline(math.log(2), color="gray", ls="--", lw=1, label="log 2（起点）")
ax2 = axes[2].twinx()
ax2.plot([h["step"] for h in dpo_history], [h["accuracy"] for h in dpo_history], color="tab:purple", ls=":", label="偏好准确率")
ax2.set_ylim(-0.05, 1.05)
ax2.set_ylabel("偏好准确率（preference accuracy）")
axes[2].set(title="3. 偏好对齐（DPO）", xlabel="步数（step）", ylabel="损失（loss）")
axes[2].legend(loc="center right")
fig.suptitle(f"同一个迷你字符级 GPT 的三个训练阶段（{n_params:,} 个参数）")
fig.tight_layout()
plt.show()

# %% before_after
print("同一个提示，三个阶段的模型（贪心解码）：")
for q in DPO_QUESTIONS[:3] + ["什么是提示词"]:
    print(f"\n{fmt_prompt(q)!r}")
    for name, model in [("预训练", base), ("SFT", sft_model), ("SFT + DPO", policy)]:
        print(f"  {name:<12}: {complete(model, tok, fmt_prompt(q))!r}")
