# %% [markdown]
# # 产品经理清单：从学习路径自动生成
#
# 读取 `docs/学习路径/` 下三个级别页面中的有序步骤（`1. [[笔记]] — 学完后你能……`）和每篇笔记的
# frontmatter（级别、前置笔记、摘要），与“产品经理需要掌握的深度”标注合并成一张表；
# 再检查学习路径是否自洽（前置笔记排在前面、级别一致）；最后用 `transformer_core.configs`
# 算几笔产品经理用得上的“账”（参数量、每 token 计算量、KV 缓存）。

# %% setup
import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]) if "__file__" in globals() else ".")

import re

import yaml

from transformer_core.configs import PRESETS, count_parameters
from transformer_core.report import print_table


ROOT = pathlib.Path(__file__).resolve().parents[1] if "__file__" in globals() else pathlib.Path(".").resolve()
DOCS = ROOT / "docs"
LEVELS = ["入门级", "进阶级", "专家级"]
STEP = re.compile(r"^\s*(\d+)\.\s*\[\[([^\]|#]+)(?:#[^\]|]*)?(?:\|[^\]]*)?\]\]\s*[—-]+\s*(.*)$")
WIKILINK = re.compile(r"\[\[([^\]|#]+)(?:#[^\]|]*)?(?:\|[^\]]*)?\]\]")

# How deep a product manager needs each note (editorial judgement, keyed by note name).
PM_DEPTH = {
    "AI技术学习路径建议": ("必读", "知道怎么用这套笔记、每级学到什么程度算够"),
    "分词与Token": ("必读", "会估算一段中文有多少 token、能否放进窗口、要花多少钱"),
    "AI基础与机器学习三大类别": ("必读", "分清监督/无监督/强化学习，知道大模型训练用了哪几类"),
    "技术-Transformer架构": ("必读", "能画出全景图，说出为什么 Transformer 取代了 RNN"),
    "自注意力机制": ("必读（直觉）", "懂“每个词按相关度查看其他词”，公式可略"),
    "多头注意力": ("了解", "知道“多个视角并行”，细节交给工程师"),
    "位置编码": ("了解", "知道模型本身不分先后，上下文长度与位置编码有关"),
    "前馈神经网络": ("必读（结论）", "知道大部分参数在这里，参数量决定成本"),
    "残差连接与层归一化": ("了解", "知道它让深层网络训得动即可"),
    "产品经理需要理解到什么程度": ("必读", "建立“算账、提问、判断边界”的标准"),
    "原始Transformer": ("了解", "知道编码器-解码器结构与翻译任务的关系"),
    "BERT": ("必读（结论）", "理解类任务（分类、检索、抽取）为什么常用编码器"),
    "GPT系列": ("必读", "懂“预测下一个 token”、自回归生成、规模演进与 KV 缓存"),
    "大模型训练的三阶段方法论": ("必读", "预训练/微调/对齐各改变什么，决定要不要微调"),
    "提示词工程 (Prompt Engineering)": ("必读（实操）", "会用温度、top-k、示例和结构化提示"),
    "RAG (检索增强生成)": ("必读（实操）", "会设计检索+生成方案，知道它何时优于微调"),
    "实际应用场景": ("必读", "能把需求对应到合适的模型家族"),
    "Transformer的注意力与人类注意力": ("必读（思辨）", "不把注意力热力图当解释，不夸大“理解”"),
    "高效Transformer": ("选读", "评估“长上下文”宣传：精确还是近似"),
    "稀疏注意力": ("选读", "知道远处信息是直接看到还是间接传递"),
    "多模态Transformer": ("选读（做多模态必读）", "知道图片如何变成 token、分辨率如何影响成本"),
    "局限性-计算量随序列长度二次方增长": ("必读（结论）", "会估算上下文长度对成本的影响"),
    "为什么是大力出奇迹": ("必读（结论）", "理解规模的收益递减，判断“换更大模型”值不值"),
}


def notes_by_name() -> dict[str, pathlib.Path]:
    """Every note in the vault by file name (without .md) and by vault path (folder/name)."""
    index: dict[str, pathlib.Path] = {}
    for p in DOCS.rglob("*.md"):
        rel = p.relative_to(DOCS).with_suffix("").as_posix()
        index[rel] = p
        index.setdefault(p.stem, p)
    return index


def frontmatter(path: pathlib.Path) -> dict:
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---"):
        return {}
    return yaml.safe_load(text.split("---", 2)[1]) or {}


NOTES = notes_by_name()


def resolve(link: str) -> pathlib.Path:
    target = NOTES.get(link.strip()) or NOTES.get(link.strip().split("/")[-1])
    if target is None:
        raise KeyError(f"wikilink [[{link}]] does not resolve to a note in docs/")
    return target


def learning_path() -> list[dict]:
    """The ordered steps of the three level pages, with each note's frontmatter."""
    steps = []
    for level in LEVELS:
        page = DOCS / "学习路径" / f"{level}.md"
        for line in page.read_text(encoding="utf-8").splitlines():
            m = STEP.match(line)
            if m:
                path = resolve(m.group(2))
                steps.append(dict(level=level, step=int(m.group(1)), link=m.group(2), path=path,
                                  outcome=m.group(3).strip().removeprefix("学完后你能"), meta=frontmatter(path)))
    return steps


STEPS = learning_path()

# %% [markdown]
# ## 按级别的清单
#
# 步骤顺序与笔记标题来自学习路径页面和笔记的 frontmatter；“产品经理深度”与“至少要能”是本脚本里的编辑标注；
# “可运行”是该笔记嵌入的代码输出数。每一步“学完后你能……”见对应级别的学习路径页面。

# %% checklist
EMBED = re.compile(r"!\[\[([A-Za-z0-9_]+\.py)(?:#[^\]]*)?\]\]")
for level in LEVELS:
    rows = [s for s in STEPS if s["level"] == level]
    print(f"【{level}】{len(rows)} 步")
    _tbl = ["| # | 笔记 | 产品经理深度 | 至少要能…… | 可运行 |"]
    for s in rows:
        name = s["path"].stem
        depth, must = PM_DEPTH.get(name, ("（未标注）", ""))
        embeds = EMBED.findall(s["path"].read_text(encoding="utf-8"))
        title = s["meta"].get("title", name)
        _tbl.append(f"| {s['step']} | {title} | {depth} | {must} | {len(embeds)} 处 |")
    print_table(_tbl)
    print()
must_read = [s for s in STEPS if PM_DEPTH.get(s["path"].stem, ("",))[0].startswith("必读")]
print(f"共 {len(STEPS)} 步，其中产品经理“必读”{len(must_read)} 步。")
missing = [s["path"].stem for s in STEPS if s["path"].stem not in PM_DEPTH]
assert not missing, f"notes on the path without a PM depth label: {missing}"

# %% [markdown]
# ## 学习路径自洽检查
#
# 对每一步：frontmatter 的 `level` 必须等于所在级别页面；每个前置笔记（`prerequisites`）都必须在路径上
# 排在它之前。

# %% path_check
position = {s["path"]: i for i, s in enumerate(STEPS)}
problems = []
n_prereqs = 0
for i, s in enumerate(STEPS):
    if s["meta"].get("level") != s["level"]:
        problems.append(f"{s['path'].stem}: level {s['meta'].get('level')!r} but listed under {s['level']}")
    for pre in s["meta"].get("prerequisites") or []:
        n_prereqs += 1
        for link in WIKILINK.findall(pre):
            p = resolve(link)
            if p not in position:
                problems.append(f"{s['path'].stem}: prerequisite [[{link}]] is not on the path")
            elif position[p] >= i:
                problems.append(f"{s['path'].stem}: prerequisite [[{link}]] comes later (step {position[p] + 1})")
print(f"已检查 {len(LEVELS)} 个级别中的 {len(STEPS)} 步和 {n_prereqs} 条先修关系")
for p in problems:
    print("  问题：", p)
print("学习路径前后一致" if not problems else f"{len(problems)} 个问题")
assert not problems

# %% [markdown]
# ## 产品经理的“账本”：几个用代码算出的数字
#
# 参数量由 `transformer_core.configs` 在 meta 设备上搭出模型后清点（不占内存）；
# 每生成一个 token 的前向计算量约为 $2N$ FLOPs；KV 缓存每个 token 需要 $2\cdot n_{\text{layer}}\cdot d$ 个数（fp16 每个 2 字节）。

# %% cost_facts
_tbl = ["| 模型 | 参数量 | 每 token 前向计算 ≈ 2N | 每个 token 的 KV 缓存（fp16） | 上下文占满时的 KV 缓存 | 论文上下文长度 |"]
for name in ["gpt2-small", "gpt2-medium", "gpt2-xl", "gpt-3"]:  # decoder-only: they keep a KV cache
    cfg = PRESETS[name]
    n = count_parameters(name).total
    kv_token = 2 * cfg.n_layers * cfg.d_model * 2  # keys and values, fp16
    _tbl.append(f"| {name} | {n / 1e6:,.0f}M | {2 * n / 1e9:,.2f} GFLOPs | {kv_token / 2**10:,.0f} KiB | "
          f"{kv_token * cfg.max_len / 2**20:,.0f} MiB | {cfg.max_len:,} |")
print_table(_tbl)
gpt3 = PRESETS["gpt-3"]
kv_gpt3 = 2 * gpt3.n_layers * gpt3.d_model * 2
print(f"\n例：GPT-3 规模的模型，一个 2,048 token 的对话占用约 {kv_gpt3 * 2048 / 2**30:.1f} GiB KV 缓存；"
      f"100 个并发用户就是 {100 * kv_gpt3 * 2048 / 2**30:,.0f} GiB——这就是长上下文和高并发贵的原因之一。")
assert abs(count_parameters("gpt-3").total / 175e9 - 1) < 0.02
