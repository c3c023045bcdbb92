"""SIGKILL an ``apo optimize`` process mid-round, then ``--resume``: same result, no call paid
twice, and every checkpoint ever observed on disk is whole JSON."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from reliability_world import OPTIMIZER_MODEL, TASK_MODEL, outcome, records, responder

from apo_core.testing import FakeOpenAIServer

pytestmark = pytest.mark.integration

APO_CLI = [sys.executable, "-c", "from apo_core.cli import app; app()"]
TASK = """
name = "kill"
prompt = "Classify the review.\\nReview: {{text}}\\nLabel:"
seed = 11
max_concurrency = 4

[data]
path = "data.jsonl"
split = {{ train = 0.5, validation = 0.25, test = 0.25 }}

[metric]
type = "label_accuracy"
labels = ["positive", "negative"]

[models]
task = "openai:{task}@{url}"
optimizer = "openai:{optimizer}@{url}"

[search]
rounds = 3
beam_size = 2
minibatch_size = 8
n_gradients = 2
errors_per_gradient = 2
mc_samples_per_step = 1
max_expansion_factor = 4
selector = "brute_force"
eval_budget = 12
patience = 5
"""


class SlowRecorder:
    """A responder that answers after ``delay_s``, can hold answers, and records each body it
    answered (bodies answered after :meth:`forget_held` was called are not recorded)."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.bodies: list[str] = []
        self.generation = 0
        self.open = threading.Event()
        self.open.set()
        self.lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> str:
        generation = self.generation
        self.open.wait(timeout=30)
        time.sleep(self.delay_s)
        text = responder(body)
        with self.lock:
            if generation == self.generation:
                self.bodies.append(json.dumps(body, sort_keys=True))
        return text

    def forget_held(self) -> None:
        with self.lock:
            self.generation += 1


def make_task(root: Path, url: str) -> Path:
    root.mkdir()
    (root / "data.jsonl").write_text("\n".join(json.dumps(r) for r in records(40)) + "\n")
    task = TASK.format(task=TASK_MODEL, optimizer=OPTIMIZER_MODEL, url=url)
    (root / "task.toml").write_text(task)
    return root


def apo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*APO_CLI, "optimize", *args, "--quiet"], capture_output=True, text=True, timeout=120
    )


class CheckpointWatcher(threading.Thread):
    """Reads the checkpoint file as fast as it can; remembers every version and bad read."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.stop = threading.Event()
        self.rounds_seen: list[int] = []
        self.torn: list[str] = []

    def run(self) -> None:
        while not self.stop.wait(0.001):
            try:
                text = self.path.read_text()
            except FileNotFoundError:
                continue
            try:
                rounds = json.loads(text)["rounds_completed"]
            except (ValueError, KeyError):
                self.torn.append(text[-80:])
                continue
            if not self.rounds_seen or self.rounds_seen[-1] != rounds:
                self.rounds_seen.append(rounds)


def test_sigkill_mid_round_then_resume(tmp_path: Path) -> None:
    recorder = SlowRecorder(delay_s=0.03)
    with FakeOpenAIServer(recorder) as server:
        reference = make_task(tmp_path / "reference", server.base_url)
        done = apo(str(reference))
        assert done.returncode == 0, done.stderr
        expected = json.loads((reference / ".apo/runs/kill/result.json").read_text())
        recorder.bodies.clear()

        folder = make_task(tmp_path / "killed", server.base_url)
        checkpoint = folder / ".apo/runs/kill/checkpoint.json"
        watcher = CheckpointWatcher(checkpoint)
        watcher.start()
        proc = subprocess.Popen(
            [*APO_CLI, "optimize", str(folder), "--quiet"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 90
            while 1 not in watcher.rounds_seen:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "round 1 never checkpointed"
                time.sleep(0.005)
            at_checkpoint = len(recorder.bodies)
            while len(recorder.bodies) < at_checkpoint + 4:  # round 2 has started
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.005)
            recorder.open.clear()  # hold every further answer...
            time.sleep(0.5)  # ...let answers already sent reach the client's cache...
            os.kill(proc.pid, signal.SIGKILL)  # ...and kill it mid-round
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
            recorder.forget_held()
            recorder.open.set()
        assert proc.returncode == -signal.SIGKILL
        state = json.loads(checkpoint.read_text())
        assert state["rounds_completed"] == 1 and state["finished"] is None
        paid_before_kill = len(recorder.bodies)

        resumed = apo(str(folder), "--resume")
        watcher.stop.set()
        watcher.join(timeout=5)
        assert resumed.returncode == 0, resumed.stderr

    result = json.loads((folder / ".apo/runs/kill/result.json").read_text())
    assert outcome(result) == outcome(expected)
    assert result["rounds_completed"] == 3
    assert watcher.torn == [] and watcher.rounds_seen[:2] == [1, 2]
    # The cache survived the kill: nothing answered before it was asked for again.
    assert len(set(recorder.bodies)) == len(recorder.bodies)
    assert len(recorder.bodies) > paid_before_kill
    assert result["usage"]["total"]["cache_hits"] > 0
    assert not list(checkpoint.parent.glob(".checkpoint.json.*.tmp"))
