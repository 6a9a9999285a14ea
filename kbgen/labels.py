"""Every reader-facing word kbgen writes into a site, in English and Simplified Chinese.

The language follows ``theme.language`` (``zh*`` -> Chinese, anything else -> English); each
key can be overridden from ``mkdocs.yml`` (``kbgen: {labels: {backlinks: "Linked from"}}``, or
``kbgen-site``'s ``labels``). Texts with ``{fields}`` are ``str.format`` templates::

    labels = labels_for("zh", {"next": "接下来"})
    labels["backlinks"]                      # "反向链接"
    labels.format("step", n=2, total=5)      # "第 2 步 / 共 5 步"
    labels.join(["甲", "乙"])                 # "甲、乙"
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

EN: dict[str, str] = {
    # vault pages (kbgen.vault.pages)
    "backlinks": "Backlinks",
    "no_backlinks": "No other note links here.",
    "tags": "Tags",
    "tag": "Tag",
    "graph": "Graph",
    "local_graph": "Local graph",
    "notes": "Notes",
    "home": "Home",
    "folder": "Folder",
    "notes_tagged": "Notes tagged",
    "unresolved": "Unresolved link",
    # punctuation between items of a list and after a label
    "list_separator": ", ",
    "colon": ": ",
    # learning path (kbgen.site)
    "path_title": "Learning path",
    "step": "step {n} of {total}",
    "prerequisites": "Prerequisites",
    "next": "Next",
    "end": "This is the last step of the learning path",
    "done": "Done",
    "progress": "{level} progress",
    # snippet pages and embeds (kbgen.snippets.render)
    "snippet": "Snippet",
    "snippet_failed": "Snippet failed",
    "snippet_timeout": "Snippet timed out",
    "snippet_used_by": "Notes that use it",
    "skipped_notice": "Snippets were not executed in this build (`execute: false`): only the source is shown; "
                      "a full build generates the outputs.",
    "not_executed": "Not executed",
    "run_times_link": "Run times and status",
    "measured_notice": "Some outputs of this snippet are times measured on the build machine "
                       "(`# kbgen: measured`); they differ a little on every execution.",
    "run_locally": "Run it locally (from the repository root):",
    "download": "Download",
    "notebook_executed": "{stem}.ipynb (executed notebook)",
    "notebook_not_executed": "{stem}.ipynb (notebook, not executed)",
    "notes_using_snippet": "Notes that use this snippet",
    "no_notes_using_snippet": "No note uses this snippet yet.",
    "cell_line": "line {line}",
    "snippet_exit": "The snippet ended itself at line {line} by calling {call} (as it would when run directly); "
                    "the cells after it did not run.",
    "run_times_title": "Snippet run times",
    "run_times_summary": "`{summary}`. Total time of each snippet's latest execution: {total:.2f} s "
                         "(snippets marked \"cached\" were not executed again in this build).",
    "run_times_columns": "| Snippet | Title | Status | Time (s) | Modules / data files it used |",
    "run_times_ran_on": "Ran on (Dask worker)",  # column added when snippets ran on a cluster
    "status_executed": "executed",
    "status_cached": "cached",
    "status_failed": "failed",
    "status_timeout": "timed out",
    "status_skipped": "not executed",
}

ZH: dict[str, str] = {
    "backlinks": "反向链接",
    "no_backlinks": "还没有其他笔记链接到这里。",
    "tags": "标签",
    "tag": "标签",
    "graph": "知识图谱",
    "local_graph": "局部图谱",
    "notes": "笔记",
    "home": "首页",
    "folder": "文件夹",
    "notes_tagged": "带有此标签的笔记",
    "unresolved": "未解析的链接",
    "list_separator": "、",
    "colon": "：",
    "path_title": "学习路径",
    "step": "第 {n} 步 / 共 {total} 步",
    "prerequisites": "前置知识",
    "next": "下一步",
    "end": "这是学习路径的最后一步",
    "done": "已学完",
    "progress": "{level}进度",
    "snippet": "代码片段",
    "snippet_failed": "代码片段运行失败",
    "snippet_timeout": "代码片段超时",
    "snippet_used_by": "引用它的笔记",
    "skipped_notice": "本次构建未执行代码片段（`execute: false`），这里只有源代码；完整构建会生成输出。",
    "not_executed": "未执行",
    "run_times_link": "运行时间与状态",
    "measured_notice": "此代码片段的部分输出是构建时在本机实测的时间（`# kbgen: measured`），每次重新执行都会略有不同。",
    "run_locally": "本地运行（在仓库根目录）：",
    "download": "下载",
    "notebook_executed": "{stem}.ipynb（已执行的 notebook）",
    "notebook_not_executed": "{stem}.ipynb（未执行的 notebook）",
    "notes_using_snippet": "引用此代码片段的笔记",
    "no_notes_using_snippet": "暂无笔记引用此代码片段。",
    "cell_line": "第 {line} 行",
    "snippet_exit": "代码片段在第 {line} 行调用 {call} 结束运行（与直接运行脚本相同），之后的单元格没有执行。",
    "run_times_title": "代码片段运行时间",
    "run_times_summary": "`{summary}`。各代码片段最近一次执行的用时合计 {total:.2f} s（状态为“缓存”的片段本次未重新执行）。",
    "run_times_columns": "| 代码片段 | 标题 | 状态 | 用时 (s) | 依赖的模块 / 数据文件 |",
    "run_times_ran_on": "运行于 (Dask worker)",
    "status_executed": "已执行",
    "status_cached": "缓存",
    "status_failed": "失败",
    "status_timeout": "超时",
    "status_skipped": "未执行",
}

TABLES: dict[str, dict[str, str]] = {"en": EN, "zh": ZH}


class Labels(Mapping[str, str]):
    """The words of one site: a read-only ``key -> text`` mapping in one language."""

    def __init__(self, language: str, texts: Mapping[str, str]) -> None:
        self.language = language
        self._texts = dict(texts)

    def __getitem__(self, key: str) -> str:
        return self._texts[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._texts)

    def __len__(self) -> int:
        return len(self._texts)

    def format(self, key: str, **fields: object) -> str:
        """The text of ``key`` with its ``{fields}`` filled in."""
        return self._texts[key].format(**fields)

    def join(self, items: Iterable[str]) -> str:
        """``items`` joined as a list in this language (``a, b`` / ``甲、乙``)."""
        return self._texts["list_separator"].join(items)


def language_of(theme_language: str | None) -> str:
    """``"zh"`` for any Chinese ``theme.language`` (``zh``, ``zh-Hant``, ``zh_TW``), else ``"en"``."""
    return "zh" if (theme_language or "").lower().startswith("zh") else "en"


def labels_for(theme_language: str | None, overrides: Mapping[str, object] | None = None) -> Labels:
    """The labels for ``theme.language``, with ``overrides`` (key -> text) applied.

    Raises ``ValueError`` naming the unknown key and the known ones when an override key is
    not a label (a typo would otherwise be ignored silently).
    """
    language = language_of(theme_language)
    texts = dict(TABLES[language])
    for key, text in (overrides or {}).items():
        if key not in texts:
            raise ValueError(f"unknown label {key!r}; labels are: {', '.join(sorted(texts))}")
        texts[key] = str(text)
    return Labels(language, texts)
