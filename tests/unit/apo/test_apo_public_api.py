"""apo_core.apo exports: every name in __all__ resolves."""

from __future__ import annotations

import apo_core.apo


def test_all_names_resolve() -> None:
    missing = [name for name in apo_core.apo.__all__ if getattr(apo_core.apo, name, None) is None]
    assert missing == []
