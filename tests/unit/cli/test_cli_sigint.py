"""Ctrl-C (SIGINT) stops a real `apo optimize` process cleanly; `--resume` finishes the run.

The task model holds its answer once round 1's checkpoint exists and says so in a marker
file: the test waits for that file (no guessing with sleeps), then interrupts the process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

APO_CLI = [sys.executable, "-c", "from apo_core.cli import app; app()"]
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "APO_TEST_HOLD"}
    path = [str(REPO), str(HERE), env.get("PYTHONPATH", "")]
    return env | {"PYTHONPATH": os.pathsep.join(p for p in path if p)} | extra


def wait_for(path: Path, proc: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"apo exited {proc.returncode} early: {proc.communicate()}")
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.01)


def test_ctrl_c_saves_a_checkpoint_and_resume_finishes(task_dir: Path) -> None:
    task = task_dir / "task.toml"
    task.write_text(
        task.read_text().replace("cli_models:task_model", "cli_models:holding_task_model")
    )
    folder = task_dir / ".apo" / "runs" / "demo"
    checkpoint = folder / "checkpoint.json"
    held = Path(str(checkpoint) + ".held")
    proc = subprocess.Popen(
        [*APO_CLI, "optimize", str(task_dir), "--quiet"],
        env=cli_env(APO_TEST_HOLD=str(checkpoint)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(held, proc)  # round 1 is checkpointed and round 2 is waiting on the model
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and "interrupted" in err and "--resume" in err
    assert json.loads(checkpoint.read_text())["rounds_completed"] == 1
    assert not (folder / "result.json").exists()

    done = subprocess.run(
        [*APO_CLI, "optimize", str(task_dir), "--quiet", "--resume"],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((folder / "result.json").read_text())
    assert result["rounds_completed"] == 2 and "CAREFUL" in result["best_prompt"]
    assert f"report: {folder / 'report.html'}" in done.stdout
