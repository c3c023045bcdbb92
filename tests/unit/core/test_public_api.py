"""The public surface of apo_core: ``__all__`` is exactly what is exported, every wing exports
its names explicitly, and neither apo_core nor the CLI needs a framework."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types

import pytest

import apo_core

WINGS = ["apo", "bpo", "data", "engine", "metrics", "models", "report", "testing"]


def test_all_is_exactly_the_sorted_public_names() -> None:
    public = {
        name
        for name, value in vars(apo_core).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert sorted(apo_core.__all__) == sorted(public | {"__version__"})
    assert len(set(apo_core.__all__)) == len(apo_core.__all__)


@pytest.mark.parametrize("wing", WINGS)
def test_every_wing_exports_an_explicit_all(wing: str) -> None:
    module = importlib.import_module(f"apo_core.{wing}")
    names = module.__all__
    assert names, wing
    assert [n for n in names if not hasattr(module, n)] == []
    assert len(set(names)) == len(names)


def test_the_top_level_keeps_at_most_eight_plain_modules() -> None:
    from pathlib import Path

    top = Path(apo_core.__file__).parent
    assert len(list(top.glob("*.py"))) <= 8


def test_apo_core_imports_no_framework() -> None:
    code = (
        "import sys, apo_core, apo_core.cli\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('langchain_core', 'llama_index')]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


BLOCK = (
    "import sys\n"
    "for name in ('langchain_core', 'langchain', 'llama_index', 'llama_index.core'):\n"
    "    sys.modules[name] = None  # as if the extra were not installed\n"
)


@pytest.mark.parametrize(
    ("package", "extra"), [("langchain_apo", "langchain"), ("llama_index_apo", "llamaindex")]
)
def test_an_adapter_without_its_framework_names_the_extra(package: str, extra: str) -> None:
    code = BLOCK + (
        "from apo_core.errors import MissingExtraError\n"
        "try:\n"
        f"    import {package}\n"
        "except MissingExtraError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert f"pip install 'apo-bpo[{extra}]'" in out.stdout
    assert package in out.stdout
