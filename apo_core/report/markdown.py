"""The Markdown twin of the HTML run report (same sections; the plot becomes a table)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from html import escape

from apo_core.apo.result import APOResult
from apo_core.report.diff_html import unified_diff
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

DEFAULT_TITLE = "APO run report"


def _text(value: object) -> str:
    """Inline text: HTML-escaped, on one line, table pipes escaped."""
    one_line = " ".join(str(value).split())
    return escape(one_line, quote=False).replace("|", "\\|")


def _fence(body: str, lang: str = "text") -> str:
    """A fenced code block longer than any backtick run inside ``body``."""
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{body}\n{ticks}"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, numeric_from: int = 1) -> str:
    align = ["---:" if i >= numeric_from else "---" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _best_prompt(result: APOResult) -> list[str]:
    parts = [_fence(result.best_prompt)]
    if result.improved:
        parts += [
            "Changes from the initial prompt:",
            _fence(unified_diff(result.initial_prompt, result.best_prompt), "diff"),
        ]
    else:
        parts.append("The best prompt is the initial prompt (no change).")
    if result.beam:
        parts.append("Final beam:")
        parts.append(
            _table(
                ["#", "prompt", "validation"],
                (
                    [str(i + 1), _text(e.prompt), fmt_score(e.validation)]
                    for i, e in enumerate(result.beam)
                ),
                numeric_from=2,
            )
        )
    return parts


def _scores(result: APOResult) -> list[str]:
    rows = [
        [r.split, _text(r.metric), fmt_ci(r.initial), fmt_ci(r.best), fmt_change(r.change)]
        for r in score_rows(result)
    ]
    if not rows:
        return ["No scores were computed (the run stopped before scoring)."]
    headers = ["split", "metric", "initial prompt", "best prompt", "change"]
    note = "Value [95% bootstrap confidence interval] and the number of examples."
    if not result.best_test:
        note += " No test split was scored."
    return [_table(headers, rows, numeric_from=2), note]


def _plot(result: APOResult) -> list[str]:
    points = score_series(result)
    if not points:
        return ["No rounds ran and no initial score: nothing to plot."]
    rows = [
        [str(p.round), fmt_score(p.best), ", ".join(fmt_score(v) for v in p.beam) or "–"]
        for p in points
    ]
    return [
        _table(["round", "best validation", "beam validation scores"], rows, numeric_from=1),
        "Round 0 is the initial prompt.",
    ]


def _step(step: LineageStep) -> list[str]:
    if step.round is None:
        return ["1. **initial prompt**", "", _indent(_fence(step.prompt))]
    how = "edit" if step.origin == "edit" else "paraphrase of an edit"
    facts = []
    if step.validation is not None:
        facts.append(f"validation {fmt_score(step.validation)}")
    if step.selection_mean is not None:
        facts.append(f"selection mean {fmt_score(step.selection_mean)} over {step.pulls} pulls")
    head = f"1. **round {step.round + 1}, {how}**" + (f" ({', '.join(facts)})" if facts else "")
    parts = [
        head,
        "",
        _indent(
            _fence(
                unified_diff(step.parent or "", step.prompt, old_name="parent", new_name="child"),
                "diff",
            )
        ),
    ]
    if step.gradient:
        parts += ["", _indent(f"The gradient it answers: {_text(step.gradient)}")]
    if step.edit and step.origin == "paraphrase":
        parts += ["", _indent("The edit it paraphrases:"), "", _indent(_fence(step.edit))]
    return parts


def _indent(text: str) -> str:
    return "\n".join(("   " + line) if line else line for line in text.splitlines())


def _lineage(result: APOResult) -> list[str]:
    if not result.history:
        return ["No rounds ran: the best prompt is the initial prompt."]
    steps, complete = trace_lineage(result)
    parts: list[str] = []
    if len(steps) <= 1 and complete:
        parts.append("No edit beat the initial prompt.")
    else:
        if not complete:
            parts.append(
                "The history does not reach back to the initial prompt (a resumed or partial "
                "record): the earliest known step is shown first."
            )
        parts.append("\n".join(line for step in steps for line in (*_step(step), "")))
    parts.append("### Every round")
    for record in result.history:
        facts = [f"- {k}: {_text(v)}" for k, v in round_counts(record)]
        grads = [f"  - {_text(g)}" for g in record.gradients] or ["  - none"]
        edits = [f"  - {_text(t)}" for t in record.edits] or ["  - none"]
        parts.append(
            "\n".join(
                [
                    f"#### Round {record.round + 1}",
                    "",
                    *facts,
                    "- gradients:",
                    *grads,
                    "- edits proposed:",
                    *edits,
                ]
            )
        )
    return parts


def _usage(result: APOResult) -> list[str]:
    usage = result.usage
    if not usage.by_role and usage.total.calls == 0 and usage.total.cache_hits == 0:
        return ["No model calls were recorded."]
    rows = [[_text(role), *usage_cells(line)] for role, line in sorted(usage.by_role.items())]
    rows.append(["**total**", *usage_cells(usage.total)])
    parts = ["Per role:", _table(["role", *USAGE_COLUMNS], rows)]
    if usage.by_model:
        models = [[_text(m), *usage_cells(line)] for m, line in sorted(usage.by_model.items())]
        parts += ["Per model:", _table(["model", *USAGE_COLUMNS], models)]
    if usage.unpriced_models:
        names = ", ".join(_text(m) for m in usage.unpriced_models)
        parts.append(
            f"**Unpriced models** (their calls count as $0, so the cost is a lower bound): {names}"
        )
    return parts


def _config(result: APOResult) -> list[str]:
    parts = ["\n".join(f"- {k}: {_text(v)}" for k, v in run_facts(result)), "Configuration:"]
    parts.append(
        _table(["field", "value"], ([k, _text(v)] for k, v in config_items(result)), numeric_from=2)
    )
    if result.notes:
        parts += ["Notes:", "\n".join(f"- {_text(n)}" for n in result.notes)]
    return parts


def render_markdown(result: APOResult, *, title: str | None = None) -> str:
    """The report as Markdown, with the same sections as :func:`render_html`."""
    bodies = {
        "best-prompt": _best_prompt,
        "scores": _scores,
        "plot": _plot,
        "lineage": _lineage,
        "usage": _usage,
        "config": _config,
    }
    parts = [f"# {_text(title or DEFAULT_TITLE)}"]
    for sid, name in SECTIONS:
        parts.append(f'<a id="{sid}"></a>\n\n## {name}')
        parts += bodies[sid](result)
    return "\n\n".join(parts) + "\n"
