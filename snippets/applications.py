# %% [markdown]
# # 应用场景 → 架构家族
#
# 把原笔记“实际应用场景”里的 12 个应用，逐一对应到服务它的 Transformer 架构家族：
# 仅编码器（encoder-only）、仅解码器（decoder-only）、编码器-解码器（encoder-decoder）、多模态（multimodal）。
# 三种经典家族的区别用 `transformer_core.attention` 的掩码画出来，代表模型的参数量用
# `transformer_core.configs` 在 `meta` 设备上数出来（不分配内存）。

# %% setup
import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]) if "__file__" in globals() else ".")

import unicodedata
from collections import Counter
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch

from transformer_core.attention import causal_mask
from transformer_core.configs import PAPER_COUNTS, count_parameters
from transformer_core.fonts import use_cjk_font

plt.rcParams.update({"figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white"})
use_cjk_font()  # Chinese figure text on Linux, macOS and Windows


def print_table(header: list[str], rows: list[list[str]]) -> None:
    """Print a Markdown pipe table aligned for a monospace view (CJK characters count double)."""
    def width(s: str) -> int:
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)

    widths = [max(width(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = lambda r: "| " + " | ".join(str(c) + " " * (w - width(str(c))) for c, w in zip(r, widths)) + " |"  # noqa: E731
    print("\n".join([fmt(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [fmt(r) for r in rows]))

FAMILIES = {
    "encoder-only": "仅编码器",
    "decoder-only": "仅解码器",
    "encoder-decoder": "编码器-解码器",
    "multimodal": "多模态",
}


@dataclass(frozen=True)
class Application:
    area: str  # section of the source note
    name: str
    task: str  # 理解 (understand) / 生成 (generate) / 转换 (transform)
    family: str  # the family that typically serves it (a key of FAMILIES)
    also: tuple[str, ...]  # other families that are also used
    models: str  # representative models / products
    why: str


APPS = [
    Application("自然语言处理", "机器翻译", "转换", "encoder-decoder", ("decoder-only",),
                "Transformer (2017), Google NMT, DeepL, NLLB", "读完整句原文再逐词写译文，正是编码器-解码器的分工"),
    Application("自然语言处理", "文本生成", "生成", "decoder-only", (),
                "GPT-3/4, Codex, LLaMA", "自回归逐字生成，因果掩码保证只看前文"),
    Application("自然语言处理", "问答系统", "理解+生成", "decoder-only", ("encoder-only",),
                "ChatGPT + RAG; BERT (抽取式 SQuAD)", "生成式问答用解码器；检索器和抽取式问答用编码器"),
    Application("自然语言处理", "情感分析", "理解", "encoder-only", ("decoder-only",),
                "BERT, RoBERTa", "整段双向读完后分类，小模型即可、便宜快速"),
    Application("多模态应用", "图像描述", "转换", "multimodal", ("encoder-decoder",),
                "BLIP, GPT-4V", "图像编码器 (ViT) + 文本解码器"),
    Application("多模态应用", "文本到图像", "生成", "multimodal", ("decoder-only",),
                "DALL-E, Stable Diffusion, Midjourney", "文本编码器理解提示，再由自回归或扩散模型出图"),
    Application("多模态应用", "语音识别", "转换", "encoder-decoder", ("multimodal",),
                "Whisper", "编码器读声谱图，解码器逐字写出文字"),
    Application("多模态应用", "视频理解", "理解", "multimodal", ("encoder-only",),
                "ViViT, VideoMAE", "把视频切成时空小块 (tubelet) 后编码"),
    Application("行业应用", "医疗", "理解", "multimodal", ("encoder-only", "decoder-only"),
                "ViT 影像模型, Med-PaLM", "影像用视觉编码器，病历用文本编码器或大模型"),
    Application("行业应用", "金融", "理解+生成", "encoder-only", ("decoder-only",),
                "FinBERT, BloombergGPT", "风险与情绪分类用编码器，研报生成用解码器"),
    Application("行业应用", "法律", "理解+生成", "encoder-only", ("decoder-only",),
                "Legal-BERT, 大模型 + RAG", "条款抽取、案例检索靠编码器向量，起草与问答靠解码器"),
    Application("行业应用", "教育", "生成", "decoder-only", ("encoder-only",),
                "对话大模型 (如 Khanmigo)", "个性化辅导是对话生成；自动评分是分类/回归"),
]

# %% app_table
print_table(["领域", "应用", "任务类型", "主要架构家族", "也常用", "代表模型 / 产品"],
            [[a.area, a.name, a.task, FAMILIES[a.family], "、".join(FAMILIES[f] for f in a.also) or "—", a.models] for a in APPS])
print("\n为什么：")
for a in APPS:
    print(f"  {a.name}：{a.why}")
assert {a.family for a in APPS} == set(FAMILIES), "every family serves at least one application"
assert all(a.models for a in APPS) and all(f in FAMILIES for a in APPS for f in (a.family, *a.also))

# %% family_chart
primary = Counter(a.family for a in APPS)
secondary = Counter(f for a in APPS for f in a.also)
names = list(FAMILIES)
fig, ax = plt.subplots(figsize=(8, 3.2))
ax.barh(names, [primary[f] for f in names], color="tab:blue", label="主要架构（main family）")
ax.barh(names, [secondary[f] for f in names], left=[primary[f] for f in names], color="tab:blue", alpha=0.35, label="也会用到（also used）")
ax.invert_yaxis()
ax.set(title=f"源笔记中 {len(APPS)} 个应用分别由哪种架构家族（architecture family）支撑", xlabel="应用数量")
ax.legend(loc="lower right")
fig.tight_layout()
plt.show()
for f in names:
    print(f"{f:<16} {FAMILIES[f]}：{primary[f]} 个应用的主要架构，另有 {secondary[f]} 个应用也会用到")

# %% masks
L_SRC, L_TGT = 8, 6
panels = [
    ("编码器自注意力（encoder self-attention）\n（双向：BERT）", torch.ones(L_SRC, L_SRC, dtype=torch.bool), "键位置（key）", "查询位置（query）"),
    ("解码器自注意力（decoder self-attention）\n（因果：GPT）", causal_mask(L_TGT, L_TGT), "键位置（key）", "查询位置（query）"),
    ("解码器交叉注意力（cross-attention）\n（看向编码器：T5、Whisper）", torch.ones(L_TGT, L_SRC, dtype=torch.bool), "编码器位置（键 key）", "解码器位置（查询 query）"),
]
fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
for ax, (title, mask, xl, yl) in zip(axes, panels):
    ax.imshow(mask.float().numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set(title=title, xlabel=xl, ylabel=yl)
    ax.set_xticks(range(mask.size(1)))
    ax.set_yticks(range(mask.size(0)))
fig.suptitle("同一种注意力，不同的掩码（mask）（白色 = 允许关注）")
fig.tight_layout()
plt.show()
cm = causal_mask(L_TGT, L_TGT)
assert cm.sum() == L_TGT * (L_TGT + 1) // 2 and not cm[0, 1:].any(), "the first token of a decoder sees only itself"
print(f"编码器：{L_SRC} 个位置每个都能看到全部 {L_SRC} 个；解码器：位置 i 只能看到位置 0..i "
      f"（{L_TGT * L_TGT} 对中允许 {int(cm.sum())} 对）")

# %% model_sizes
REPS = [
    ("transformer-base", "encoder-decoder", "Transformer base (2017)"),
    ("transformer-big", "encoder-decoder", "Transformer big (2017)"),
    ("bert-base", "encoder-only", "BERT-Base (2018)"),
    ("bert-large", "encoder-only", "BERT-Large (2018)"),
    ("gpt-1", "decoder-only", "GPT-1 (2018)"),
    ("gpt2-xl", "decoder-only", "GPT-2 XL (2019)"),
    ("gpt-3", "decoder-only", "GPT-3 (2020)"),
]
rows = []
counted = {}
for key, family, label in REPS:
    n = count_parameters(key).total
    counted[key] = n
    paper = PAPER_COUNTS[key]
    rows.append([label, FAMILIES[family], f"{n / 1e6:,.0f}M", f"{paper / 1e6:,.0f}M", f"{100 * (n - paper) / paper:+.1f}%"])
    assert abs(n - paper) / paper < 0.1, f"{key}: counted {n} vs published {paper}"
print_table(["模型", "架构家族", "数出的参数量", "论文公布", "相差"], rows)
print(f"\nGPT-3 的参数量是 BERT-Base 的 {counted['gpt-3'] / counted['bert-base']:,.0f} 倍；统计时没有分配内存（meta device）。")
