"""The public surface of apo_core: every name in __all__ exists and nothing leaks frameworks."""

from __future__ import annotations

import subprocess
import sys

import apo_core


def test_all_names_exist() -> None:
    missing = [name for name in apo_core.__all__ if not hasattr(apo_core, name)]
    assert missing == []


def test_apo_core_imports_no_framework() -> None:
    code = (
        "import sys, apo_core, apo_core.cli\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('langchain_core', 'llama_index')]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
