# %% [markdown]
# # 一个最小的 RAG：在本知识库自己的笔记上检索
#
# 1. **切块**：读取 `docs/` 下所有笔记，去掉 frontmatter 和代码块，按小节和段落切成几百字的块；
# 2. **向量化**：字符 1-gram + 2-gram 的 TF-IDF 向量（确定性的方法，不需要下载模型）；
# 3. **检索**：问题与每一块的余弦相似度，取前 k 块；并用 `scaled_dot_product_attention` 说明“检索 = 硬注意力”；
# 4. **增强**：把检索到的块拼进提示词模板。
#
# 注意：脚本读的是知识库当前的笔记，笔记一改，检索结果就可能跟着变。

# %% setup
import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]) if "__file__" in globals() else ".")

import re
from collections import Counter
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
import yaml

from transformer_core.attention import scaled_dot_product_attention
from transformer_core.fonts import use_cjk_font

plt.rcParams.update({"figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white"})
use_cjk_font()  # Chinese figure text on Linux, macOS and Windows
ROOT = pathlib.Path(__file__).resolve().parents[1] if "__file__" in globals() else pathlib.Path.cwd()
DOCS = ROOT / "docs"
MAX_CHARS = 300  # chunk size budget, in characters


@dataclass
class Chunk:
    note: str  # note path inside the vault, without .md
    heading: str
    text: str


def clean(md: str) -> str:
    """Markdown -> plain-ish text: drop code blocks, embeds, callout markers and link syntax."""
    md = re.sub(r"```.*?```", "", md, flags=re.S)
    md = re.sub(r"!\[\[[^\]]*\]\]", "", md)
    md = re.sub(r"\[\[([^\]|#]*)(?:#[^\]|]*)?\|([^\]]*)\]\]", r"\2", md)  # [[a|b]] -> b
    md = re.sub(r"\[\[([^\]|#]*)(?:#[^\]]*)?\]\]", lambda m: m.group(1).split("/")[-1], md)
    md = re.sub(r"^>\s*(\[![^\]]*\][-+]?)?\s*", "", md, flags=re.M)
    md = re.sub(r"[*_`]|^#+\s*", "", md, flags=re.M)
    return md


def split_note(path: pathlib.Path) -> list[Chunk]:
    """One note -> chunks of at most ~MAX_CHARS characters, never crossing a '## ' heading."""
    text = path.read_text(encoding="utf-8")
    if text.startswith("---"):
        _, front, text = text.split("---", 2)
        title = (yaml.safe_load(front) or {}).get("title", path.stem)
    else:
        title = path.stem
    name = path.relative_to(DOCS).with_suffix("").as_posix()
    chunks: list[Chunk] = []
    for section in re.split(r"^(?=## )", text, flags=re.M):
        heading = section.splitlines()[0].lstrip("# ").strip() if section.startswith("## ") else str(title)
        buf = ""
        for para in [p.strip() for p in clean(section).split("\n\n")]:
            if not para:
                continue
            if buf and len(buf) + len(para) > MAX_CHARS:
                chunks.append(Chunk(name, heading, buf))
                buf = ""
            buf = (buf + "\n" + para).strip()
        if len(buf) >= 20:
            chunks.append(Chunk(name, heading, buf))
    return chunks


def ngrams(text: str) -> Counter:
    """Character 1-grams and 2-grams of the letters/digits/CJK in ``text`` (lower-cased)."""
    s = "".join(ch for ch in text.lower() if ch.isalnum())
    return Counter(list(s) + [s[i : i + 2] for i in range(len(s) - 1)])


# %% chunks
notes = sorted(p for p in DOCS.rglob("*.md") if not any(part.startswith(".") for part in p.parts))
chunks = [c for p in notes for c in split_note(p)]
counts = [ngrams(c.heading + " " + c.text) for c in chunks]
vocab = sorted({g for c in counts for g in c})
index = {g: i for i, g in enumerate(vocab)}
df = np.zeros(len(vocab))
for c in counts:
    for g in c:
        df[index[g]] += 1
N = len(chunks)
idf = np.log((1 + N) / (1 + df)) + 1  # smoothed inverse document frequency


def embed(c: Counter) -> np.ndarray:
    """TF-IDF vector of one n-gram count, L2-normalised -> [len(vocab)] (unknown n-grams are dropped)."""
    v = np.zeros(len(vocab), dtype=np.float32)
    for g, tf in c.items():
        if g in index:
            v[index[g]] = tf * idf[index[g]]
    return v / max(np.linalg.norm(v), 1e-12)


D = np.stack([embed(c) for c in counts])  # [N, |vocab|], unit rows
lengths = [len(c.text) for c in chunks]
print(f"从 docs/ 读入的笔记：{len(notes)} 篇")
print(f"文本块（chunk）：{N} 个（长度中位数 {int(np.median(lengths))} 个字符，最长 {max(lengths)}）")
print(f"词表（vocabulary）：{len(vocab)} 个字符 1-gram 与 2-gram -> 每个块是一个 {len(vocab)} 维的 TF-IDF 向量")
common = sorted(vocab, key=lambda g: (idf[index[g]], g))
print("最常见的 n-gram（idf 最低）：" + "  ".join(f"{g!r}:{idf[index[g]]:.2f}" for g in common[:6]))

# %% retrieve
QUESTION = "RAG 和微调有什么区别？什么时候应该用 RAG？"
TOP_K = 4
q = embed(ngrams(QUESTION))
scores = D @ q  # cosine similarity: both sides are unit vectors
ranking = sorted(range(N), key=lambda i: (-scores[i], i))
top = ranking[:TOP_K]
print(f"问题（question）: {QUESTION}")
print(f"前 {TOP_K} 个最相似的块（cosine similarity）:")
for r, i in enumerate(top, 1):
    c = chunks[i]
    preview = c.text.replace("\n", " ")[:110]
    print(f"\n[{r}] {scores[i]:.3f}  {c.note} › {c.heading}")
    print(f"    {preview}…")
print(f"\n相似度分布: 最高 {scores[top[0]]:.3f}, 第 {TOP_K} 名 {scores[top[-1]]:.3f}, 中位数 {np.median(scores):.3f}")
assert scores[top[0]] > np.median(scores)

# %% attention_view
# Retrieval as attention: the question is the query, chunk vectors are keys (and values).
# softmax(scale * q.k) ranks exactly like cosine similarity; a larger scale (lower temperature)
# concentrates the weight on the best chunks, approaching "hard" top-k retrieval.
Qt = torch.from_numpy(q)[None, None, None, :]  # [B=1, H=1, Lq=1, d]
Kt = torch.from_numpy(D)[None, None]  # [1, 1, N, d]
SCALES = [1.0, 20.0, 100.0]
weights = {s: scaled_dot_product_attention(Qt, Kt, Kt, scale=s)[1][0, 0, 0].numpy() for s in SCALES}
for s in SCALES:
    w = weights[s]
    att_rank = sorted(range(N), key=lambda i: (-w[i], i))
    assert att_rank[:TOP_K] == top, "attention weights rank chunks exactly as cosine similarity does"
    print(f"缩放（scale） {s:>5}：第 1 名的权重 {w[top[0]]:.3f}，前 {TOP_K} 名 {w[top].sum():.3f}，其余 {N - TOP_K} 个块 {1 - w[top].sum():.3f}")

show = ranking[:15]
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 3.6))
ax.bar(range(len(show)), scores[show], color=["tab:orange" if i in top else "tab:gray" for i in show])
ax.set(title=f"余弦相似度（cosine similarity），{N} 个块中最好的 15 个（橙色：前 {TOP_K} 名）", xlabel="块的名次（rank）", ylabel="余弦相似度")
for j, s in enumerate(SCALES):
    ax2.plot(range(len(show)), weights[s][show], marker="o", ms=3, label=f"缩放（scale） = {s:g}")
ax2.set(title="softmax(scale * q . k)：同一批块上的注意力权重", xlabel="块的名次（rank）", ylabel="注意力权重（attention weight）")
ax2.legend()
fig.tight_layout()
plt.show()

# %% prompt
context = "\n\n".join(f"[{r}] 来源：{chunks[i].note} › {chunks[i].heading}\n{chunks[i].text}" for r, i in enumerate(top, 1))
prompt = f"""你是本知识库的问答助手。请只根据下面的资料回答问题，并在句末用 [编号] 标注引用；资料里没有的内容，请回答“资料中没有提到”。

### 资料
{context}

### 问题
{QUESTION}

### 回答
"""
print(prompt)
print(f"（提示词共 {len(prompt)} 个字符；检索到的资料占 {len(context) / len(prompt):.0%}）")
