"""ProgressDisplay: unwrapped log lines, and the round and best score kept on every line."""

from __future__ import annotations

import io

from rich.console import Console

from apo_core import Engine, ProgressDisplay, RunEvent, ScriptedChatModel


async def test_plain_lines_never_wrap_at_80_columns() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=False, width=80)
    engine = Engine(ScriptedChatModel(default="x"))
    status = "round 1/3: expanding 4 prompt(s) with a rather long explanation of what happens"
    with ProgressDisplay(console, every=1) as progress:
        engine.subscribe(progress)
        engine.events.emit(RunEvent(kind="round_started", data={"status": status, "round": 0}))
        await engine.complete("a")
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 2  # one line per print: the periodic one and the final summary
    assert all(len(line) > 80 for line in lines)
    assert lines[0].startswith("round 1 | " + status + " | calls 1")


async def test_round_and_best_validation_persist_across_status_changes() -> None:
    progress = ProgressDisplay(Console(file=io.StringIO()))
    events = [
        RunEvent(kind="round_started", data={"status": "round 1/2: expanding", "round": 0}),
        RunEvent(
            kind="round_finished",
            data={"status": "round 1/2 done", "round": 0, "best_validation": 0.625},
        ),
        RunEvent(kind="round_started", data={"status": "round 2/2: expanding", "round": 1}),
        RunEvent(kind="selection_done", data={"status": "selected 2 prompt(s)", "round": 1}),
        RunEvent(kind="test_started", data={"status": "scoring the test split"}),
    ]
    for event in events:
        progress(event)
    line = progress.line()
    assert line.startswith("round 2 | best validation 0.625 | scoring the test split | calls 0")
    progress(RunEvent(kind="run_finished", data={"status": "done", "best_validation": None}))
    assert "best validation 0.625" in progress.line()  # an unknown score keeps the last one


async def test_the_terminal_line_stays_one_line_and_leads_with_the_fields() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=60)
    progress = ProgressDisplay(console)
    progress(RunEvent(kind="x", data={"round": 2, "best_validation": 0.5, "status": "s" * 90}))
    rendered = console.render_lines(progress._text(), console.options)
    assert len(rendered) == 1
    text = "".join(segment.text for segment in rendered[0])
    assert text.startswith("round 3 | best validation 0.500 | sss") and text.rstrip().endswith("…")
