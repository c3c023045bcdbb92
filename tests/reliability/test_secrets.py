"""API keys never reach logs, checkpoints, caches, reports or exceptions; private files are 0600."""

from __future__ import annotations

import json
import logging
import stat
import traceback
from pathlib import Path

import pytest
from reliability_world import (
    CONFIG,
    OPTIMIZER_MODEL,
    PROMPT,
    TASK_MODEL,
    http_engine,
    label_metric,
    make_examples,
    records,
    responder,
)
from typer.testing import CliRunner

from apo_core import Backoff, LoggingListener, ModelCallError, OpenAIChatModel
from apo_core.apo import APO
from apo_core.cli import app
from apo_core.report import write_report
from apo_core.testing import FakeOpenAIServer, Fault, RecordingSleep

pytestmark = pytest.mark.integration

SENTINEL = "sk-test-SENTINEL-7f3a9c2e41d84b6e"
TRAIN, VALIDATION, TEST = make_examples("train", 16), make_examples("val", 6), make_examples("t", 4)


def leaks(root: Path) -> list[str]:
    """Files under ``root`` whose bytes contain the sentinel key."""
    return [str(p) for p in root.rglob("*") if p.is_file() and SENTINEL.encode() in p.read_bytes()]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def private_files(root: Path) -> list[Path]:
    """Cache databases (with their WAL/SHM files) and checkpoints under ``root``."""
    names = ("*.sqlite", "*.sqlite-wal", "*.sqlite-shm", "checkpoint.json")
    return [p for pattern in names for p in root.rglob(pattern)]


async def test_key_never_leaks_from_a_library_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, the SDK's and httpx's included
    folder = tmp_path / "run"
    # Providers echo keys in error messages ("Incorrect API key provided: sk-...").
    echo = f"Incorrect API key provided: {SENTINEL}"
    with FakeOpenAIServer(responder) as server:
        server.add_faults(Fault(status=500, message=echo), Fault(status=429, message=echo))
        engine = http_engine(
            server.base_url,
            api_key=SENTINEL,
            cache=folder / "cache.sqlite",
            listeners=[LoggingListener()],
            backoff=Backoff(initial_s=0.01),
            sleep=RecordingSleep(),
        )
        with engine:
            result = await APO(engine, CONFIG).optimize(
                PROMPT,
                train=TRAIN,
                validation=VALIDATION,
                test=TEST,
                metric=label_metric,
                checkpoint=folder / "checkpoint.json",
            )
        assert engine.usage().total.retries >= 2
        result.to_json(folder / "result.json")
        write_report(result, folder)

        bad_key = OpenAIChatModel(TASK_MODEL, base_url=server.base_url, api_key=SENTINEL)
        server.add_faults(Fault(status=401, message=echo))
        with pytest.raises(ModelCallError) as info:
            await http_engine(server.base_url, api_key=SENTINEL).complete("hello", model=bad_key)
    error = info.value
    texts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    assert "401" in texts[0] and "***" in texts[0]
    assert all(SENTINEL not in t for t in texts)
    assert SENTINEL not in repr(bad_key) and SENTINEL not in bad_key.cache_identity
    assert "Incorrect API key" in caplog.text  # the echoed message was logged, redacted
    assert SENTINEL not in caplog.text
    captured = capsys.readouterr()
    assert SENTINEL not in captured.out + captured.err
    assert (folder / "report.html").exists() and (folder / "cache.sqlite").exists()
    assert leaks(tmp_path) == []
    files = private_files(tmp_path)
    assert {p.name for p in files} >= {"cache.sqlite", "checkpoint.json"}
    assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}


def test_key_never_leaks_from_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    with FakeOpenAIServer(responder) as server:
        (tmp_path / "data.jsonl").write_text("\n".join(json.dumps(r) for r in records(24)))
        (tmp_path / "task.toml").write_text(
            f'prompt = "Classify the review.\\nReview: {{text}}\\nLabel:"\n'
            '[data]\npath = "data.jsonl"\n'
            '[metric]\ntype = "label_accuracy"\nlabels = ["positive", "negative"]\n'
            f'[models]\ntask = "openai:{TASK_MODEL}@{server.base_url}"\n'
            f'optimizer = "openai:{OPTIMIZER_MODEL}@{server.base_url}"\n'
            "[search]\nrounds = 1\nbeam_size = 2\nminibatch_size = 6\nn_gradients = 1\n"
        )
        result = CliRunner().invoke(app, ["optimize", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    assert SENTINEL not in result.stdout + result.stderr + caplog.text
    assert leaks(tmp_path) == []
    run = tmp_path / ".apo" / "runs" / "task"
    assert {"result.json", "checkpoint.json", "report.html"} <= {p.name for p in run.iterdir()}
    files = private_files(tmp_path)
    assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
