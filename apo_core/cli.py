"""The ``apo`` command line (typer). User errors print one clear line and exit non-zero."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from apo_core.engine import Engine
from apo_core.errors import APOError
from apo_core.models.base import ChatModel
from apo_core.sync import run_sync

app = typer.Typer(
    name="apo",
    help="apo-bpo: optimize prompts (APO/ProTeGi) and rewrite instructions (BPO).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
out = Console()

DEFAULT_CACHE = Path(".apo") / "cache.sqlite"


def make_model(spec: str | None) -> ChatModel | None:
    """Build a model from a CLI spec: ``local`` (default) or ``openai:MODEL[@BASE_URL]``."""
    if spec is None or spec == "local":
        return None
    if spec.startswith("openai:"):
        from apo_core.models.openai_model import OpenAIChatModel

        name, _, base_url = spec.removeprefix("openai:").partition("@")
        return OpenAIChatModel(name, base_url=base_url or None)
    raise APOError(f"unknown model {spec!r}: use 'local' or 'openai:MODEL[@BASE_URL]'")


def fail(message: str) -> None:
    """Print one error line and exit with status 1."""
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(1)


@app.command()
def complete(
    prompt: Annotated[str, typer.Argument(help="The user message to complete.")],
    model: Annotated[
        str | None, typer.Option(help="'local' (embedded SmolLM2) or 'openai:MODEL[@BASE_URL]'.")
    ] = None,
    max_tokens: Annotated[int, typer.Option(min=1)] = 128,
    temperature: Annotated[float, typer.Option(min=0.0, max=2.0)] = 0.0,
    seed: int | None = None,
    cache: Annotated[Path | None, typer.Option(help="SQLite cache file.")] = DEFAULT_CACHE,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not use the cache.")] = False,
) -> None:
    """Complete one prompt through the engine and print the reply and its usage."""
    try:
        engine = Engine(make_model(model), cache=None if no_cache else cache)
        with engine:
            result = run_sync(
                engine.complete(prompt, max_tokens=max_tokens, temperature=temperature, seed=seed)
            )
            usage = engine.usage().total
    except APOError as exc:
        fail(str(exc))
        return
    out.print(result.text, highlight=False)
    err.print(
        f"[dim]{result.model_id}: {usage.calls} call(s), {usage.cache_hits} cached, "
        f"{usage.input_tokens}+{usage.output_tokens} tokens, ${usage.cost_usd:.4f}[/]",
        highlight=False,
    )


def main() -> None:  # pragma: no cover - console entry point
    """Entry point that never shows a traceback for apo-bpo errors."""
    sys.exit(app())
