# kbgen: timeout=120
# %% [markdown]
# # 分词与 Token：从零训练一个字节级 BPE 分词器
#
# 本脚本配合笔记 [[核心组件/分词与Token]]：
#
# 1. 用 `transformer_core.bpe`（从零实现的字节级字节对编码，byte-level BPE）在项目自带的语料上训练分词器；
# 2. 一步一步展示前几次合并（merge）把什么和什么拼在了一起；
# 3. 测量同一段内容的中文版和英文版各需要多少 token、每个 token 平均对应几个字符；
# 4. 把这些数字换算成产品语言：一个上下文窗口（context window）能装多少字，按 token 计价时一份文档要花多少钱。

# %% setup
import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]) if "__file__" in globals() else ".")

import matplotlib.pyplot as plt

from transformer_core.bpe import BPETokenizer, split_chunks
from transformer_core.data import CORPUS_PATH
from transformer_core.fonts import use_cjk_font
from transformer_core.report import print_table

plt.rcParams.update({"figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white"})
FONT = use_cjk_font()  # Chinese labels on Linux, macOS and Windows; None when no CJK font is installed


def zh(chinese: str, english: str) -> str:
    """Figure text: Chinese when a CJK font was found, else the English fallback (no empty boxes)."""
    return chinese if FONT is not None else english


DATA = CORPUS_PATH.parent
TRAIN_TEXT = CORPUS_PATH.read_text(encoding="utf-8") + "\n" + (DATA / "english.txt").read_text(encoding="utf-8")
ZH_TEXT = (DATA / "parallel_zh.txt").read_text(encoding="utf-8").strip()  # held out: not in the training text
EN_TEXT = (DATA / "parallel_en.txt").read_text(encoding="utf-8").strip()  # the same passage in English
VOCAB_SIZE = 1000

KB_VALUES: dict[str, int | float | str | bool] = {}
KB_VALUES["vocab_size"] = VOCAB_SIZE
KB_VALUES["train_chars"] = len(TRAIN_TEXT)

# %% [markdown]
# ## 起点：每个字节是一个 token
#
# 字节级 BPE 从 UTF-8 字节出发：初始词表只有 256 个“字节 token”。英文字母一个字节，
# 一个汉字三个字节、一个 emoji 四个字节——所以在一次合并都没有的时候，任何文字都能编码，但汉字要用 3 个 token。

# %% bytes
for text in ["a", "猫", "注意力", "🙂"]:
    raw = text.encode("utf-8")
    print(f"{text!r:>8}  {len(text)} 个字符 → {len(raw)} 个字节: {' '.join(f'{b:02x}' for b in raw)}")
KB_VALUES["bytes_per_hanzi"] = len("猫".encode("utf-8"))
assert KB_VALUES["bytes_per_hanzi"] == 3

# %% [markdown]
# ## 训练：反复合并最常见的相邻一对
#
# 训练就是一个循环：数一数哪两个相邻 token 一起出现得最多，给这一对一个新编号，替换掉，再数。
# 下面打印前 15 次合并。`\xe7\x9a` 这样的写法表示“半个汉字”（还不是完整字符的字节片段）：
# 最早的合并往往就是把汉字的三个字节拼回一个字。

# %% merges
tokenizer = BPETokenizer.train(TRAIN_TEXT, VOCAB_SIZE)
lines = ["| 第几次合并 | 左 | 右 | → 新 token | 在训练文本中出现次数 |"]
for k, m in enumerate(tokenizer.merges[:15], start=1):
    a, b = m.pair
    lines.append(f"| {k} | {tokenizer.token_text(a)} | {tokenizer.token_text(b)} | {tokenizer.token_text(m.new_id)} | {m.count} |")
print_table(lines)
KB_VALUES["n_merges"] = len(tokenizer.merges)
long_tokens = sorted(tokenizer.merges, key=lambda m: -len(tokenizer.vocab[m.new_id]))[:8]
print("\n最长的几个 token:", " / ".join(repr(tokenizer.token_text(m.new_id)) for m in long_tokens))

# %% [markdown]
# ## 切一句话看看
#
# 同一个分词器切中文和英文。常见的词（“注意力”、“ the”）成了一个 token，少见的词被拆成几段；
# 英文 token 常常带着前面的空格。

# %% tokenize_examples
for sentence in ["注意力机制让每个词都能看到其他词。", "The attention mechanism lets every token see the others."]:
    pieces = tokenizer.tokenize(sentence)
    print(f"{len(sentence)} 个字符 → {len(pieces)} 个 token: " + " | ".join(pieces))
for text in [ZH_TEXT, EN_TEXT, "混合 text 和 emoji 🙂🚀，还有代码 x = [1, 2]"]:
    assert tokenizer.decode(tokenizer.encode(text)) == text  # encode → decode gives back every character
assert "".join(split_chunks(ZH_TEXT)) == ZH_TEXT
print("\n编码再解码，中英文与 emoji 都逐字还原。")

# %% [markdown]
# ## 中文和英文：每个 token 对应几个字符？
#
# 用一段**不在训练文本里**的内容（中文版和英文版意思相同）来测量。

# %% chars_per_token
zh_tokens, en_tokens = len(tokenizer.encode(ZH_TEXT)), len(tokenizer.encode(EN_TEXT))
zh_cpt, en_cpt = len(ZH_TEXT) / zh_tokens, len(EN_TEXT) / en_tokens
print_table([
    "| 文本 | 字符数 | token 数 | 字符/token |",
    f"| 中文版 | {len(ZH_TEXT)} | {zh_tokens} | {zh_cpt:.2f} |",
    f"| 英文版 | {len(EN_TEXT)} | {en_tokens} | {en_cpt:.2f} |",
])
print(f"\n同样的意思，中文版的 token 数是英文版的 {zh_tokens / en_tokens:.2f} 倍。")
KB_VALUES["zh_chars"] = len(ZH_TEXT)
KB_VALUES["en_chars"] = len(EN_TEXT)
KB_VALUES["zh_tokens"] = zh_tokens
KB_VALUES["en_tokens"] = en_tokens
KB_VALUES["zh_chars_per_token"] = round(zh_cpt, 2)
KB_VALUES["en_chars_per_token"] = round(en_cpt, 2)
KB_VALUES["zh_en_token_ratio"] = round(zh_tokens / en_tokens, 2)
KB_VALUES["zh_fewer_chars_per_token"] = zh_cpt < en_cpt  # 中文每个 token 对应的字符比英文少
assert KB_VALUES["zh_fewer_chars_per_token"]

# %% [markdown]
# ## 词表越大，压缩得越好
#
# 同样的训练文本，合并次数越多（词表越大），同一段话需要的 token 越少。作为对比，GPT-2 的词表有 50,257 个 token。

# %% vocab_sweep
sizes = [256, 300, 400, 600, 800, 1000, 1500]
sweep = {v: BPETokenizer.train(TRAIN_TEXT, v) for v in sizes}
zh_curve = [len(ZH_TEXT) / len(sweep[v].encode(ZH_TEXT)) for v in sizes]
en_curve = [len(EN_TEXT) / len(sweep[v].encode(EN_TEXT)) for v in sizes]
print_table(["| 词表大小 | 中文 字符/token | 英文 字符/token |"]
            + [f"| {v} | {a:.2f} | {b:.2f} |" for v, a, b in zip(sizes, zh_curve, en_curve)])
# Claim: a bigger vocabulary packs more characters into each token, in both languages.
KB_VALUES["compression_improves_with_vocab"] = bool(all(x < y for x, y in zip(zh_curve, zh_curve[1:]))
                                                    and all(x < y for x, y in zip(en_curve, en_curve[1:])))
assert KB_VALUES["compression_improves_with_vocab"], (zh_curve, en_curve)
KB_VALUES["zh_chars_per_token_bytes_only"] = round(zh_curve[0], 2)
fig, ax = plt.subplots(figsize=(6.5, 3.6))
ax.plot(sizes, zh_curve, "o-", label=zh("中文", "Chinese"))
ax.plot(sizes, en_curve, "s-", label=zh("英文", "English"))
ax.set_xlabel(zh("词表大小（256 个字节 + 合并次数）", "vocabulary size (256 bytes + merges)"))
ax.set_ylabel(zh("每个 token 平均对应的字符数", "characters per token"))
ax.set_title(zh("词表越大，每个 token 装的字越多", "Bigger vocabulary, more characters per token"))
ax.grid(alpha=0.3)
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 训练语料决定“谁更省 token”
#
# 同样大小的词表，只用英文训练时，中文几乎得不到合并，退回到“一个汉字三个 token”。
# 商用分词器的训练语料以英文为主，这就是中文在许多模型上更“费 token”的原因之一。

# %% training_mix
english_only = BPETokenizer.train((DATA / "english.txt").read_text(encoding="utf-8"), VOCAB_SIZE)
en_only_zh, en_only_en = len(english_only.encode(ZH_TEXT)), len(english_only.encode(EN_TEXT))
print_table([
    "| 分词器的训练文本 | 中文版 token 数 | 英文版 token 数 | 中文/英文 |",
    f"| 中英混合（本项目语料） | {zh_tokens} | {en_tokens} | {zh_tokens / en_tokens:.2f} |",
    f"| 只有英文 | {en_only_zh} | {en_only_en} | {en_only_zh / en_only_en:.2f} |",
])
KB_VALUES["english_only_zh_en_token_ratio"] = round(en_only_zh / en_only_en, 2)
KB_VALUES["english_only_costs_chinese_more"] = en_only_zh / en_only_en > zh_tokens / en_tokens
assert KB_VALUES["english_only_costs_chinese_more"]

# %% [markdown]
# ## 换算成产品语言：上下文窗口与按 token 计价
#
# 下面的窗口大小和单价是**举例用的假设值**（不是任何厂商的报价），字符/token 用上面测得的数字。
# 换成真实模型时，把它们替换成该模型的词表实测值和官方价格即可，算法不变。

# %% product_math
CONTEXT_WINDOW = 8192  # tokens, an example window size
PRICE_PER_MILLION = 10.0  # 元 per million input tokens, an assumed example price
DOC_CHARS = 100_000  # a 10万字 document
window_zh_chars = CONTEXT_WINDOW * zh_cpt
window_en_chars = CONTEXT_WINDOW * en_cpt
doc_tokens = DOC_CHARS / zh_cpt
doc_cost = doc_tokens / 1e6 * PRICE_PER_MILLION
print_table([
    "| 问题 | 结果 |",
    f"| {CONTEXT_WINDOW} token 的窗口能装多少中文字 | 约 {window_zh_chars:,.0f} 字 |",
    f"| 同一窗口能装多少英文字符 | 约 {window_en_chars:,.0f} 个字符 |",
    f"| 一份 {DOC_CHARS:,} 字的中文文档需要多少 token | 约 {doc_tokens:,.0f} |",
    f"| 它能否一次放进 {CONTEXT_WINDOW} token 的窗口 | {'能' if doc_tokens <= CONTEXT_WINDOW else '不能，需要切块或检索'} |",
    f"| 按每百万 token {PRICE_PER_MILLION:g} 元，读一遍它要多少钱 | 约 {doc_cost:.2f} 元 |",
])
KB_VALUES["context_window"] = CONTEXT_WINDOW
KB_VALUES["price_per_million"] = PRICE_PER_MILLION
KB_VALUES["doc_chars"] = DOC_CHARS
KB_VALUES["window_zh_chars"] = round(window_zh_chars)
KB_VALUES["window_en_chars"] = round(window_en_chars)
KB_VALUES["doc_tokens"] = round(doc_tokens)
KB_VALUES["doc_cost_yuan"] = round(doc_cost, 2)
KB_VALUES["doc_needs_chunking"] = doc_tokens > CONTEXT_WINDOW
assert KB_VALUES["doc_needs_chunking"]
