"""The report wing: a run's HTML and Markdown report (diff, chart, lineage, usage)."""

from apo_core.report.html import render_html, write_report
from apo_core.report.markdown import render_markdown

__all__ = [
    "render_html",
    "render_markdown",
    "write_report",
]
