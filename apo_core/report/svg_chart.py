"""The scores-per-round chart as inline SVG: matplotlib when installed, else hand-written.

Both draw the best validation score of each round as a line, every beam prompt's validation
score as a dot, and the initial prompt's score as a dashed reference line. Round 0 is the
initial prompt.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from html import escape
from typing import Literal

from apo_core.report.parts import RoundPoint

Backend = Literal["auto", "matplotlib", "svg"]

BEST_COLOR = "#2563eb"
BEAM_COLOR = "#64748b"
INITIAL_COLOR = "#dc2626"


def has_matplotlib() -> bool:
    """Whether the optional ``[report]`` extra (matplotlib) is importable."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def score_chart(
    points: Sequence[RoundPoint], *, initial: float | None, backend: Backend = "auto"
) -> str:
    """An ``<svg>`` element plotting ``points`` (``backend="auto"``: matplotlib if installed)."""
    use_mpl = backend == "matplotlib" or (backend == "auto" and has_matplotlib())
    if use_mpl and points:
        return _matplotlib_chart(points, initial)
    return _plain_chart(points, initial)


def _value_range(points: Sequence[RoundPoint], initial: float | None) -> tuple[float, float]:
    values = [v for p in points for v in p.beam] + [p.best for p in points if p.best is not None]
    if initial is not None:
        values.append(initial)
    if not values:
        return 0.0, 1.0
    lo = max(0.0, math.floor((min(values) - 0.05) * 10) / 10)
    hi = min(1.0, math.ceil((max(values) + 0.05) * 10) / 10)
    lo, hi = min(lo, min(values)), max(hi, max(values))
    if hi - lo < 0.1:
        hi = lo + 0.1
    return lo, hi


def _plain_chart(points: Sequence[RoundPoint], initial: float | None) -> str:
    """A small dependency-free SVG line chart."""
    width, height = 760, 340
    left, right, top, bottom = 60, 170, 20, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" class="chart" '
        'aria-label="Validation score per round" font-family="sans-serif" font-size="12">',
        "<title>Validation score per round</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    if not points:
        out.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="#475569">'
            "No rounds ran and no initial score: nothing to plot.</text></svg>"
        )
        return "".join(out)
    lo, hi = _value_range(points, initial)
    step = next(s for s in (0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0) if (hi - lo) / s <= 6)
    lo, hi = math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step
    first, last = points[0].round, points[-1].round
    span = max(last - first, 1)
    pad = 18

    def x(r: int) -> float:
        if last == first:
            return left + plot_w / 2
        return left + pad + (r - first) / span * (plot_w - 2 * pad)

    def y(v: float) -> float:
        return top + (hi - v) / (hi - lo) * plot_h

    for i in range(round((hi - lo) / step) + 1):
        v = lo + i * step
        out.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
            'stroke="#e2e8f0"/>'
            f'<text x="{left - 8}" y="{y(v) + 4:.1f}" text-anchor="end" fill="#475569">'
            f"{v:.2f}</text>"
        )
    step = max(1, math.ceil(span / 12))
    for r in range(first, last + 1, step):
        out.append(
            f'<line x1="{x(r):.1f}" x2="{x(r):.1f}" y1="{top + plot_h}" y2="{top + plot_h + 5}" '
            'stroke="#475569"/>'
            f'<text x="{x(r):.1f}" y="{top + plot_h + 19}" text-anchor="middle" '
            f'fill="#475569">{r}</text>'
        )
    out.append(
        f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}" '
        'stroke="#475569"/>'
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}" stroke="#475569"/>'
        f'<text x="{left + plot_w / 2}" y="{height - 8}" text-anchor="middle" fill="#1e293b">'
        "round (0 = initial prompt)</text>"
        f'<text x="16" y="{top + plot_h / 2}" text-anchor="middle" fill="#1e293b" '
        f'transform="rotate(-90 16 {top + plot_h / 2})">validation score</text>'
    )
    if initial is not None:
        out.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(initial):.1f}" '
            f'y2="{y(initial):.1f}" stroke="{INITIAL_COLOR}" stroke-dasharray="6 4">'
            f"<title>initial prompt: {initial:.3f}</title></line>"
        )
    for p in points:
        for v in p.beam:
            out.append(
                f'<circle cx="{x(p.round):.1f}" cy="{y(v):.1f}" r="4" fill="none" '
                f'stroke="{BEAM_COLOR}" stroke-width="1.5">'
                f"<title>round {p.round}, beam prompt: {v:.3f}</title></circle>"
            )
    best = [(p.round, p.best) for p in points if p.best is not None]
    if best:
        path = " ".join(f"{x(r):.1f},{y(v):.1f}" for r, v in best)
        out.append(
            f'<polyline points="{path}" fill="none" stroke="{BEST_COLOR}" stroke-width="2.5"/>'
        )
        for r, v in best:
            out.append(
                f'<circle cx="{x(r):.1f}" cy="{y(v):.1f}" r="4.5" fill="{BEST_COLOR}">'
                f"<title>round {r}, best of round: {v:.3f}</title></circle>"
            )
    legend = left + plot_w + 18
    items = [("line", BEST_COLOR, "best of round"), ("dot", BEAM_COLOR, "beam prompts")]
    if initial is not None:
        items.append(("dash", INITIAL_COLOR, "initial prompt"))
    for i, (kind, color, label) in enumerate(items):
        ly = top + 14 + i * 22
        if kind == "dot":
            mark = (
                f'<circle cx="{legend + 12}" cy="{ly}" r="4" fill="none" stroke="{color}" '
                'stroke-width="1.5"/>'
            )
        else:
            dash = ' stroke-dasharray="6 4"' if kind == "dash" else ""
            mark = (
                f'<line x1="{legend}" x2="{legend + 24}" y1="{ly}" y2="{ly}" stroke="{color}" '
                f'stroke-width="2.5"{dash}/>'
            )
        out.append(
            f'{mark}<text x="{legend + 32}" y="{ly + 4}" fill="#1e293b">{escape(label)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _matplotlib_chart(points: Sequence[RoundPoint], initial: float | None) -> str:
    """The same chart drawn by matplotlib's SVG backend (text kept as text, no date)."""
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    lo, hi = _value_range(points, initial)
    with matplotlib.rc_context({"svg.hashsalt": "apo-report", "svg.fonttype": "none"}):
        fig = Figure(figsize=(7.6, 3.4))
        FigureCanvasSVG(fig)
        ax = fig.add_subplot()
        xs = [p.round for p in points for _ in p.beam]
        ys = [v for p in points for v in p.beam]
        ax.scatter(
            xs, ys, s=28, facecolors="none", edgecolors=BEAM_COLOR, label="beam prompts", zorder=2
        )
        best = [(p.round, p.best) for p in points if p.best is not None]
        if best:
            ax.plot(
                [r for r, _ in best],
                [v for _, v in best],
                color=BEST_COLOR,
                marker="o",
                linewidth=2.2,
                label="best of round",
                zorder=3,
            )
        if initial is not None:
            ax.axhline(initial, color=INITIAL_COLOR, linestyle="--", label="initial prompt")
        pad = (hi - lo) * 0.04
        ax.set_ylim(lo - pad, hi + pad)
        first, last = points[0].round, points[-1].round
        ax.set_xlim(first - 0.3, last + 0.3)
        ax.set_xticks(list(range(first, last + 1, max(1, math.ceil((last - first) / 12)))))
        ax.set_xlabel("round (0 = initial prompt)")
        ax.set_ylabel("validation score")
        ax.grid(True, color="#e2e8f0")
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg") :]
