"""Every docs/snippets/*.py runs (offline, on scripted models), so the docs' code never rots."""

from __future__ import annotations

import importlib.util
import re
import runpy
from pathlib import Path

import pytest

SNIPPETS = sorted((Path(__file__).resolve().parents[2] / "docs" / "snippets").glob("*.py"))


def test_there_are_snippets() -> None:
    assert len(SNIPPETS) >= 8


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


@pytest.mark.enable_socket  # models.py serves FakeOpenAIServer on 127.0.0.1 (the only host allowed)
@pytest.mark.parametrize("path", SNIPPETS, ids=[p.stem for p in SNIPPETS])
def test_snippet_runs(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    needs = re.search(r"^Needs: ([\w.]+)", path.read_text(), re.M)
    if needs and not _importable(needs.group(1)):
        pytest.skip(f"{path.name} needs {needs.group(1)}; tests/compat runs it in its own venv")
    monkeypatch.chdir(tmp_path)  # anything a snippet writes lands in a temporary folder
    runpy.run_path(str(path), run_name="__main__")
    assert capsys.readouterr().out.strip(), f"{path.name} printed nothing"
