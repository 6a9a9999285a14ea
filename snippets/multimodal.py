# %% [markdown]
# # 多模态：把图片变成 token，再让图和文对齐
#
# 1. **ViT 的第一步**：用代码画一张图，切成 $P\times P$ 的图块（patch），展平、线性投影、加上 `[CLS]`
#    和位置编码，送进 `transformer_core` 的编码器层；
# 2. **迷你 CLIP**：一个图像塔、一个文本塔，各用一层 `EncoderLayer`，在代码生成的“彩色几何图形 ↔ 描述”
#    配对上用对称的对比损失（InfoNCE）训练，然后在新生成的图片上画出图文相似度矩阵。
#    其中一个组合（blue triangle）**训练时从未出现**，用来看模型能否把“颜色”和“形状”组合起来（零样本）。

# %% setup
import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]) if "__file__" in globals() else ".")

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from transformer_core.layers import EncoderLayer
from transformer_core.positional import sinusoidal_table
from transformer_core.fonts import use_cjk_font

torch.manual_seed(0)
plt.rcParams.update({"figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white"})
use_cjk_font()  # Chinese figure text on Linux, macOS and Windows
KB_VALUES = {}  # values the notes bind into prose: {{multimodal.py:key}}


def patchify(img: torch.Tensor, p: int) -> torch.Tensor:
    """[B, C, H, W] -> [B, N, p*p*C] with N = (H/p)*(W/p), patches in row-major (reading) order."""
    b, c, h, w = img.shape
    x = img.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1)  # B, gh, gw, p, p, C
    return x.reshape(b, (h // p) * (w // p), p * p * c)


def unpatchify(tokens: torch.Tensor, p: int, c: int, h: int, w: int) -> torch.Tensor:
    """Inverse of ``patchify``: [B, N, p*p*C] -> [B, C, H, W]."""
    b = tokens.shape[0]
    x = tokens.reshape(b, h // p, w // p, p, p, c).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(b, c, h, w)


# %% [markdown]
# ## 1. 一张图 = 一串图块
#
# 画一张 $64\times64$ 的小风景（天空渐变、太阳、房子、草地），按 $P=16$ 切成 $4\times4=16$ 块。
# 右边按“从左到右、从上到下”的顺序排成一个序列——这就是 ViT 读图的方式。

# %% image_to_patches
IMG, PATCH = 64, 16
yy, xx = np.mgrid[0:IMG, 0:IMG] / IMG
scene = np.zeros((IMG, IMG, 3))
scene[...] = np.stack([0.45 + 0.3 * yy, 0.65 + 0.25 * yy, np.full_like(yy, 0.95)], axis=-1)  # sky gradient
scene[(xx - 0.78) ** 2 + (yy - 0.2) ** 2 < 0.012] = [1.0, 0.85, 0.1]  # sun
scene[yy > 0.72] = [0.3, 0.65, 0.25]  # grass
house = (xx > 0.2) & (xx < 0.5) & (yy > 0.5) & (yy < 0.8)
scene[house] = [0.85, 0.55, 0.35]
roof = (yy > 0.32) & (yy <= 0.5) & (np.abs(xx - 0.35) < (yy - 0.32) * 1.0)
scene[roof] = [0.7, 0.15, 0.15]
scene[(xx > 0.31) & (xx < 0.39) & (yy > 0.64) & (yy < 0.8)] = [0.35, 0.2, 0.1]  # door

img = torch.tensor(scene, dtype=torch.float32).permute(2, 0, 1)[None]  # [1, 3, 64, 64]
patches = patchify(img, PATCH)  # [1, 16, 768]
n_patches = (IMG // PATCH) ** 2
assert patches.shape == (1, n_patches, PATCH * PATCH * 3)
assert torch.equal(unpatchify(patches, PATCH, 3, IMG, IMG), img)  # cutting into patches loses nothing
# ViT-Base at its usual input size, and at twice the resolution: tokens grow with the square of the side.
KB_VALUES["vit_tokens_224"] = patchify(torch.zeros(1, 3, 224, 224), 16).shape[1]
KB_VALUES["vit_tokens_448"] = patchify(torch.zeros(1, 3, 448, 448), 16).shape[1]
assert KB_VALUES["vit_tokens_448"] == 4 * KB_VALUES["vit_tokens_224"]

fig = plt.figure(figsize=(12, 4))
ax = fig.add_axes([0.02, 0.08, 0.28, 0.84])
ax.imshow(scene)
for k in range(1, IMG // PATCH):
    ax.axhline(k * PATCH - 0.5, color="white", lw=2)
    ax.axvline(k * PATCH - 0.5, color="white", lw=2)
for i in range(n_patches):
    r, c = divmod(i, IMG // PATCH)
    ax.text(c * PATCH + 2, r * PATCH + 5, str(i), color="black", fontsize=9,
            bbox=dict(facecolor="white", alpha=0.7, pad=1, lw=0))
ax.set_title(f"{IMG}x{IMG} 的图像，切成 {PATCH}x{PATCH} 的图块（patch）")
ax.axis("off")
for i in range(n_patches):
    a = fig.add_axes([0.34 + (i % 8) * 0.082, 0.52 - (i // 8) * 0.44, 0.075, 0.36])
    a.imshow(unpatchify(patches[:, i : i + 1], PATCH, 3, PATCH, PATCH)[0].permute(1, 2, 0).numpy())
    a.set_title(f"第 {i + 1} 个 token", fontsize=8)
    a.axis("off")
fig.text(0.66, 0.96, f"同一张图像，看作 {n_patches} 个 token 组成的序列（+ [CLS] = {n_patches + 1}）",
         ha="center", fontsize=11)
plt.show()

# %% [markdown]
# ## 2. 图块 → 向量 → Transformer 编码器
#
# 每个图块展平成 $16\cdot16\cdot3=768$ 维，乘一个线性层投影到模型宽度 $D$，前面加 `[CLS]`，再加正弦位置编码，
# 然后就是标准的编码器层。下表逐步打印张量形状；第二张表计算不同分辨率与图块大小下的 token 数
# 以及注意力矩阵的大小（随 token 数平方增长）。

# %% patch_tokens
D = 64
patch_embed = nn.Linear(PATCH * PATCH * 3, D)
cls_token = nn.Parameter(torch.zeros(1, 1, D))
encoder = EncoderLayer(D, n_heads=4, d_ff=4 * D, norm_first=True)
with torch.no_grad():
    x_patch = patch_embed(patches)
    x_seq = torch.cat([cls_token.expand(1, -1, -1), x_patch], dim=1)
    x_pos = x_seq + sinusoidal_table(n_patches + 1, D)[None]
    x_out = encoder(x_pos)
rows = [
    ("image", tuple(img.shape), "批次（batch）、通道、高、宽"),
    ("patchify", tuple(patches.shape), f"{n_patches} 个图块，每块 {PATCH}*{PATCH}*3 = {PATCH * PATCH * 3} 个数"),
    ("linear projection E", tuple(x_patch.shape), f"每个图块 -> 一个 {D} 维的 token 嵌入（embedding）"),
    ("prepend [CLS]", tuple(x_seq.shape), "多加一个 token，用来汇总整张图像"),
    ("+ position encoding", tuple(x_pos.shape), "正弦位置编码表，形状不变"),
    ("EncoderLayer", tuple(x_out.shape), "在 17 个 token 上做自注意力（self-attention）+ FFN"),
]
print(f"{'步骤（step）':<22}{'形状（shape）':<18}含义")
for name, shape, meaning in rows:
    print(f"{name:<22}{str(shape):<18}{meaning}")
assert x_out.shape == (1, n_patches + 1, D)

print(f"\n{'图像尺寸':>10} | {'图块':>5} | {'token 数 N':>8} | {'注意力矩阵 N^2':>20} | 相对 224px/16")
base = (224 // 16) ** 2
for size, p in [(224, 32), (224, 16), (224, 14), (336, 14), (448, 16), (1024, 16)]:
    n = (size // p) ** 2
    print(f"{size:>8}px | {p:>5} | {n:>8} | {n * n:>20,} | {n * n / base**2:>8.1f}x")

# %% [markdown]
# ## 3. 迷你 CLIP：训练
#
# 9 种“图-文”配对：{red, green, blue} × {circle, square, triangle}。每一步为 8 个训练组合各画一张新图
# （位置、大小、颜色深浅、噪声都随机），图像塔把 $16\times16$ 的图切成 16 个 $4\times4$ 图块编码，
# 文本塔把两个词编码，各自取平均后投影、归一化，计算 $8\times8$ 相似度矩阵并做对称交叉熵。
# “blue triangle” 这一组合被留出，不参与训练。

# %% clip_training
COLORS = {"red": (0.9, 0.15, 0.1), "green": (0.15, 0.75, 0.2), "blue": (0.15, 0.3, 0.95)}
SHAPES = ["circle", "square", "triangle"]
PAIRS = [(c, s) for c in COLORS for s in SHAPES]
HELD_OUT = ("blue", "triangle")
TRAIN_PAIRS = [p for p in PAIRS if p != HELD_OUT]
WORDS = list(COLORS) + SHAPES
SMALL, SP = 16, 4  # image size and patch size of the toy images


def draw(color: str, shape: str, rng: np.random.Generator) -> np.ndarray:
    """One toy image [3, 16, 16]: a coloured shape at a random place and size on a noisy background."""
    y, x = np.mgrid[0:SMALL, 0:SMALL] + 0.5
    r = rng.uniform(3.5, 6.0)
    cx, cy = rng.uniform(r, SMALL - r, size=2)
    if shape == "circle":
        inside = (x - cx) ** 2 + (y - cy) ** 2 < r**2
    elif shape == "square":
        inside = (np.abs(x - cx) < r * 0.8) & (np.abs(y - cy) < r * 0.8)
    else:  # upward triangle: apex at the top, base at the bottom
        inside = (y > cy - r) & (y < cy + r) & (np.abs(x - cx) < (y - (cy - r)) / 2)
    im = np.full((SMALL, SMALL, 3), 0.5) + rng.normal(0, 0.08, (SMALL, SMALL, 3))
    im[inside] = np.array(COLORS[color]) * rng.uniform(0.75, 1.0) + rng.normal(0, 0.05, 3)
    return np.clip(im, 0, 1).transpose(2, 0, 1)


class ImageTower(nn.Module):
    """Patches [B, 16, 48] -> one unit vector per image [B, dim]."""

    def __init__(self, d: int = 48, dim: int = 32) -> None:
        super().__init__()
        n = (SMALL // SP) ** 2
        self.embed = nn.Linear(SP * SP * 3, d)
        self.register_buffer("pos", sinusoidal_table(n, d))
        self.layer = EncoderLayer(d, n_heads=4, d_ff=2 * d, norm_first=True)
        self.proj = nn.Linear(d, dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        h = self.layer(self.embed(patchify(images, SP)) + self.pos)
        return F.normalize(self.proj(h.mean(dim=1)), dim=-1)


class TextTower(nn.Module):
    """Word ids [B, 2] -> one unit vector per caption [B, dim]."""

    def __init__(self, d: int = 48, dim: int = 32) -> None:
        super().__init__()
        self.embed = nn.Embedding(len(WORDS), d)
        self.register_buffer("pos", sinusoidal_table(2, d))
        self.layer = EncoderLayer(d, n_heads=4, d_ff=2 * d, norm_first=True)
        self.proj = nn.Linear(d, dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.layer(self.embed(ids) + self.pos)
        return F.normalize(self.proj(h.mean(dim=1)), dim=-1)


def captions(pairs: list[tuple[str, str]]) -> torch.Tensor:
    return torch.tensor([[WORDS.index(c), WORDS.index(s)] for c, s in pairs])


def images_for(pairs: list[tuple[str, str]], rng: np.random.Generator) -> torch.Tensor:
    return torch.tensor(np.stack([draw(c, s, rng) for c, s in pairs]), dtype=torch.float32)


torch.manual_seed(0)
image_tower, text_tower = ImageTower(), TextTower()
log_temp = nn.Parameter(torch.tensor(math.log(1 / 0.07)))  # CLIP's initial temperature 0.07
params = list(image_tower.parameters()) + list(text_tower.parameters()) + [log_temp]
opt = torch.optim.AdamW(params, lr=5e-3, weight_decay=0.01)
rng = np.random.default_rng(0)
STEPS, REPEATS = 500, 4  # each step: every training pair drawn REPEATS times -> batch of 32
losses, accs = [], []
text_ids = captions(TRAIN_PAIRS)
for step in range(STEPS):
    batch_pairs = TRAIN_PAIRS * REPEATS
    u = image_tower(images_for(batch_pairs, rng))  # [32, dim]
    t = text_tower(text_ids)  # [8, dim]: one embedding per distinct caption
    logits = log_temp.exp().clamp(max=100) * u @ t.T  # [32 images, 8 captions]
    labels = torch.arange(len(TRAIN_PAIRS)).repeat(REPEATS)
    # Symmetric InfoNCE: images -> captions over all captions, captions -> images within each repeat group
    loss_i = F.cross_entropy(logits, labels)
    logits_t = logits.T.reshape(len(TRAIN_PAIRS), REPEATS, len(TRAIN_PAIRS)).permute(1, 0, 2)  # [R, 8 captions, 8 images]
    loss_t = F.cross_entropy(logits_t.reshape(-1, len(TRAIN_PAIRS)), torch.arange(len(TRAIN_PAIRS)).repeat(REPEATS))
    loss = (loss_i + loss_t) / 2
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
    accs.append((logits.argmax(1) == labels).float().mean().item())

fig, ax = plt.subplots(figsize=(7, 3.2))
ax.plot(losses, color="tab:blue", lw=1, label="对比损失（contrastive loss，InfoNCE）")
ax.axhline(math.log(len(TRAIN_PAIRS)), color="gray", ls="--", lw=1, label=f"随机水平（chance）ln({len(TRAIN_PAIRS)})")
ax.set_xlabel("训练步数（step）")
ax.set_ylabel("损失（loss）")
ax2 = ax.twinx()
ax2.plot(np.convolve(accs, np.ones(20) / 20, mode="valid"), color="tab:orange", lw=1.5, label="批内准确率（20 步平均）")
ax2.set_ylabel("图像 -> 描述（caption）准确率")
ax2.set_ylim(0, 1.05)
fig.legend(loc="center right", fontsize=8, bbox_to_anchor=(0.88, 0.55))
ax.set_title("Mini-CLIP 在生成的图像-描述对上的训练")
fig.tight_layout()
plt.show()
print(f"损失（loss）：第一步 {losses[0]:.3f}（随机水平 ln 8 = {math.log(8):.3f}），最后 20 步平均 {np.mean(losses[-20:]):.3f}")
assert np.mean(losses[-20:]) < 0.5 * losses[0]

# %% [markdown]
# ## 4. 相似度矩阵与零样本
#
# 用**新的随机种子**为 9 个组合各画一张图（包括训练时从未见过的 blue triangle），计算每张图与 9 条描述的
# 余弦相似度。对角线越亮，说明越对得上。再在每个组合 50 张新图上统计“零样本分类”准确率：
# 把 9 条描述都编码，选相似度最高的那条作为预测。

# %% clip_similarity
with torch.no_grad():
    test_rng = np.random.default_rng(12345)
    u = image_tower(images_for(PAIRS, test_rng))
    t = text_tower(captions(PAIRS))
    sim = (u @ t.T).numpy()
    n_eval = 50
    acc = {}
    for k, pair in enumerate(PAIRS):
        pred = (image_tower(images_for([pair] * n_eval, test_rng)) @ t.T).argmax(1)
        acc[pair] = (pred == k).float().mean().item()

labels = [f"{c} {s}" for c, s in PAIRS]
fig = plt.figure(figsize=(11, 5))
ax = fig.add_axes([0.2, 0.12, 0.45, 0.78])
im = ax.imshow(sim, cmap="viridis", vmin=-1, vmax=1)
ax.set_xticks(range(9), labels, rotation=45, ha="right", fontsize=8)
ax.set_yticks(range(9), [f"图像：{x}" + ("（训练未见）" if PAIRS[i] == HELD_OUT else "") for i, x in enumerate(labels)], fontsize=8)
for i in range(9):
    for j in range(9):
        ax.text(j, i, f"{sim[i, j]:.2f}", ha="center", va="center", fontsize=6.5, color="white" if sim[i, j] < 0.3 else "black")
ax.set_title("余弦相似度（cosine similarity）：新图像（行）× 描述（列）", fontsize=10)
fig.colorbar(im, ax=ax, fraction=0.046)
test_imgs = images_for(PAIRS, np.random.default_rng(12345))
for i in range(9):
    a = fig.add_axes([0.74 + (i % 3) * 0.085, 0.66 - (i // 3) * 0.25, 0.075, 0.2])
    a.imshow(test_imgs[i].permute(1, 2, 0).numpy(), interpolation="nearest")
    a.set_title(labels[i], fontsize=7)
    a.axis("off")
plt.show()

print(f"零样本（zero-shot）准确率，每个组合 {n_eval} 张新图（随机水平 = 1/9 = {1 / 9:.2f}）：")
for pair in PAIRS:
    tag = "  <- 训练中从未见过" if pair == HELD_OUT else ""
    print(f"  {pair[0]:>5} {pair[1]:<8} {acc[pair]:.2f}{tag}")
seen = np.mean([acc[p] for p in TRAIN_PAIRS])
print(f"8 个训练过的组合平均：{seen:.2f}；留出的组合：{acc[HELD_OUT]:.2f}")
diag = np.mean([sim[i, i] for i, p in enumerate(PAIRS) if p != HELD_OUT])
off = np.mean([sim[i, j] for i, p in enumerate(PAIRS) if p != HELD_OUT for j in range(9) if j != i])
print(f"匹配对的平均相似度 {diag:.2f}，不匹配对 {off:.2f}")
assert seen > 3 / 9  # the trained pairs are matched far above chance (1/9)
assert diag > off + 0.2
