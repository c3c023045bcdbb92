"""mkdocs hook: put every ``benchmarks/results/*.md`` into the benchmarks page at build time.

The page holds the marker ``<!-- benchmark-results -->``; it is replaced by each results file
(headings shifted one level down), or by a note when there are none yet.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

MARKER = "<!-- benchmark-results -->"
RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def _shifted(text: str) -> str:
    return re.sub(r"^(#{1,5}) ", r"#\1 ", text, flags=re.M)


def results_markdown(folder: Path = RESULTS) -> str:
    """The results files as one Markdown block."""
    files = sorted(folder.glob("*.md")) if folder.is_dir() else []
    if not files:
        return "No benchmark results have been recorded yet (`benchmarks/results/` is empty)."
    parts = []
    for path in files:
        parts.append(f"*From `benchmarks/results/{path.name}`:*\n\n{_shifted(path.read_text())}")
    return "\n\n---\n\n".join(parts)


def on_page_markdown(markdown: str, *, page: Any, config: Any, files: Any) -> str:
    """Replace the marker with the results."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, results_markdown())
