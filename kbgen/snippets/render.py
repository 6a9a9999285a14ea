"""Rendering of executed snippets: output HTML (embeds and pages), snippet-page Markdown,
the executed ``.ipynb``, and the run-times page. Pure functions over parsed snippets + results."""

from __future__ import annotations

import base64
import html
import re
from typing import Callable
from urllib.parse import quote

from kbgen.snippets.contract import Outcome, Output
from kbgen.labels import Labels, labels_for
from kbgen.snippets.model import Cell, Snippet

#: The words of snippet pages when the caller passes none (the build passes the site's).
DEFAULT_LABELS = labels_for("en")


def relative_url(url: str, other: str) -> str:
    """URL of ``url`` relative to the page at ``other`` (both from the site root), by the rule
    of MkDocs' ``get_relative_url``: a last segment of ``other`` with a dot is a file name."""
    dirname, _, basename = other.rpartition("/")
    if "." in basename:
        other = dirname
    other_parts, dest_parts = _norm_parts(other), _norm_parts(url)
    common = 0
    for a, b in zip(other_parts, dest_parts):
        if a != b:
            break
        common += 1
    rel = "/".join([".."] * (len(other_parts) - common) + dest_parts[common:]) or "."
    return rel + "/" if url.endswith("/") else rel


def _norm_parts(path: str) -> list[str]:
    parts: list[str] = []
    for p in path.split("/"):
        if p == "..":
            if parts:
                parts.pop()
        elif p and p != ".":
            parts.append(p)
    return parts


def run_command(snippet_rel: str, python: str = ".venv/bin/python") -> str:
    return f"{python} {snippet_rel}"


def outputs_html(outputs: list[Output], fig_url: Callable[[str], str], alt: str) -> str:
    """Cell outputs as HTML: text escaped in ``<pre>``, figures as ``<img>`` files."""
    parts: list[str] = []
    for o in outputs:
        if o.type == "stream":
            cls = "kb-stderr" if o.name == "stderr" else "kb-stdout"
            text = o.text.rstrip("\n")
            parts.append(f'<pre class="kb-output {cls}"><code>{html.escape(text)}</code></pre>')
        elif o.type == "image":
            parts.append(
                f'<p class="kb-figure"><img src="{html.escape(fig_url(o.file))}" alt="{html.escape(alt)}" loading="lazy"></p>'
            )
    return "\n".join(parts)


def exit_html(line: int, code: int | str | None, labels: Labels = DEFAULT_LABELS) -> str:
    """Where a snippet ended itself with ``sys.exit()`` (later cells did not run)."""
    call = "sys.exit()" if code is None else f"sys.exit({code!r})"
    text = html.escape(labels.format("snippet_exit", line=line, call="\x00")).replace(
        "\x00", f"<code>{html.escape(call)}</code>")
    return f'<p class="kb-exit">{text}</p>'


def error_html(outcome: Outcome, notes: list[str] | None = None, labels: Labels = DEFAULT_LABELS) -> str:
    head = labels["snippet_timeout"] if outcome.status == "timeout" else labels["snippet_failed"]
    summary = outcome.message.split("\n", 1)[0]
    body = outcome.message.split("\n", 1)[1] if "\n" in outcome.message else ""
    used = ""
    if notes:
        used = f"<p>{html.escape(labels['snippet_used_by'] + labels['colon'] + labels.join(notes))}</p>"
    return (
        '<div class="admonition failure kb-error">'
        f'<p class="admonition-title">{html.escape(head + labels["colon"] + summary)}</p>'
        f"{used}<pre><code>{html.escape(body.strip())}</code></pre></div>"
    )


def skipped_html(labels: Labels = DEFAULT_LABELS) -> str:
    """What an embed shows when execution is off: a notice, not an error."""
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(labels["skipped_notice"]))
    return f'<p class="kb-skipped">{text}</p>'


def caption_html(snippet: Snippet, cell: str | None, page_href: str, command: str) -> str:
    label = f"{snippet.name}#{cell}" if cell else snippet.name
    return (
        '<figcaption class="kb-caption">'
        f'<a href="{html.escape(page_href)}">{html.escape(label)}</a> · '
        f"<code>{html.escape(command)}</code></figcaption>"
    )


def md_link(text: str, rel_target: str, attrs: str = "") -> str:
    """A Markdown link whose target survives spaces, parentheses and CJK (percent-encoded)."""
    t = text.replace("[", r"\[").replace("]", r"\]")
    return f"[{t}]({quote(rel_target)}){attrs}"


def snippet_page_markdown(
    snippet: Snippet,
    outcome: Outcome,
    *,
    fig_url: Callable[[str], str],
    snippet_rel: str,
    references: list[tuple[str, str]],
    code_fence: str = "python",
    labels: Labels = DEFAULT_LABELS,
) -> str:
    """Markdown of the snippet's page. ``references``: (note src_uri, title) pairs; links are
    relative to the page source ``snippets/<stem>.md``. ``code_fence``: the fence name of the
    code cells (``kbgen-python`` when :mod:`kbgen.snippets.highlight` serves them)."""
    title = snippet.title
    # Search ranks a snippet page below the notes: its code repeats the notes' words (labels,
    # comments) many times, and a reader searching a concept wants the note that explains it.
    lines = ["---", f"title: {_yaml_str(title)}", "search:", "  boost: 0.25", "---", "", f"# {title}", ""]
    skipped_h1 = title == snippet.name  # no Markdown H1 in the snippet: nothing to drop
    lines += [
        '<div class="kb-snippet-meta" markdown>',
        "",
        # No status or run time here: the page must be byte-identical whether this build executed
        # the snippet or reused the cache (they live on the run-times page and in the report).
        f"**{labels['snippet']}** `{snippet_rel}` · " + md_link(labels["run_times_link"], "index.md"),
        "",
        *([labels["measured_notice"], ""] if snippet.measured else []),
        labels["run_locally"],
        "",
        "```bash",
        run_command(snippet_rel),
        "```",
        "",
        labels["download"] + labels["colon"]
        + md_link(snippet.name, snippet.name, "{ download }")
        + " · "
        + md_link(labels.format("notebook_not_executed" if outcome.skipped else "notebook_executed", stem=snippet.stem),
                  f"{snippet.stem}.ipynb", f'{{ download="{snippet.stem}.ipynb" }}'),
        "",
        "</div>",
        "",
    ]
    if outcome.failed and outcome.result is None:  # timeout / crash: no cell to attach it to
        lines += [error_html(outcome, [t for _, t in references], labels), ""]
    elif outcome.skipped:
        lines += [f'!!! note "{labels["not_executed"]}"', "", "    " + labels["skipped_notice"], ""]
    for cell in snippet.cells:
        if cell.kind == "markdown":
            src = cell.source
            if not skipped_h1:
                body = src.splitlines()
                if body and body[0].startswith("# "):
                    src = "\n".join(body[1:])
                    skipped_h1 = True
            lines += [src, ""]
            continue
        lines += _code_cell_markdown(cell, outcome, fig_url, snippet.name, code_fence, labels)
    lines += [f"## {labels['notes_using_snippet']}", ""]
    if references:
        for src_uri, note_title in sorted(set(references), key=lambda r: r[0]):
            lines.append("- " + md_link(note_title, "../" + src_uri))
    else:
        lines.append(labels["no_notes_using_snippet"])
    lines.append("")
    return "\n".join(lines)


def _fence(text: str, lang: str) -> list[str]:
    n = 3
    while "`" * n in text:
        n += 1
    f = "`" * n
    return [f + lang, text, f]


def _code_cell_markdown(cell: Cell, outcome: Outcome, fig_url: Callable[[str], str], name: str,
                        code_fence: str = "python", labels: Labels = DEFAULT_LABELS) -> list[str]:
    out: list[str] = [f'<div class="kb-cell" id="cell-{cell.cell_id}" markdown>', ""]
    if cell.title:
        out += [f'<p class="kb-cell-title"><code>{html.escape(cell.title)}</code> · {html.escape(labels.format("cell_line", line=cell.line))}</p>', ""]
    if cell.source.strip():
        out += _fence(cell.source, code_fence) + [""]
    res = outcome.cell_result(cell.cell_id)
    if res is not None:
        body = outputs_html(res.outputs, fig_url, f"{name}#{cell.cell_id}")
        if body:
            out += [body, ""]
        if res.error:
            out += [error_html(outcome, labels=labels), ""]
        if res.exit:
            out += [exit_html(res.exit.line, res.exit.code, labels), ""]
    out += ["</div>", ""]
    return out


def _yaml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def notebook_json(snippet: Snippet, outcome: Outcome) -> str:
    """The executed notebook (nbformat 4, deterministic cell ids, figures inlined)."""
    import nbformat  # ~0.15 s to import; a warm build never writes a notebook

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["jupytext"] = {"formats": "ipynb,py:percent"}
    count = 0
    for cell in snippet.cells:
        if cell.kind == "markdown":
            c = nbformat.v4.new_markdown_cell(cell.source)
        else:
            count += 1
            c = nbformat.v4.new_code_cell(cell.source, execution_count=None)
            if cell.title:
                c.metadata["title"] = cell.title
            res = outcome.cell_result(cell.cell_id)
            if res is not None:
                c.execution_count = count
                for o in res.outputs:
                    if o.type == "stream":
                        c.outputs.append(nbformat.v4.new_output("stream", name=o.name, text=o.text))
                    elif o.type == "image" and outcome.dir is not None:
                        data = (outcome.dir / o.file).read_bytes()
                        mime = {"svg": "image/svg+xml", "png": "image/png"}[o.format]
                        payload = data.decode("utf-8") if o.format == "svg" else base64.b64encode(data).decode()
                        c.outputs.append(nbformat.v4.new_output("display_data", data={mime: payload}))
                err = res.error
                if err:
                    c.outputs.append(
                        nbformat.v4.new_output(
                            "error", ename=err.ename, evalue=err.evalue, traceback=err.traceback.splitlines()
                        )
                    )
        c["id"] = f"cell-{cell.index}"
        nb.cells.append(c)
    return nbformat.writes(nb)


def report_page_markdown(outcomes: list[Outcome], page_href: Callable[[Snippet], str], summary: str,
                         labels: Labels = DEFAULT_LABELS) -> str:
    """The site's run-times page (as sphinx-gallery's computation times)."""
    total = sum(o.run_seconds for o in outcomes)
    lines = [
        "---",
        f"title: {_yaml_str(labels['run_times_title'])}",
        # This build's timings: not worth searching, and kept out of the search index so the
        # index is the same whichever build wrote it.
        "search:",
        "  exclude: true",
        "---",
        "",
        f"# {labels['run_times_title']}",
        "",
        labels.format("run_times_summary", summary=summary, total=total),
        "",
        labels["run_times_columns"],
        "| --- | --- | --- | ---: | --- |",
    ]
    placed = any(o.where for o in outcomes)  # ran on a cluster: say where each snippet ran
    if placed:
        lines[-2] = lines[-2] + f" {labels['run_times_ran_on']} |"
        lines[-1] += " --- |"
    for o in sorted(outcomes, key=lambda o: (-o.run_seconds, o.snippet.name)):
        deps = o.result.deps if o.result is not None else None
        dep_list = (list(deps.modules) + list(deps.files) + [d + "/" for d in deps.listings]) if deps else []
        dep_txt = "<br>".join(f"`{d}`" for d in dep_list) or "—"
        title = o.snippet.title.replace("|", r"\|")
        lines.append(
            f"| {md_link(o.snippet.name, page_href(o.snippet))} | {title} | {labels.get('status_' + o.status, o.status)} "
            f"| {o.run_seconds:.2f} | {dep_txt} |" + (f" `{o.where}` |" if o.where else " — |" if placed else "")
        )
    lines.append("")
    return "\n".join(lines)
