# kbgen: timeout=120
# %% [markdown]
# # 多头注意力：每个头学到了什么
#
# 1. 训练一个很小的编码器-解码器（2 层、4 个头、d_model=64）把一串随机符号**倒序输出**（reverse task）。
# 2. 画出每个头的注意力图：编码器自注意力与解码器交叉注意力（cross-attention）。
# 3. 把 `transformer_core` 的多头注意力与 `torch.nn.MultiheadAttention` 逐元素对齐。

# %% setup
import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]) if "__file__" in globals() else ".")

import matplotlib.pyplot as plt
import torch
from torch import nn

from transformer_core.attention import causal_mask
from transformer_core.data import copy_task_batch
from transformer_core.multihead import MultiHeadAttention
from transformer_core.train import copy_task_accuracy, train_copy_task
from transformer_core.fonts import use_cjk_font

torch.manual_seed(0)
plt.rcParams.update({"figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white"})
use_cjk_font()  # Chinese figure text on Linux, macOS and Windows
KB_VALUES = {}  # values the notes bind into prose: {{multi_head.py:key}}

# %% train_reverse
LENGTH, VOCAB, STEPS = 8, 12, 200
model, history = train_copy_task(length=LENGTH, vocab=VOCAB, steps=STEPS, batch=64, d_model=64, n_heads=4,
                                 n_layers=2, d_ff=128, reverse=True, seed=0, device="cpu")
accuracy = copy_task_accuracy(model, LENGTH, VOCAB, reverse=True)
print(f"倒序任务：序列长度 {LENGTH}，符号 {VOCAB - 2} 种，训练 {STEPS} 步")
print(f"{'步数':>4} {'损失':>7} {'准确率（teacher forcing）':>18}")
for h in history[:: max(1, len(history) // 6)] + ([] if (len(history) - 1) % max(1, len(history) // 6) == 0 else [history[-1]]):
    print(f"{h['step']:>5} {h['loss']:>8.4f} {h['accuracy']:>20.3f}")
print(f"\n贪心解码（不给答案，逐个生成）在 256 条新序列上的逐符号准确率: {accuracy:.1%}")

src, _ = copy_task_batch(1, LENGTH, VOCAB, torch.Generator().manual_seed(7), reverse=True)
out = model.greedy_decode(src, LENGTH + 1, bos_id=1)
print(f"例：输入 {src[0].tolist()}  ->  输出 {out[0, 1:].tolist()}")
KB_VALUES["reverse_steps"] = STEPS
KB_VALUES["reverse_accuracy"] = round(accuracy, 3)
assert accuracy > 0.9, "the tiny model should learn to reverse"

# %% head_maps
@torch.no_grad()
def attention_maps(model, src: torch.Tensor, tgt_in: torch.Tensor) -> tuple[list, list]:
    """Run encoder and decoder layer by layer with need_weights=True; return per-layer weights [B, H, L, L]."""
    enc_w, cross_w = [], []
    x = model._embed(model.src_embed, src)
    for layer in model.encoder:
        x = layer(x, need_weights=True)
        enc_w.append(layer.last_self_weights)
    memory = model.encoder_norm(x)
    y = model._embed(model.tgt_embed, tgt_in)
    for layer in model.decoder:
        y = layer(y, memory, causal=True, need_weights=True)
        cross_w.append(layer.last_cross_weights)
    return enc_w, cross_w


tgt_in = out[:, :-1]  # BOS + the first LENGTH-1 generated symbols: what the decoder saw at each step
enc_all, cross_all = attention_maps(model, src, tgt_in)
enc_w, cross_w = [w[0] for w in enc_all], [w[0] for w in cross_all]
n_heads = enc_w[0].size(0)
src_labels = [str(s) for s in src[0].tolist()]
out_labels = [str(s) for s in out[0, 1:].tolist()]

panels = [("encoder L1 self", enc_w[0], src_labels, src_labels),
          ("encoder L2 self", enc_w[1], src_labels, src_labels),
          ("decoder L1 cross", cross_w[0], out_labels, src_labels),
          ("decoder L2 cross", cross_w[1], out_labels, src_labels)]
fig, axes = plt.subplots(len(panels), n_heads, figsize=(2.4 * n_heads, 2.5 * len(panels)), constrained_layout=True,
                         squeeze=False)  # squeeze=False: still a grid with n_heads=1
for r, (name, w, ylab, xlab) in enumerate(panels):
    for h in range(n_heads):
        ax = axes[r, h]
        ax.imshow(w[h].numpy(), cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks(range(LENGTH), xlab, fontsize=7)
        ax.set_yticks(range(LENGTH), ylab, fontsize=7)
        ax.set_title(f"{name} · 头 {h}", fontsize=8)
    axes[r, 0].set_ylabel("输出符号" if "cross" in name else "查询（源序列）", fontsize=8)
fig.suptitle(f"每个头的注意力（倒序任务），输入 {src[0].tolist()}")
plt.show()

# %% head_specialisation
# How each head spends its attention, averaged over a batch: mass on the "mirror" source position
# (the one being copied: step t reads source L-1-t), on the diagonal, and the entropy (spread).
eval_src, eval_tgt = copy_task_batch(128, LENGTH, VOCAB, torch.Generator().manual_seed(11), reverse=True)
enc_b, cross_b = attention_maps(model, eval_src, eval_tgt[:, :-1])  # teacher-forced decoder input
enc_mean = torch.stack([w.mean(0) for w in enc_b])  # [layers, H, L, L]
cross_mean = torch.stack([w.mean(0) for w in cross_b])
mirror = torch.eye(LENGTH).flip(1).bool()
diag = torch.eye(LENGTH).bool()
print(f"{'注意力':<15} {'头':>3} {'镜像位置权重 mirror mass':>12} {'对角线权重 diagonal mass':>14} {'熵':>6}")
mirror_masses, diag_masses = [], []
for name, wl in [("encoder self", enc_mean), ("decoder cross", cross_mean)]:
    for layer in range(wl.size(0)):
        for h in range(n_heads):
            w = wl[layer, h]
            m = w[mirror].mean().item()
            ent = -(w * w.clamp_min(1e-12).log()).sum(-1).mean().item()
            if name == "decoder cross":
                mirror_masses.append(m)
            else:
                diag_masses.append(w[diag].mean().item())
            print(f"{name + f' L{layer + 1}':<18} {h:>4} {m:>12.2f} {w[diag].mean().item():>14.2f} {ent:>8.2f}")
print("mirror mass = 每个输出步分给“正在被抄写的那个源位置”的平均注意力；均匀分配时为", f"{1 / LENGTH:.3f}")
# Checked claims: at least one cross-attention head aligns output t with source L-1-t, and the
# encoder heads differ (some look at their own position, others spread out).
KB_VALUES["best_mirror_mass"] = round(max(mirror_masses), 2)
KB_VALUES["a_cross_head_aligns"] = bool(max(mirror_masses) > 0.4)
KB_VALUES["encoder_heads_differ"] = bool(max(diag_masses) - min(diag_masses) > 0.15)
assert KB_VALUES["a_cross_head_aligns"], "some cross-attention head should align to the mirrored position"
assert KB_VALUES["encoder_heads_differ"], "encoder heads should specialise differently"

# %% [markdown]
# ## 切分与拼接：512 → 8 × 64 → 512
#
# 用原始 Transformer base 的尺寸（$d_{\text{model}}=512$，$h=8$）构建一个 `MultiHeadAttention`，
# 输入 6 个位置的随机向量，按模块自己的步骤（`q_proj` → `_split` → 每个头的注意力 → 拼接 → `out_proj`）逐步计算，
# 把每一步的真实张量和形状画出来，并检查逐步算出的结果与直接调用模块完全一致。

# %% split_concat
from transformer_core.attention import scaled_dot_product_attention

torch.manual_seed(0)
D_MODEL, N_HEADS, N_POS = 512, 8, 6
mha = MultiHeadAttention(D_MODEL, N_HEADS).eval()
x_in = torch.randn(1, N_POS, D_MODEL)
with torch.no_grad():
    q_full = mha.q_proj(x_in)  # [1, 6, 512]
    q_heads, k_heads, v_heads = mha._split(q_full), mha._split(mha.k_proj(x_in)), mha._split(mha.v_proj(x_in))  # [1, 8, 6, 64]
    head_out, head_w = scaled_dot_product_attention(q_heads, k_heads, v_heads)  # [1, 8, 6, 64], [1, 8, 6, 6]
    concat = head_out.transpose(1, 2).reshape(1, N_POS, D_MODEL)  # [1, 6, 512]
    final = mha.out_proj(concat)
    direct, _ = mha(x_in)
head_dim = q_heads.size(-1)
# One 512x512 projection is eight 512x64 projections side by side: head i uses rows i*64..(i+1)*64 of W_Q.
per_head = torch.stack([x_in[0] @ mha.q_proj.weight[i * head_dim:(i + 1) * head_dim].T
                        + mha.q_proj.bias[i * head_dim:(i + 1) * head_dim] for i in range(N_HEADS)])

fig = plt.figure(figsize=(14, 7.6), constrained_layout=True)
grid = fig.add_gridspec(3, N_HEADS, height_ratios=[1, 1.15, 1])
colors = plt.cm.tab10(range(N_HEADS))
for row, (tensor, title) in enumerate([(q_full[0], f"① Q = X·W^Q，形状 {list(q_full.shape)}：512 维切成 {N_HEADS} 段，每段 {head_dim} 维"),
                                       (concat[0], f"③ 拼接（concat）各头输出，形状 {list(concat.shape)}，再乘 W^O 得到输出 {list(final.shape)}")]):
    ax = fig.add_subplot(grid[0 if row == 0 else 2, :])
    ax.imshow(tensor.numpy(), aspect="auto", cmap="coolwarm", vmin=-2, vmax=2)
    for h in range(N_HEADS):
        ax.axvspan(h * head_dim - 0.5, (h + 1) * head_dim - 0.5, ymin=0.0, ymax=0.06, color=colors[h])
        ax.text((h + 0.5) * head_dim, -0.9, f"头 {h + 1}", ha="center", fontsize=8, color=colors[h])
        if h:
            ax.axvline(h * head_dim - 0.5, color="black", lw=1.2)
    ax.set_yticks(range(N_POS), [f"位置 {i}" for i in range(N_POS)], fontsize=7)
    ax.set_xlabel("维度（0 … 511）")
    ax.set_title(title, fontsize=10)
for h in range(N_HEADS):
    ax = fig.add_subplot(grid[1, h])
    ax.imshow(head_w[0, h].numpy(), cmap="viridis", vmin=0, vmax=1)
    ax.set_title(f"头 {h + 1}：{list(q_heads[0, h].shape)}", fontsize=8, color=colors[h])
    ax.set_xticks([])
    ax.set_yticks([])
fig.text(0.5, 0.655, f"② 每个头独立做注意力：Q、K、V 各为 {list(q_heads.shape)}（批、头、位置、每头维度），"
         f"得到 {N_HEADS} 个 {N_POS}×{N_POS} 的权重矩阵", ha="center", fontsize=10)
fig.suptitle("多头注意力的切分与拼接（数值来自 transformer_core.multihead.MultiHeadAttention）")
plt.show()

split_ok = torch.allclose(per_head, q_heads[0], atol=1e-5)
module_ok = torch.allclose(final, direct, atol=1e-5)
mha_params = sum(p.numel() for p in mha.parameters())
print(f"切分：{list(q_full.shape)} → {list(q_heads.shape)}；拼接：{list(head_out.shape)} → {list(concat.shape)}；输出 {list(final.shape)}")
print(f"一个 512×512 的 W^Q 等于 {N_HEADS} 个 512×{head_dim} 的小投影并排：{split_ok}；逐步计算 = 直接调用模块：{module_ok}")
print(f"参数量：4·d² + 4·d = {mha_params:,}（d = {D_MODEL}）")
KB_VALUES["base_head_dim"] = head_dim
KB_VALUES["base_mha_params"] = mha_params
KB_VALUES["split_is_eight_small_projections"] = bool(split_ok)
KB_VALUES["stepwise_equals_module"] = bool(module_ok)
assert KB_VALUES["stepwise_equals_module"], "stepwise_equals_module"
assert KB_VALUES["split_is_eight_small_projections"] and KB_VALUES["stepwise_equals_module"]
assert mha_params == 4 * D_MODEL**2 + 4 * D_MODEL

# %% parity
# Copy our weights into torch.nn.MultiheadAttention and compare outputs and per-head weights.
torch.manual_seed(0)
d_model, heads, B, Lq, Lk = 32, 4, 2, 5, 7
ours = MultiHeadAttention(d_model, heads).eval()
ref = nn.MultiheadAttention(d_model, heads, batch_first=True).eval()
with torch.no_grad():
    ref.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]))
    ref.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
    ref.out_proj.weight.copy_(ours.out_proj.weight)
    ref.out_proj.bias.copy_(ours.out_proj.bias)

x = torch.randn(B, Lq, d_model)
mem = torch.randn(B, Lk, d_model)
cases = {}
with torch.no_grad():
    o, w = ours(x, need_weights=True)
    ro, rw = ref(x, x, x, need_weights=True, average_attn_weights=False)
    cases["self-attention"] = (o, ro, w, rw)
    o, w = ours(x, causal=True, need_weights=True)
    # nn.MultiheadAttention's bool mask means True = NOT allowed: the opposite convention.
    ro, rw = ref(x, x, x, attn_mask=~causal_mask(Lq, Lq), need_weights=True, average_attn_weights=False)
    cases["causal self-attention"] = (o, ro, w, rw)
    o, w = ours(x, mem, mem, need_weights=True)
    ro, rw = ref(x, mem, mem, need_weights=True, average_attn_weights=False)
    cases["cross-attention"] = (o, ro, w, rw)
    o_fast, _ = ours(x, mem, mem)  # the fused SDPA path
    cases["cross-attention (fused path)"] = (o_fast, ro, w, rw)

print(f"对照 torch.nn.MultiheadAttention（torch {torch.__version__}），d_model={d_model}，{heads} 个头")
print(f"{'情形':<28} {'输出最大误差':>10} {'权重最大误差':>10}")
worst = 0.0
for name, (o, ro, w, rw) in cases.items():
    d_out, d_w = (o - ro).abs().max().item(), (w - rw).abs().max().item()
    print(f"{name:<30} {d_out:>12.2e} {d_w:>15.2e}")
    assert d_out < 1e-5 and d_w < 1e-5, f"{name}: mismatch with nn.MultiheadAttention"
    worst = max(worst, d_out, d_w)
n_params = sum(p.numel() for p in ours.parameters())
print(f"\n参数量：{n_params} = 4·d² + 4·d = {4 * d_model**2 + 4 * d_model}（与头数无关）")
assert n_params == 4 * d_model**2 + 4 * d_model
KB_VALUES["matches_torch_mha"] = bool(worst < 1e-5)
assert KB_VALUES["matches_torch_mha"]
