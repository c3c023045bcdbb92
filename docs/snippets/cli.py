"""The command line on a task folder (docs/snippets/cli_task), offline on scripted models."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

source = Path(__file__).resolve().parent / "cli_task"
folder = Path(tempfile.mkdtemp()) / "reviews"
shutil.copytree(source, folder)
env = {**os.environ, "PYTHONPATH": str(folder)}  # so that python:scripted_models:... imports


def apo(*args: str) -> str:
    """Run ``apo ARGS`` and return what it printed."""
    command = [sys.executable, "-c", "from apo_core.cli import app; app()", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return done.stdout


print(apo("optimize", str(folder), "--estimate"))  # calls, tokens and dollars per role
print(apo("optimize", str(folder), "--quiet"))  # run: result.json, checkpoint, report
run = folder / ".apo" / "runs" / "reviews"
print(apo("optimize", str(folder), "--resume", "--quiet"))  # a finished run: nothing to redo
print(apo("report", str(run)))  # re-render report.html / report.md from result.json
print(apo("bpo", "Explain recursion", "--model", "python:scripted_models:rewriter_model"))

assert (run / "result.json").is_file() and (run / "report.html").is_file()
assert "sarcasm" in (run / "report.md").read_text(encoding="utf-8")
