"""Engine unit tests: looptime (fast-forwarded loop time) runs timeout and rate-limit tests.

When the ``looptime`` plugin is missing, its marker is registered here and those tests skip
instead of failing collection under ``--strict-markers``.
"""

from __future__ import annotations

import pytest


def has_looptime(config: pytest.Config) -> bool:
    return config.pluginmanager.hasplugin("looptime_plugin")


def pytest_configure(config: pytest.Config) -> None:
    if not has_looptime(config):
        config.addinivalue_line("markers", "looptime: fast-forwarded event-loop time")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if has_looptime(config):
        return
    skip = pytest.mark.skip(reason="needs the looptime plugin: pip install looptime")
    for item in items:
        if item.get_closest_marker("looptime") is not None:
            item.add_marker(skip)
