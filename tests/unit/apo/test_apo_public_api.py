"""apo_core.apo exports: every name in __all__ resolves, and importing the package stays light."""

from __future__ import annotations

import subprocess
import sys

import apo_core.apo


def test_all_names_resolve() -> None:
    missing = [name for name in apo_core.apo.__all__ if getattr(apo_core.apo, name, None) is None]
    assert missing == []


def test_importing_the_package_imports_no_submodule() -> None:
    code = (
        "import sys, apo_core.apo\n"
        "print(','.join(m for m in sys.modules if m.startswith('apo_core.apo.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
