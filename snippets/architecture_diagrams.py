# %% [markdown]
# # 三种架构的结构图：由模型对象自动绘制
#
# 本知识库里没有手画的结构图。这个脚本从 `transformer_core` 的三个真实模型对象
# （编码器-解码器 `EncoderDecoderTransformer`、仅编码器 `BertModel`、仅解码器 `GPT`）出发：
#
# 1. 在 `meta` 设备上按论文配置构建模型（只有形状，不分配内存）；
# 2. 给模块树中的每个模块挂上前向钩子（forward hook），做一次前向计算，按**调用顺序**记录
#    每个模块的名字、类型、输出张量形状和参数量；
# 3. 把连续重复的层（如 12 个 `DecoderLayer`）合并成一个 “×N” 方框，展开其中一层的子模块；
# 4. 用 matplotlib 的方框和箭头画出来（自下而上，和论文的图一样）。
#
# 所以模型代码改了（比如把 Post-Norm 换成 Pre-Norm），图也会跟着变：子层里 LayerNorm 的位置就是从调用顺序里读出来的。
# 编码器-解码器图中，“交叉注意力”是通过检查哪个模块的输入**就是**编码器输出的那个张量找到的。

# %%
import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]) if "__file__" in globals() else ".")

import re
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from torch import nn

from transformer_core.configs import PRESETS, build
from transformer_core.fonts import use_cjk_font

plt.rcParams.update({"figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white"})
_cjk = use_cjk_font()  # Chinese figure text on Linux, macOS and Windows
# Monospace box labels: Chinese glyphs fall back to the CJK font (a generic family alone picks one font).
MONO = ["monospace", _cjk.family] if _cjk is not None else "monospace"
KB_VALUES = {}  # values the notes bind into prose: {{architecture_diagrams.py:key}}
SEQ_LEN = 16  # tokens in the traced forward pass (batch size 1)
# Shapes only: the meta device allocates nothing, so even large presets trace in a moment.
TRACE_DEVICE = "meta"
NO_OPS = (nn.Dropout, nn.Identity)  # identity at inference; left out of the diagram


@dataclass
class Unit:
    """One called module: qualified name, class, output shape, own parameter count, children."""

    name: str
    kind: str
    shape: tuple[int, ...]
    params: int
    reads_memory: bool = False  # one of its inputs is the encoder output tensor itself
    tied: str = ""  # another module that owns the same weight tensor
    children: list["Unit"] = field(default_factory=list)
    repeat: int = 1


def _shape(out) -> tuple[int, ...]:
    t = out[0] if isinstance(out, (tuple, list)) else out
    return tuple(t.shape) if isinstance(t, torch.Tensor) else ()


def _tied_owners(model: nn.Module) -> dict[str, str]:
    """Module name -> the other module names sharing its weights (or being the same module)."""
    owners: dict[int, list[str]] = {}
    for mname, m in model.named_modules(remove_duplicate=False):
        for p in m.parameters(recurse=False):
            owners.setdefault(id(p), [])
            if mname not in owners[id(p)]:
                owners[id(p)].append(mname)
    tied: dict[str, str] = {}
    for group in owners.values():
        for mname in group:
            others = [o for o in group if o != mname]
            if others:
                tied[mname] = ", ".join(others)
    return tied


def trace(model: nn.Module, run, memory: torch.Tensor | None = None) -> list[Unit]:
    """Call ``run()`` with hooks on every submodule; return the top-level called units in call order."""
    names = {m: n for n, m in model.named_modules()}
    tied = _tied_owners(model)
    calls: dict[str, Unit] = {}
    order: list[str] = []

    def pre(mod, args, kwargs):
        name = names[mod]
        if name not in calls:
            inputs = list(args) + list(kwargs.values())
            calls[name] = Unit(name, type(mod).__name__, (), sum(p.numel() for p in mod.parameters()),
                               reads_memory=memory is not None and any(a is memory for a in inputs),
                               tied=tied.get(name, ""))
            order.append(name)

    def post(mod, args, kwargs, out):
        calls[names[mod]].shape = _shape(out)

    handles = []
    for m, n in names.items():
        if n and not isinstance(m, NO_OPS):
            handles.append(m.register_forward_pre_hook(pre, with_kwargs=True))
            handles.append(m.register_forward_hook(post, with_kwargs=True))
    try:
        result = run()
    finally:
        for h in handles:
            h.remove()
    # Nest: a unit's parent is its closest called ancestor.
    top: list[Unit] = []
    for n in order:
        parent = next((a for a in _ancestors(n) if a in calls), None)
        (calls[parent].children if parent else top).append(calls[n])
    return _group_repeats(top), result


def _ancestors(name: str):
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        yield ".".join(parts[:i])


def _group_repeats(units: list[Unit]) -> list[Unit]:
    """Merge runs like layers.0, layers.1, ... (same class) into one unit with ``repeat``."""
    grouped: list[Unit] = []
    for u in units:
        prev = grouped[-1] if grouped else None
        stem = re.sub(r"\.\d+$", "", u.name)
        if prev and prev.kind == u.kind and re.sub(r"\.\d+$", "", prev.name) == stem and stem != u.name:
            prev.repeat += 1
            prev.reads_memory = prev.reads_memory or u.reads_memory
        else:
            grouped.append(u)
    for u in grouped:
        if u.repeat > 1:
            u.name = re.sub(r"\.\d+$", "", u.name) + ".*"
    return grouped


def fmt_params(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e6 else (f"{n / 1e3:.1f}K" if n >= 1e3 else str(n))


def fmt_shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


COLORS = {"Embedding": "#fde2c8", "LearnedPositionalEmbedding": "#e3d7f4", "SinusoidalPositionalEncoding": "#e3d7f4",
          "MultiHeadAttention": "#ffd6d6", "FeedForward": "#d6ecff", "LayerNorm": "#f4f4c8", "Linear": "#d9f2d9"}


def _box(ax, x, y, w, h, text, color, fontsize=8, lw=1.0):
    ax.add_patch(FancyBboxPatch((x - w / 2, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                fc=color, ec="#333333", lw=lw))
    ax.text(x, y + h / 2, text, ha="center", va="center", fontsize=fontsize, family=MONO)


def _arrow(ax, x0, y0, x1, y1, color="#333333", style="-|>", rad=0.0):
    ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle=style, mutation_scale=10, color=color, lw=1.1,
                                 connectionstyle=f"arc3,rad={rad}"))


SUBLAYERS = ("MultiHeadAttention", "FeedForward")  # the modules a residual connection wraps


def residual_spans(kinds: list[str], norm_first: bool) -> list[tuple[int, int]]:
    """(first child, sublayer) index pairs the residual connections span, from the call order.

    Post-norm (2017): x + Sublayer(x), then LayerNorm: the skip starts at the sublayer's input.
    Pre-norm (GPT-2): x + Sublayer(LayerNorm(x)): the skip starts at the LayerNorm before it.
    """
    spans = []
    for i, kind in enumerate(kinds):
        if kind in SUBLAYERS:
            start = i - 1 if norm_first and i > 0 and kinds[i - 1] == "LayerNorm" else i
            spans.append((start, i))
    return spans


def draw_residual(ax, x: float, width: float, y0: float, y1: float) -> None:
    """A skip arrow on the right of the column from y0 (the branch) to y1 (the ⊕ after the sublayer)."""
    xr = x + width / 2 + 0.12
    ax.plot([x, xr, xr], [y0, y0, y1], color="#2e7d32", lw=1.3)
    _arrow(ax, xr, y1, x + 0.13, y1, color="#2e7d32")
    ax.add_patch(plt.Circle((x, y1), 0.12, fc="white", ec="#2e7d32", lw=1.3, zorder=5))
    ax.text(x, y1, "+", ha="center", va="center", fontsize=9, color="#2e7d32", zorder=6, fontweight="bold")


def draw_column(ax, x: float, input_label: str, units: list[Unit], width: float = 3.4,
                norm_first: bool | None = None) -> dict[str, tuple[float, float]]:
    """Draw units bottom-up at column ``x``; returns anchor points (left/right mid-points) by unit name.

    ``norm_first`` (the layers' own flag) draws the residual connections around each sublayer;
    None draws none. Returns also ``__residuals__`` = (count, 0).
    """
    anchors: dict[str, tuple[float, float]] = {}
    n_residuals = 0
    y, h, gap = 0.0, 0.7, 0.32
    _box(ax, x, y, width, h, input_label, "#eeeeee", fontsize=9)
    y += h
    for u in units:
        y += gap
        _arrow(ax, x, y - gap, x, y)
        if u.repeat > 1 or u.children:
            inner = [c for c in u.children]
            top_pad = 0.55
            block_h = gap + len(inner) * (h + gap) + top_pad
            ax.add_patch(FancyBboxPatch((x - width / 2 - 0.25, y), width + 0.5, block_h,
                                        boxstyle="round,pad=0.02,rounding_size=0.12", fc="#fafafa", ec="#555555", lw=1.4))
            ax.text(x - width / 2 - 0.35, y + block_h / 2, f"{u.repeat} x", ha="right", va="center", fontsize=12,
                    fontweight="bold")
            ax.text(x, y + block_h - top_pad / 2, f"{u.name}: {u.kind}（每层 {fmt_params(u.params)} 参数）",
                    ha="center", va="center", fontsize=9.5, fontweight="bold")
            yi = y + gap
            child_y = []
            for c in inner:
                child_y.append(yi)
                label = f"{c.name.split('.')[-1]}: {c.kind}\n输出 {fmt_shape(c.shape)}  {fmt_params(c.params)}"
                _box(ax, x, yi, width - 0.4, h, label, COLORS.get(c.kind, "#eeeeee"), fontsize=8.5)
                anchors[c.name.split(".")[-1]] = (x - (width - 0.4) / 2, yi + h / 2)
                if c.reads_memory:
                    anchors["__memory_reader__"] = (x - (width - 0.4) / 2, yi + h / 2)
                if c is not inner[-1]:
                    _arrow(ax, x, yi + h, x, yi + h + gap)
                yi += h + gap
            if norm_first is not None:
                for start, sub in residual_spans([c.kind for c in inner], norm_first):
                    draw_residual(ax, x, width - 0.4, child_y[start] - gap / 2, child_y[sub] + h + gap / 2)
                    n_residuals += 1
            y += block_h
        else:
            tied = f"\n与 {u.tied} 共享权重" if u.tied else ""
            label = f"{u.name}: {u.kind}\n输出 {fmt_shape(u.shape)}  {fmt_params(u.params)}{'（只算一份）' if u.tied else ''}{tied}"
            _box(ax, x, y, width, h * (1.45 if u.tied else 1.0), label, COLORS.get(u.kind, "#eeeeee"), fontsize=9)
            y += h * (0.45 if u.tied else 0.0)
            y += h
        anchors[u.name] = (x + width / 2, y)
    anchors["__top__"] = (x, y)
    anchors["__residuals__"] = (n_residuals, 0)
    return anchors


def layer_norm_first(model: nn.Module, units: list[Unit]) -> bool:
    """The ``norm_first`` flag of the first repeated layer in ``units`` (read from the module itself)."""
    block = next(u for u in units if u.repeat > 1 or u.children)
    return bool(model.get_submodule(block.name.replace(".*", ".0")).norm_first)


def show_table(title: str, units: list[Unit]) -> None:
    print(title)
    for u in units:
        rep = f" x{u.repeat}" if u.repeat > 1 else ""
        print(f"  {u.name + rep:<22} {u.kind:<30} 输出 {fmt_shape(u.shape):<18} 参数 {fmt_params(u.params * u.repeat)}")
        for c in u.children:
            mem = "  ← 读取编码器输出" if c.reads_memory else ""
            print(f"      {c.name.split('.')[-1]:<18} {c.kind:<30} 输出 {fmt_shape(c.shape):<18}{mem}")


def ids(n: int = SEQ_LEN) -> torch.Tensor:
    return torch.zeros(1, n, dtype=torch.long, device=TRACE_DEVICE)


# %% [markdown]
# ## 编码器-解码器（原始 Transformer，`transformer-base` 预设）
# 左列是 `model.encode(src)` 中调用的模块，右列是 `model.decode(tgt, memory)` 中调用的模块；
# 虚线箭头从编码器输出指向读取它的那个子模块（交叉注意力）。

# %% encoder_decoder
name = "transformer-base"
model = build(name, device=TRACE_DEVICE).eval()
src, tgt = ids(), ids(SEQ_LEN - 4)
enc_units, memory = trace(model, lambda: model.encode(src))
dec_units, logits = trace(model, lambda: model.decode(tgt, memory), memory=memory)
assert logits.shape == (1, SEQ_LEN - 4, PRESETS[name].vocab_size)

fig, ax = plt.subplots(figsize=(10, 10))
post_norm = layer_norm_first(model, enc_units)
left = draw_column(ax, 0.0, f"源语言 token id {fmt_shape(tuple(src.shape))}", enc_units, norm_first=post_norm)
right = draw_column(ax, 5.2, f"目标语言 token id（右移一位）{fmt_shape(tuple(tgt.shape))}", dec_units,
                    norm_first=layer_norm_first(model, dec_units))
KB_VALUES["enc_dec_residuals"] = left["__residuals__"][0] + right["__residuals__"][0]
KB_VALUES["enc_dec_post_norm"] = not post_norm
# Encoder layers wrap 2 sublayers, decoder layers 3 (self-attention, cross-attention, FFN).
assert KB_VALUES["enc_dec_residuals"] == 5, KB_VALUES["enc_dec_residuals"]
reader = right.get("__memory_reader__")
assert reader is not None, "no decoder sub-module reads the encoder output"
ax.text(left["__top__"][0], left["__top__"][1] + 0.25, f"编码器输出 memory {fmt_shape(tuple(memory.shape))}", ha="center",
        fontsize=9, fontweight="bold")
_arrow(ax, left["__top__"][0] + 0.6, left["__top__"][1] + 0.2, reader[0] - 0.05, reader[1], color="#c0392b",
       style="-|>", rad=-0.25)
ax.text(right["__top__"][0], right["__top__"][1] + 0.25, f"logits {fmt_shape(tuple(logits.shape))} → softmax",
        ha="center", fontsize=9, fontweight="bold")
ax.set_xlim(-2.6, 7.6)
ax.set_ylim(-0.4, max(left["__top__"][1], right["__top__"][1]) + 0.8)
ax.axis("off")
cfg = PRESETS[name]
ax.set_title(f"编码器-解码器（{name}：d_model={cfg.d_model}，{cfg.n_heads} 个头，{cfg.n_layers}+{cfg.decoder_layers} 层），"
             f"由模型对象追踪得到；绿色箭头 = 残差连接（residual）", fontsize=10)
fig.tight_layout()
plt.show()
show_table("编码器（model.encode）：", enc_units)
show_table("解码器（model.decode）：", dec_units)

# %% [markdown]
# ## 仅编码器（BERT，`bert-base` 预设）
# 没有解码器、没有因果掩码：每一层的自注意力都是双向的。顶部是掩码语言模型（MLM）的输出头。

# %% encoder_only
name = "bert-base"
model = build(name, device=TRACE_DEVICE).eval()
x = ids()
units, logits = trace(model, lambda: model(x))
fig, ax = plt.subplots(figsize=(6.5, 9))
top = draw_column(ax, 0.0, f"token id {fmt_shape(tuple(x.shape))}", units, width=4.2,
                  norm_first=layer_norm_first(model, units))
KB_VALUES["bert_residuals_per_layer"] = top["__residuals__"][0]
assert KB_VALUES["bert_residuals_per_layer"] == 2
ax.text(0, top["__top__"][1] + 0.25, f"掩码语言模型输出（MLM logits）{fmt_shape(tuple(logits.shape))}", ha="center", fontsize=9,
        fontweight="bold")
ax.set_xlim(-3.4, 2.6)
ax.set_ylim(-0.4, top["__top__"][1] + 0.8)
ax.axis("off")
cfg = PRESETS[name]
ax.set_title(f"仅编码器（{name}：d_model={cfg.d_model}，{cfg.n_heads} 个头，{cfg.n_layers} 层）；绿色 = 残差连接", fontsize=10)
fig.tight_layout()
plt.show()
show_table(f"{name}:", units)

# %% [markdown]
# ## 仅解码器（GPT，`gpt2-small` 预设）
# 与原始解码器相比少了交叉注意力；LayerNorm 在子层**之前**（Pre-Norm），最后多一个 LayerNorm；
# 输出层与词嵌入共享权重（图中标为 tied）。

# %% decoder_only
name = "gpt2-small"
model = build(name, device=TRACE_DEVICE).eval()
x = ids()
units, logits = trace(model, lambda: model(x))
assert not any(c.reads_memory for u in units for c in u.children)
fig, ax = plt.subplots(figsize=(6.5, 9))
gpt_pre_norm = layer_norm_first(model, units)
top = draw_column(ax, 0.0, f"token id {fmt_shape(tuple(x.shape))}", units, width=4.2, norm_first=gpt_pre_norm)
KB_VALUES["gpt_residuals_per_layer"] = top["__residuals__"][0]
KB_VALUES["gpt_pre_norm"] = gpt_pre_norm
assert KB_VALUES["gpt_residuals_per_layer"] == 2 and KB_VALUES["gpt_pre_norm"]
ax.text(0, top["__top__"][1] + 0.25, f"下一个 token 的 logits {fmt_shape(tuple(logits.shape))}", ha="center", fontsize=9,
        fontweight="bold")
ax.set_xlim(-3.4, 2.6)
ax.set_ylim(-0.4, top["__top__"][1] + 0.8)
ax.axis("off")
cfg = PRESETS[name]
ax.set_title(f"仅解码器（{name}：d_model={cfg.d_model}，{cfg.n_heads} 个头，{cfg.n_layers} 层，Pre-Norm）；绿色 = 残差连接", fontsize=10)
fig.tight_layout()
plt.show()
show_table(f"{name}:", units)
