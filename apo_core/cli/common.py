"""What every ``apo`` command shares: consoles, the one-line error exit, engines from specs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.text import Text

from apo_core.cli.modelspec import model_from_spec
from apo_core.engine import Budget, Engine
from apo_core.models import ChatModel

err = Console(stderr=True, markup=False, soft_wrap=True)
out = Console(markup=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one error line on stderr and exit non-zero (never a traceback)."""
    err.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    raise typer.Exit(code)


def build_engine(
    models: Mapping[str, str],
    *,
    cache: Path | None,
    budget: Budget | None = None,
    max_concurrency: int = 8,
    seed: int | None = None,
) -> Engine:
    """An engine whose roles use the given model specs (``default`` covers the rest).

    Identical specs share one model object (one embedded model loaded, one HTTP client).
    """
    built: dict[str, ChatModel] = {}

    def model(spec: str) -> ChatModel:
        if spec not in built:
            built[spec] = model_from_spec(spec)
        return built[spec]

    default = model(models.get("default", "local"))
    roles = {role: model(spec) for role, spec in models.items() if role != "default"}
    return Engine(
        default, roles=roles, cache=cache, budget=budget, max_concurrency=max_concurrency, seed=seed
    )
