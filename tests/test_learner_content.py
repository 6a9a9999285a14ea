"""The learner's side of the vault, checked statically (no site build, no snippet run except tokens.py).

- every note ends with 2-4 folded self-check callouts and declares ``minutes:``;
- every ``中文术语 (English)`` a note introduces is covered by some note's ``terms:`` (the glossary);
- the learning path puts each problem before the notes that declare ``solves:`` it;
- every ``{{x.py:key}}`` a note binds is exported by that snippet;
- the tokens snippet's claims hold; snippets find their CJK font through transformer_core.fonts.
"""

from __future__ import annotations

import os
import re
import runpy
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS, SNIPPETS = ROOT / "docs", ROOT / "snippets"
PATH_DIR, LEVELS = "学习路径", ["入门级", "进阶级", "专家级"]
FRONT = re.compile(r"\A---\n(.*?)\n---\n", re.S)
WIKILINK = re.compile(r"\[\[([^\]|#]+)(?:#[^\]|]*)?(?:\|[^\]]*)?\]\]")
STEP = re.compile(r"^\d+[.)]\s.*?\[\[([^\]|#]+)", re.M)  # top-level ordered-list item: its first wikilink
SELF_CHECK = re.compile(r"^> \[!question\]- 自测 \d+[：:]\s*\S.*\n((?:>.*\n?)+)", re.M)
BINDING = re.compile(r"\{\{\s*([A-Za-z0-9_]+\.py):([A-Za-z0-9_]+)(?:\|[^}]*)?\}\}")
# A Chinese character, then an English gloss in (half- or full-width) parentheses: 自注意力 (Self-Attention).
TERM_PAIR = re.compile(r"[\u4e00-\u9fff]\s*[（(]\s*([A-Za-z][A-Za-z0-9 .,'’&+/\-]*?)\s*[）)]")
# Parenthesised English that is not a term: citations (a year, "et al"), table numbers, and two plain words.
NOT_A_TERM = re.compile(r"\b(19|20)\d\d\b|et al|^Table \d+$")
NOT_A_TERM_WORDS = {"english", "revolutionized"}


@dataclass(frozen=True)
class Note:
    rel: str  # path under docs/, e.g. "核心组件/自注意力机制.md"
    meta: dict[str, Any]
    body: str

    @property
    def name(self) -> str:
        return Path(self.rel).stem

    @property
    def is_content(self) -> bool:
        """A note a learner reads (not the home page, not a learning-path page)."""
        return self.rel != "index.md" and not self.rel.startswith(PATH_DIR + "/")


def load_notes() -> list[Note]:
    notes = []
    for p in sorted(DOCS.rglob("*.md")):
        text = p.read_text(encoding="utf-8")
        m = FRONT.match(text)
        meta = (yaml.safe_load(m.group(1)) or {}) if m else {}
        notes.append(Note(p.relative_to(DOCS).as_posix(), meta, text[m.end():] if m else text))
    return notes


NOTES = load_notes()
CONTENT = [n for n in NOTES if n.is_content]


def resolve(target: str) -> Note:
    """A wikilink target to its note: vault path, or unique file name / title / alias."""
    target = target.strip().rstrip("\\")  # a table cell escapes the pipe: [[note\|text]]
    hits = [n for n in NOTES if n.rel == target + ".md" or n.rel.removesuffix(".md") == target]
    if not hits:
        hits = [n for n in NOTES if target in {n.name, str(n.meta.get("title", ""))}
                | {str(a) for a in n.meta.get("aliases") or []}]
    assert len(hits) == 1, f"[[{target}]] resolves to {len(hits)} notes: {[n.rel for n in hits]}"
    return hits[0]


def path_steps() -> list[tuple[str, Note]]:
    """(level, note) for every step of the three level pages, in reading order."""
    steps = []
    for level in LEVELS:
        page = (DOCS / PATH_DIR / f"{level}.md").read_text(encoding="utf-8")
        steps += [(level, resolve(t)) for t in STEP.findall(page)]
    return steps


# ---------------------------------------------------------------- self-checks and times


@pytest.mark.parametrize("note", CONTENT, ids=lambda n: n.rel)
def test_every_note_ends_with_two_to_four_folded_self_checks(note: Note) -> None:
    checks = SELF_CHECK.findall(note.body)
    assert 2 <= len(checks) <= 4, f"docs/{note.rel}: {len(checks)} self-check callouts (`> [!question]- 自测 1：…`), want 2-4"
    for answer in checks:
        assert re.sub(r"[>\s]", "", answer), f"docs/{note.rel}: a self-check without an answer inside the callout"
    numbers = [int(n) for n in re.findall(r"^> \[!question\]- 自测 (\d+)", note.body, re.M)]
    assert numbers == list(range(1, len(numbers) + 1)), f"docs/{note.rel}: self-checks numbered {numbers}"
    last_heading = [m.start() for m in re.finditer(r"^## ", note.body, re.M)][-1]
    assert note.body[last_heading:].startswith("## 自测"), f"docs/{note.rel}: the self-checks are not the last section"


@pytest.mark.parametrize("note", CONTENT, ids=lambda n: n.rel)
def test_every_note_has_an_estimated_time(note: Note) -> None:
    minutes = note.meta.get("minutes")
    assert isinstance(minutes, int) and 5 <= minutes <= 90, f"docs/{note.rel}: frontmatter minutes: {minutes!r}"


# ---------------------------------------------------------------- glossary terms


def _norm(s: str) -> str:
    s = re.sub(r"-\d+(\.\d+)?$", "", s.strip())  # a model's version belongs to its family: GPT-3 -> GPT
    s = re.sub(r"[-_\s]+", " ", s.lower()).strip()
    return re.sub(r"(?<=\w{3})s$", "", s)  # "scaling laws" and "scaling law" are one term


def _variants(en: str) -> set[str]:
    """An English name and its parts: "Byte-Pair Encoding (BPE)" -> itself, "byte pair encoding", "bpe"."""
    return {_norm(p) for p in re.split(r"[,/;&]|\s+\(|\)", en) if p.strip()} | {_norm(en)}


def _prose(body: str) -> str:
    """The body without code, math, wikilinks and footnote definitions (where glosses are not introduced)."""
    body = re.sub(r"^(```|~~~).*?^\1", "", body, flags=re.S | re.M)
    body = re.sub(r"`[^`\n]*`", "", body)
    body = re.sub(r"\$\$.*?\$\$", "", body, flags=re.S)
    body = re.sub(r"\$[^$\n]*\$", "", body)
    body = re.sub(r"!?\[\[[^\]]*\]\]", "", body)
    return re.sub(r"^\[\^[^\]]+\]:.*$", "", body, flags=re.M)


def glossary() -> dict[str, str]:
    """Every variant of every declared term's English name -> the note declaring it."""
    out = {}
    for note in NOTES:
        for term in note.meta.get("terms") or []:
            for v in _variants(str(term["en"])):
                out.setdefault(v, note.rel)
    return out


@pytest.mark.parametrize("note", [n for n in NOTES if n.meta.get("terms")], ids=lambda n: n.rel)
def test_terms_are_well_formed(note: Note) -> None:
    for term in note.meta["terms"]:
        assert set(term) == {"term", "en", "def"}, f"docs/{note.rel}: term entry {term} needs term, en, def"
        assert all(isinstance(term[k], str) and term[k].strip() for k in term), f"docs/{note.rel}: {term}"
        assert re.search(r"[\u4e00-\u9fff]", term["def"]), f"docs/{note.rel}: {term['term']}: define it in Chinese"
        assert term["def"].endswith("。") and term["def"].count("。") == 1, \
            f"docs/{note.rel}: {term['term']}: def should be one sentence ending with 。"


def test_each_term_is_declared_once() -> None:
    seen: dict[tuple[str, str], str] = {}
    for note in NOTES:
        for term in note.meta.get("terms") or []:
            key = (term["term"], _norm(term["en"]))
            assert key not in seen, f"{key} declared in docs/{seen[key]} and docs/{note.rel}"
            seen[key] = note.rel


def test_every_english_gloss_in_the_notes_is_in_the_glossary() -> None:
    known = glossary()
    missing = []
    for note in NOTES:
        for en in TERM_PAIR.findall(_prose(note.body)):
            if NOT_A_TERM.search(en) or en.lower() in NOT_A_TERM_WORDS:
                continue
            if not _variants(en) & known.keys():
                missing.append(f"docs/{note.rel}: ({en})")
    assert not missing, "terms without a glossary entry (add them to some note's `terms:`):\n" + "\n".join(missing)


def test_glossary_matching_examples() -> None:
    assert _variants("Byte-Pair Encoding (BPE)") >= {"byte pair encoding", "bpe"}
    assert _variants("Residual Connection & Layer Normalization") >= {"residual connection", "layer normalization"}
    assert _norm("Scaling Laws") == _norm("scaling law")
    assert _norm("GPT-3") == _norm("GPT") and _norm("Self-Attention") == "self attention"
    assert TERM_PAIR.findall("自注意力 (Self-Attention) 与多头注意力（Multi-Head Attention）") == \
        ["Self-Attention", "Multi-Head Attention"]
    assert NOT_A_TERM.search("Vaswani et al., 2017") and NOT_A_TERM.search("Table 3")


# ---------------------------------------------------------------- the path


def test_path_starts_with_the_learners_target_then_tokens_early() -> None:
    steps = [n.name for level, n in path_steps() if level == "入门级"]
    assert steps[0] == "产品经理需要理解到什么程度"
    assert steps.index("分词与Token") < steps.index("技术-Transformer架构") < steps.index("自注意力机制")
    assert "AI技术学习路径建议" not in steps  # the site's own meta material is an appendix, off the path


def test_every_path_note_exists_once_and_levels_agree() -> None:
    steps = path_steps()
    names = [n.rel for _, n in steps]
    assert len(names) == len(set(names))
    for level, note in steps:
        assert note.meta.get("level") == level, f"docs/{note.rel}: level {note.meta.get('level')!r}, listed in {level}"


def test_prerequisites_come_earlier_on_the_path() -> None:
    position = {n.rel: i for i, (_, n) in enumerate(path_steps())}
    for rel, i in position.items():
        note = next(n for n in NOTES if n.rel == rel)
        for item in note.meta.get("prerequisites") or []:
            for target in WIKILINK.findall(str(item)):
                pre = resolve(target)
                assert position.get(pre.rel, 10**6) < i, f"docs/{rel}: prerequisite [[{target}]] is not earlier on the path"


def test_problems_come_before_their_solutions() -> None:
    position = {n.rel: i for i, (_, n) in enumerate(path_steps())}
    declared = 0
    for note in NOTES:
        for item in note.meta.get("solves") or []:
            for target in WIKILINK.findall(str(item)):
                problem = resolve(target)
                declared += 1
                assert note.rel in position and problem.rel in position, f"docs/{note.rel}: solves [[{target}]], both must be on the path"
                assert position[problem.rel] < position[note.rel], f"docs/{note.rel} solves docs/{problem.rel} but comes first"
    solvers = {n.name for n in NOTES if n.meta.get("solves")}
    assert {"高效Transformer", "稀疏注意力"} <= solvers and declared >= 2


def test_each_level_has_cited_read_next() -> None:
    for level in LEVELS:
        page = (DOCS / PATH_DIR / f"{level}.md").read_text(encoding="utf-8")
        assert "## 延伸阅读" in page, level
        section = page.split("## 延伸阅读", 1)[1]
        refs = re.findall(r"\[\^([^\]]+)\](?!:)", section)
        defs = set(re.findall(r"^\[\^([^\]]+)\]:", page, re.M))
        assert len(set(refs)) >= 3 and set(refs) <= defs, f"{level}: read-next items need footnote citations"
        assert "arXiv" in page, f"{level}: read next should include the primary papers"


def test_advanced_level_has_exercises_with_folded_answers() -> None:
    page = (DOCS / PATH_DIR / "进阶级.md").read_text(encoding="utf-8")
    exercises = re.findall(r"^### 练习 \d+.*$", page, re.M)
    answers = re.findall(r"^> \[!success\]- ", page, re.M)
    assert len(exercises) >= 3 and len(answers) == len(exercises)
    for snippet in set(re.findall(r"snippets/([a-z_]+\.py)", page)):
        assert (SNIPPETS / snippet).exists(), snippet


def test_the_tokens_note_is_linked_where_readers_look_for_it() -> None:
    for name in ["技术-Transformer架构", "产品经理需要理解到什么程度", "GPT系列"]:
        links = {resolve(t).name for t in WIKILINK.findall(resolve(name).body) if not t.endswith(".py")}
        assert "分词与Token" in links, f"{name} should link [[分词与Token]]"
    pm = resolve("产品经理需要理解到什么程度").body
    row = next(line for line in pm.splitlines() if "tokenization" in line)
    assert "[[分词与Token]]" in row


# ---------------------------------------------------------------- bound values and the tokens snippet


def exported_keys(snippet: str) -> set[str]:
    """Keys assigned as ``KB_VALUES["key"] = …`` (also in a tuple assignment) in a snippet's source."""
    keys: set[str] = set()
    for line in (SNIPPETS / snippet).read_text(encoding="utf-8").splitlines():
        target, eq, _ = line.partition(" = ")
        if eq:
            keys |= set(re.findall(r'KB_VALUES\["([A-Za-z0-9_]+)"\]', target))
    return keys


def test_every_bound_value_is_exported_by_its_snippet() -> None:
    problems = []
    for note in NOTES:
        for snippet, key in BINDING.findall(note.body):
            if not (SNIPPETS / snippet).exists():
                problems.append(f"docs/{note.rel}: {{{{{snippet}:{key}}}}}: no snippets/{snippet}")
            elif key not in exported_keys(snippet):
                problems.append(f"docs/{note.rel}: {{{{{snippet}:{key}}}}}: {snippet} does not export {key}")
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def tokens_values() -> dict[str, Any]:
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.path.insert(0, str(ROOT))
    try:
        return runpy.run_path(str(SNIPPETS / "tokens.py"), run_name="__main__")["KB_VALUES"]
    finally:
        import matplotlib.pyplot as plt

        plt.close("all")


def test_tokens_snippet_claims_hold(tokens_values: dict[str, Any]) -> None:
    v = tokens_values
    claims = {k: x for k, x in v.items() if isinstance(x, bool)}
    assert claims and all(claims.values()), claims
    assert v["zh_chars_per_token"] < v["en_chars_per_token"]  # 中文每个 token 对应的字符比英文少
    assert v["zh_chars_per_token"] == round(v["zh_chars"] / v["zh_tokens"], 2)
    assert v["english_only_zh_en_token_ratio"] > v["zh_en_token_ratio"]  # the training mix decides
    assert v["bytes_per_hanzi"] == 3 and v["zh_chars_per_token_bytes_only"] < v["zh_chars_per_token"]
    assert v["doc_tokens"] > v["context_window"] and v["doc_cost_yuan"] > 0
    assert v["window_zh_chars"] == round(v["context_window"] * v["zh_chars"] / v["zh_tokens"])


def test_tokens_note_binds_the_snippets_claims(tokens_values: dict[str, Any]) -> None:
    body = resolve("分词与Token").body
    bound = {key for snippet, key in BINDING.findall(body) if snippet == "tokens.py"}
    assert bound <= tokens_values.keys()
    assert {k for k, x in tokens_values.items() if isinstance(x, bool)} <= bound  # every claim is cited in prose


# ---------------------------------------------------------------- portable figures


def test_no_snippet_hard_codes_a_font_file_and_every_figure_snippet_uses_the_helper() -> None:
    for path in sorted(SNIPPETS.glob("*.py")):
        src = path.read_text(encoding="utf-8")
        assert not re.search(r"\.(ttc|ttf|otf)\b|/usr/share/fonts|Windows\\\\?Fonts|/System/Library/Fonts", src), path.name
        if "matplotlib" in src:
            assert re.search(r"^use_cjk_font\(\)|= use_cjk_font\(\)", src, re.M), f"{path.name}: call use_cjk_font()"


def test_exercise_instructions_match_the_snippets_they_edit() -> None:
    """Each exercise names code to change; that code must still be in the snippet, and the patch must work."""
    page = (DOCS / PATH_DIR / "进阶级.md").read_text(encoding="utf-8")
    multi_head = (SNIPPETS / "multi_head.py").read_text(encoding="utf-8")
    efficient = (SNIPPETS / "efficient_attention.py").read_text(encoding="utf-8")
    train_cell = multi_head.split("# %% train_reverse", 1)[1].split("# %%", 1)[0]
    assert "`n_heads=4`" in page and "n_heads=4" in train_cell
    assert "squeeze=False" in multi_head  # the per-head figure still draws with a single head
    old = '("sliding window w=8", sliding_window_mask(L, 8), full)'
    assert f"`{old}`" in page and old in efficient.split("# %% sparsity_table", 1)[1]
    assert re.search(r"^torch\.manual_seed\(0\)$", multi_head.split("# %% train_reverse", 1)[0], re.M)

    import torch

    import transformer_core.models as models

    patch = re.search(r"```python\n(.*?)\n```", page, re.S)
    assert patch is not None
    original = models._positional
    try:
        exec(patch.group(1), {"torch": torch})
        cfg = models.TransformerConfig(vocab_size=12, d_model=16, n_heads=2, n_layers=1, d_ff=32, max_len=9,
                                       arch="encoder-decoder")
        model = models.EncoderDecoderTransformer(cfg)
        positional = [m for name, m in model.named_modules() if name.split(".")[-1] == "pos"]
        assert positional and all(isinstance(m, torch.nn.Identity) for m in positional)
    finally:
        models._positional = original
