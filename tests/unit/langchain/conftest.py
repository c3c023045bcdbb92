"""Fixtures of the LangChain adapter tests."""

from __future__ import annotations

import pytest
from lc_helpers import RecordingHandler


@pytest.fixture
def recorder() -> RecordingHandler:
    return RecordingHandler()
