# %% [markdown]
# # 这座知识库怎么用：从笔记的 frontmatter 算出学习路径
#
# 读取 `docs/` 下每篇笔记的 YAML frontmatter（级别 level、前置知识 prerequisites），
# 以及三个级别页面 `docs/学习路径/*.md` 里的有序步骤，算出：
#
# - 每个级别有几篇笔记、几段嵌入的代码输出；
# - 路径上每一步的前置知识，并检查“前置知识一定排在更前面”；
# - 每个代码片段（snippet）用到了 `transformer_core` 的哪些模块。
#
# 笔记增删改后重新运行，表格会跟着变。

# %% setup
import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]) if "__file__" in globals() else ".")

import ast
import pkgutil
import re
import unicodedata
from collections import defaultdict

import matplotlib.pyplot as plt
import yaml

import transformer_core
from transformer_core.fonts import use_cjk_font

plt.rcParams.update({"figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white"})
use_cjk_font()  # Chinese figure text on Linux, macOS and Windows
KB_VALUES = {}  # values the notes bind into prose: {{vault_guide.py:key}}
ROOT = pathlib.Path(__file__).resolve().parents[1] if "__file__" in globals() else pathlib.Path.cwd()
DOCS, SNIPPETS = ROOT / "docs", ROOT / "snippets"
LEVELS = ["入门级", "进阶级", "专家级"]
CODES = {"入门级": "B", "进阶级": "I", "专家级": "E"}  # beginner / intermediate / expert, for figure labels
WIKILINK = re.compile(r"\[\[([^\]|#]+)(?:#[^\]|]*)?(?:\\?\|[^\]]*)?\]\]")
EMBED = re.compile(r"!\[\[([\w\-]+\.py)(?:#([\w\-]+))?\]\]")


def print_table(header: list[str], rows: list[list[str]]) -> None:
    """Print a Markdown pipe table aligned for a monospace view (CJK characters count double)."""
    def width(s: str) -> int:
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)

    widths = [max(width(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = lambda r: "| " + " | ".join(str(c) + " " * (w - width(str(c))) for c, w in zip(r, widths)) + " |"  # noqa: E731
    print("\n".join([fmt(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [fmt(r) for r in rows]))


def read_note(path: pathlib.Path) -> tuple[dict, str]:
    """-> (frontmatter dict, body text without code blocks and code spans)."""
    text = path.read_text(encoding="utf-8")
    if text.startswith("---"):
        _, front, text = text.split("---", 2)
        front = yaml.safe_load(front) or {}
    else:
        front = {}
    # Code is not prose: an embed written inside a code block or code span is not an embed.
    return front, re.sub(r"`[^`\n]*`", "", re.sub(r"```.*?```", "", text, flags=re.S))


notes = {}  # vault path without .md -> (frontmatter, body)
for p in sorted(DOCS.rglob("*.md")):
    notes[p.relative_to(DOCS).with_suffix("").as_posix()] = read_note(p)

# Resolve a wikilink target the way Obsidian does for unique names: full path, file name, title or alias.
names: dict[str, set[str]] = defaultdict(set)
for key, (front, _) in notes.items():
    for name in [key, key.split("/")[-1], str(front.get("title", ""))] + [str(a) for a in front.get("aliases") or []]:
        if name:
            names[name].add(key)


def resolve(target: str) -> str | None:
    hits = names.get(target.strip())
    return next(iter(hits)) if hits and len(hits) == 1 else None


path_steps: list[tuple[str, int, str]] = []  # (level, step number, note key)
for level in LEVELS:
    page = DOCS / "学习路径" / f"{level}.md"
    if page.exists():
        steps = re.findall(r"^\s*(\d+)\.\s*\[\[([^\]|#]+)", page.read_text(encoding="utf-8"), flags=re.M)
        path_steps += [(level, int(n), resolve(t) or t) for n, t in steps]
position = {key: i for i, (_, _, key) in enumerate(path_steps)}
code = {key: f"{CODES[lvl]}{n}" for lvl, n, key in path_steps}


def prerequisites(key: str) -> list[str]:
    front = notes[key][0]
    return [m.group(1) for item in front.get("prerequisites") or [] for m in WIKILINK.finditer(str(item))]


# %% notes_per_level
rows = []
for level in LEVELS:
    on_path = [k for lvl, _, k in path_steps if lvl == level]
    tagged = [k for k, (f, _) in notes.items() if f.get("level") == level and not k.startswith("学习路径/")]
    embeds = sum(len(EMBED.findall(notes[k][1])) for k in on_path if k in notes)
    runnable = sum("## 动手运行" in notes[k][1] for k in on_path if k in notes)
    rows.append([level, len(on_path), len(tagged), embeds, f"{runnable}/{len(on_path)}"])
print_table(["级别", "路径上的步骤", "标为该级别的笔记", "嵌入的代码输出", "有“动手运行”"], rows)
print(f"\n共 {len(notes)} 个 Markdown 文件，{len(path_steps)} 个学习步骤，{len(list(SNIPPETS.glob('*.py')))} 个代码片段。")
missing = [k for _, _, k in path_steps if k not in notes]
print("路径上尚未写成的笔记: " + (", ".join(missing) if missing else "无"))
# Estimated reading time per level, from each step's frontmatter `minutes:` (the home page binds these).
minutes_per_level = {lvl: sum(int(notes[k][0].get("minutes") or 0) for l2, _, k in path_steps if l2 == lvl and k in notes) for lvl in LEVELS}
steps_per_level = {lvl: sum(1 for l2, _, _ in path_steps if l2 == lvl) for lvl in LEVELS}
KB_VALUES["hours_level1"] = round(minutes_per_level["入门级"] / 60, 1)
KB_VALUES["hours_level2"] = round(minutes_per_level["进阶级"] / 60, 1)
KB_VALUES["hours_level3"] = round(minutes_per_level["专家级"] / 60, 1)
KB_VALUES["steps_level1"] = steps_per_level["入门级"]
KB_VALUES["steps_level2"] = steps_per_level["进阶级"]
KB_VALUES["steps_level3"] = steps_per_level["专家级"]
KB_VALUES["hours_total"] = round(sum(minutes_per_level.values()) / 60, 1)
print("预计用时（小时，来自每篇笔记的 minutes）: " + ", ".join(f"{lvl} {minutes_per_level[lvl] / 60:.1f}" for lvl in LEVELS))

# %% path_table
violations, unresolved = [], []
rows = []
for level, n, key in path_steps:
    if key not in notes:
        continue
    pre = []
    for target in prerequisites(key):
        dep = resolve(target)
        if dep is None:
            unresolved.append((key, target))
            pre.append(f"{target}?")
            continue
        pre.append(code.get(dep, dep.split("/")[-1]))
        if dep in position and position[dep] >= position[key]:
            violations.append((key, dep))
    snippets = sorted({s for s, _ in EMBED.findall(notes[key][1])})
    rows.append([code[key], key.split("/")[-1], ", ".join(pre) or "—", len(EMBED.findall(notes[key][1])), ", ".join(snippets) or "—"])
print_table(["步骤", "笔记", "前置知识", "嵌入", "代码片段"], rows)
if unresolved:
    print("\n未能唯一解析的前置知识: " + "; ".join(f"{k} → {t}" for k, t in unresolved))
print("\n前置知识排在自己后面的笔记: " + ("; ".join(f"{k} ← {d}" for k, d in violations) if violations else "无"))
assert not violations, "a prerequisite must come earlier on the learning path"

# %% prereq_graph
fig, ax = plt.subplots(figsize=(13, 4.2))
lane = {lvl: i for i, lvl in enumerate(LEVELS)}
xy = {key: (position[key], -lane[lvl]) for lvl, _, key in path_steps}
for key in xy:
    if key not in notes:
        continue
    for target in prerequisites(key):
        dep = resolve(target)
        if dep in xy:
            (x0, y0), (x1, y1) = xy[dep], xy[key]
            ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                        arrowprops=dict(arrowstyle="->", color="tab:gray", alpha=0.6, lw=1,
                                        connectionstyle="arc3,rad=-0.25" if y0 == y1 else "arc3,rad=0.1", shrinkA=9, shrinkB=9))
colors = {"入门级": "tab:green", "进阶级": "tab:blue", "专家级": "tab:red"}
for lvl, n, key in path_steps:
    x, y = xy[key]
    ax.scatter([x], [y], s=420, color=colors[lvl], edgecolors="black" if key in notes else "none", zorder=3)
    ax.text(x, y, code[key], ha="center", va="center", color="white", fontsize=8, weight="bold", zorder=4)
ax.set_yticks([0, -1, -2])
ax.set_yticklabels(["入门级（B）", "进阶级（I）", "专家级（E）"])
ax.set_xlabel("在学习路径上的位置")
ax.set_xlim(-1, max(len(path_steps), 1))
ax.set_ylim(-2.7, 0.7)
ax.set_title("先修关系图（prerequisite graph）：每个箭头都沿学习路径指向前方")
for side in ("top", "right"):
    ax.spines[side].set_visible(False)
fig.tight_layout()
plt.show()
print("图中编号与笔记: " + "  ".join(f"{code[k]}={k.split('/')[-1]}" for _, _, k in path_steps))

# %% snippet_usage
modules = sorted(m.name for m in pkgutil.iter_modules(transformer_core.__path__))
used_by: dict[str, list[str]] = {m: [] for m in modules}
for path in sorted(SNIPPETS.glob("*.py")):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names_ = [node.module] if isinstance(node, ast.ImportFrom) and node.module else \
            [a.name for a in node.names] if isinstance(node, ast.Import) else []
        for name in names_:
            parts = name.split(".")
            if parts[0] == "transformer_core" and len(parts) > 1 and parts[1] in used_by and path.stem not in used_by[parts[1]]:
                used_by[parts[1]].append(path.stem)
embedded_in: dict[str, set[str]] = defaultdict(set)
for key, (_, body) in notes.items():
    for snippet, _ in EMBED.findall(body):
        embedded_in[snippet].add(key.split("/")[-1])
print_table(["transformer_core 模块", "用到它的代码片段"], [[m, ", ".join(used_by[m]) or "—"] for m in modules])
print()
print_table(["代码片段", "被哪些笔记嵌入"], [[p.name, "、".join(sorted(embedded_in[p.name])) or "—"] for p in sorted(SNIPPETS.glob("*.py"))])
