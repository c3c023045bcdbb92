"""The run report of an APO result: one self-contained HTML file and a Markdown twin.

The HTML has inline CSS and an inline SVG chart, no scripts and nothing fetched, so it can be
mailed or attached as is. Its sections (ids ``best-prompt``, ``scores``, ``plot``, ``lineage``,
``usage``, ``config``) show the best prompt with a word diff against the initial one, the
scores with confidence intervals, the scores per round, the edits that led to the winner (each
with the gradient it answers) and every round's gradients, usage and cost per role and model,
and the run's configuration. Every text from the run is escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path

from apo_core.apo.result import APOResult
from apo_core.report.diff_html import diff_html, diff_stats
from apo_core.report.markdown import render_markdown
from apo_core.report.parts import (
    SECTIONS,
    USAGE_COLUMNS,
    LineageStep,
    config_items,
    fmt_change,
    fmt_ci,
    fmt_score,
    round_counts,
    run_facts,
    score_rows,
    score_series,
    trace_lineage,
    usage_cells,
)
from apo_core.report.svg_chart import score_chart

__all__ = ["render_html", "write_report"]

DEFAULT_TITLE = "APO run report"

_CSS = """
:root { --fg:#1e293b; --muted:#64748b; --line:#e2e8f0; --accent:#2563eb; --bg:#ffffff;
  --soft:#f8fafc; --ins:#dcfce7; --ins-fg:#14532d; --del:#fee2e2; --del-fg:#7f1d1d; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--soft); color: var(--fg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 28px 48px; }
header h1 { margin: 0 0 4px; font-size: 26px; }
header p { margin: 0; color: var(--muted); }
nav { margin: 14px 0 6px; display: flex; flex-wrap: wrap; gap: 6px 14px; }
nav a { color: var(--accent); text-decoration: none; font-size: 14px; }
section { background: var(--bg); border: 1px solid var(--line); border-radius: 10px;
  padding: 18px 22px; margin: 18px 0; }
h2 { margin: 0 0 12px; font-size: 19px; }
h3 { margin: 18px 0 8px; font-size: 16px; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr));
  gap: 10px; margin: 16px 0 0; }
.fact { background: var(--bg); border: 1px solid var(--line); border-radius: 8px;
  padding: 8px 12px; }
.fact b { display: block; font-size: 12px; color: var(--muted); font-weight: 600;
  text-transform: uppercase; letter-spacing: .04em; }
pre.prompt { white-space: pre-wrap; word-break: break-word; background: var(--soft);
  border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; margin: 8px 0;
  font: 13.5px/1.5 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
ins.diff-ins { background: var(--ins); color: var(--ins-fg); text-decoration: none;
  border-radius: 3px; }
del.diff-del { background: var(--del); color: var(--del-fg); border-radius: 3px;
  margin-right: 2px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; margin: 6px 0; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { font-size: 12.5px; color: var(--muted); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
tbody td:first-child { white-space: nowrap; }
tr.total td { font-weight: 600; border-top: 2px solid var(--line); }
.up { color: #15803d; font-weight: 600; } .down { color: #b91c1c; font-weight: 600; }
.muted { color: var(--muted); } .warn { color: #b45309; font-weight: 600; }
.tag { display: inline-block; font-size: 12px; padding: 1px 8px; border-radius: 999px;
  background: #e0e7ff; color: #3730a3; margin-right: 6px; }
.tag.edit { background: #dbeafe; color: #1e40af; }
.tag.paraphrase { background: #f3e8ff; color: #6b21a8; }
.tag.initial { background: #e2e8f0; color: #334155; }
ol.lineage { list-style: none; padding: 0; margin: 0; }
ol.lineage > li { border-left: 3px solid var(--accent); padding: 2px 0 8px 16px;
  margin: 0 0 12px 6px; }
details { margin: 6px 0; } summary { cursor: pointer; color: var(--accent); }
ul.gradients li { margin: 4px 0; white-space: pre-wrap; }
.chart-wrap svg { max-width: 100%; height: auto; }
table.kv { width: auto; min-width: 60%; }
table.kv th { width: 1%; white-space: nowrap; padding-right: 36px; font-size: 13px;
  color: var(--fg); font-weight: 500; }
"""


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, numeric_from: int = 1) -> str:
    """An HTML table of already escaped cells (columns from ``numeric_from`` right-aligned)."""
    head = "".join(
        f'<th class="num">{h}</th>' if i >= numeric_from else f"<th>{h}</th>"
        for i, h in enumerate(headers)
    )
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{c}</td>' if i >= numeric_from else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _diff(old: str, new: str) -> str:
    return f'<pre class="prompt diff">{diff_html(old, new)}</pre>'


def _prompt(text: str) -> str:
    return f'<pre class="prompt">{_e(text)}</pre>'


def _best_prompt(result: APOResult) -> str:
    parts = [_prompt(result.best_prompt)]
    if result.improved:
        inserted, deleted = diff_stats(result.initial_prompt, result.best_prompt)
        parts += [
            f'<h3>Changes from the initial prompt <span class="muted">(+{inserted} / '
            f'−{deleted} words; <ins class="diff-ins">inserted</ins>, '
            f'<del class="diff-del">deleted</del>)</span></h3>',
            _diff(result.initial_prompt, result.best_prompt),
        ]
    else:
        parts.append('<p class="muted">The best prompt is the initial prompt (no change).</p>')
    if result.beam:
        rows = [
            [
                _e(i + 1),
                f'<pre class="prompt">{_e(entry.prompt)}</pre>',
                fmt_score(entry.validation),
            ]
            for i, entry in enumerate(result.beam)
        ]
        parts += [
            "<h3>Final beam</h3>",
            _table(["#", "prompt", "validation"], rows, numeric_from=2),
        ]
    return "".join(parts)


def _scores(result: APOResult) -> str:
    rows = []
    for row in score_rows(result):
        change = row.change
        cls = "" if change is None or abs(change) < 1e-12 else ("up" if change > 0 else "down")
        rows.append(
            [
                _e(row.split),
                _e(row.metric),
                _e(fmt_ci(row.initial)),
                _e(fmt_ci(row.best)),
                f'<span class="{cls}">{_e(fmt_change(change))}</span>',
            ]
        )
    if not rows:
        return '<p class="muted">No scores were computed (the run stopped before scoring).</p>'
    note = (
        '<p class="muted">Value [95% bootstrap confidence interval] and the number of examples.'
        + ("" if result.best_test else " No test split was scored.")
        + "</p>"
    )
    headers = ["split", "metric", "initial prompt", "best prompt", "change"]
    return _table(headers, rows, numeric_from=2) + note


def _plot(result: APOResult) -> str:
    points = score_series(result)
    initial = None if result.initial_validation is None else result.initial_validation.accuracy
    chart = score_chart(points, initial=None if initial is None else initial.value)
    return (
        f'<div class="chart-wrap">{chart}</div><p class="muted">The line is the best validation '
        "score of each round's beam, the circles are all beam prompts, the dashed line is the "
        "initial prompt.</p>"
    )


def _step(step: LineageStep) -> str:
    tag = f'<span class="tag {_e(step.origin)}">{_e(step.origin)}</span>'
    facts = []
    if step.validation is not None:
        facts.append(f"validation {fmt_score(step.validation)}")
    if step.selection_mean is not None:
        facts.append(f"selection mean {fmt_score(step.selection_mean)} over {step.pulls} pulls")
    note = f' <span class="muted">({_e(", ".join(facts))})</span>' if facts else ""
    if step.round is None or step.parent is None:
        return f"<li><p>{tag}<b>the initial prompt</b>{note}</p>{_prompt(step.prompt)}</li>"
    round_no = step.round + 1
    how = "an edit" if step.origin == "edit" else "a paraphrase of an edit"
    lines = [
        f"<p>{tag}<b>round {round_no}</b>: {how} of the prompt above{note}</p>",
        _diff(step.parent, step.prompt),
    ]
    if step.gradient:
        lines.append(
            '<details open><summary>The gradient it answers</summary><ul class="gradients">'
            f"<li>{_e(step.gradient)}</li></ul></details>"
        )
    if step.edit and step.origin == "paraphrase":
        lines.append(
            f"<details><summary>The edit it paraphrases</summary>{_prompt(step.edit)}</details>"
        )
    return f"<li>{''.join(lines)}</li>"


def _lineage(result: APOResult) -> str:
    if not result.history:
        return '<p class="muted">No rounds ran: the best prompt is the initial prompt.</p>'
    steps, complete = trace_lineage(result)
    parts = []
    if len(steps) <= 1 and complete:
        parts.append('<p class="muted">No edit beat the initial prompt.</p>')
    else:
        if not complete:
            parts.append(
                '<p class="warn">The history does not reach back to the initial prompt (a '
                "resumed or partial record): the earliest known step is shown first.</p>"
            )
        parts.append(f'<ol class="lineage">{"".join(_step(s) for s in steps)}</ol>')
    parts.append("<h3>Every round</h3>")
    for record in result.history:
        facts = "".join(
            f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in round_counts(record)
        )
        grads = "".join(f"<li>{_e(g)}</li>" for g in record.gradients) or "<li>none</li>"
        edits = "".join(f"<li>{_e(t)}</li>" for t in record.edits) or "<li>none</li>"
        parts.append(
            f"<details><summary>Round {record.round + 1}: best validation "
            f"{fmt_score(record.best_validation)}, {len(record.gradients)} gradient(s), "
            f'{len(record.edits)} edit(s)</summary><table class="kv">{facts}</table>'
            f'<h3>Gradients</h3><ul class="gradients">{grads}</ul>'
            f'<h3>Edits proposed</h3><ul class="gradients">{edits}</ul></details>'
        )
    return "".join(parts)


def _usage(result: APOResult) -> str:
    usage = result.usage
    if not usage.by_role and usage.total.calls == 0 and usage.total.cache_hits == 0:
        return '<p class="muted">No model calls were recorded.</p>'
    headers = ["role", *USAGE_COLUMNS]
    rows = [[_e(role), *map(_e, usage_cells(line))] for role, line in sorted(usage.by_role.items())]
    table = _table(headers, rows)
    total = "".join(f'<td class="num">{_e(c)}</td>' for c in usage_cells(usage.total))
    table = table.replace("</tbody>", f'<tr class="total"><td>total</td>{total}</tr></tbody>')
    parts = ["<h3>Per role</h3>", table]
    if usage.by_model:
        models = [
            [_e(m), *map(_e, usage_cells(line))] for m, line in sorted(usage.by_model.items())
        ]
        parts += ["<h3>Per model</h3>", _table(["model", *USAGE_COLUMNS], models)]
    if usage.unpriced_models:
        parts.append(
            '<p class="warn">Unpriced models (their calls count as $0, so the cost is a lower '
            f"bound): {_e(', '.join(usage.unpriced_models))}</p>"
        )
    parts.append(
        '<p class="muted">What this run spent (a resumed run: since it resumed). Cache hits are '
        "free; tokens from cache are the tokens those hits would have used.</p>"
    )
    return "".join(parts)


def _config(result: APOResult) -> str:
    facts = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in run_facts(result))
    config = "".join(
        f"<tr><th>{_e(k)}</th><td><code>{_e(v)}</code></td></tr>" for k, v in config_items(result)
    )
    parts = [
        f'<table class="kv">{facts}</table>',
        "<h3>Configuration</h3>",
        f'<table class="kv">{config}</table>',
    ]
    if result.notes:
        notes = "".join(f"<li>{_e(n)}</li>" for n in result.notes)
        parts += ["<h3>Notes</h3>", f"<ul>{notes}</ul>"]
    return "".join(parts)


def _summary(result: APOResult) -> str:
    facts: list[tuple[str, str]] = []
    if result.initial_validation is not None:
        best = result.best_validation
        facts.append(
            (
                "validation",
                f"{fmt_score(result.initial_validation.accuracy.value)} → "
                f"{fmt_score(None if best is None else best.accuracy.value)}",
            )
        )
    if result.initial_test is not None and result.best_test is not None:
        facts.append(
            (
                "test",
                f"{fmt_score(result.initial_test.accuracy.value)} → "
                f"{fmt_score(result.best_test.accuracy.value)}",
            )
        )
    facts += [
        (k, v)
        for k, v in run_facts(result)
        if k in ("stopped by", "rounds completed", "total cost", "seed")
    ]
    cells = "".join(f'<div class="fact"><b>{_e(k)}</b>{_e(v)}</div>' for k, v in facts)
    return f'<div class="facts">{cells}</div>'


def render_html(result: APOResult, *, title: str | None = None) -> str:
    """The report as one self-contained HTML document (inline CSS and SVG, no scripts)."""
    heading = title or DEFAULT_TITLE
    bodies = {
        "best-prompt": _best_prompt(result),
        "scores": _scores(result),
        "plot": _plot(result),
        "lineage": _lineage(result),
        "usage": _usage(result),
        "config": _config(result),
    }
    nav = "".join(f'<a href="#{sid}">{_e(name)}</a>' for sid, name in SECTIONS)
    sections = "".join(
        f'<section id="{sid}"><h2>{_e(name)}</h2>{bodies[sid]}</section>' for sid, name in SECTIONS
    )
    subtitle = "APO (ProTeGi) prompt optimization · apo-bpo"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(heading)}</title><style>{_CSS}</style></head><body><main>"
        f"<header><h1>{_e(heading)}</h1><p>{subtitle}</p>{_summary(result)}</header>"
        f"<nav>{nav}</nav>{sections}</main></body></html>\n"
    )


def write_report(
    result: APOResult, out_dir: str | Path, *, stem: str = "report"
) -> tuple[Path, Path]:
    """Write ``<stem>.html`` and ``<stem>.md`` into ``out_dir`` (created); returns both paths."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    html_path, md_path = folder / f"{stem}.html", folder / f"{stem}.md"
    html_path.write_text(render_html(result), encoding="utf-8")
    md_path.write_text(render_markdown(result), encoding="utf-8")
    return html_path, md_path
