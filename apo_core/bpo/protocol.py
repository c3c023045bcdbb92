"""What framework steps need of a BPO rewriter, and how they get one.

The LangChain Runnable and the LlamaIndex query transform both take "a rewriter": an
:class:`~apo_core.bpo.BPORewriter`, anything else with the same async ``arewrite``, an
:class:`~apo_core.Engine` to build one on, or ``None`` for one on a new engine whose model is
the embedded SmolLM2. :func:`as_rewriter` turns each of these into a :class:`Rewriter`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from apo_core.bpo.rewriter import BPORewriter
from apo_core.engine import Engine
from apo_core.errors import ConfigError

__all__ = ["Rewrite", "Rewriter", "as_rewriter"]


class Rewrite(Protocol):
    """One rewrite: the text to use (``rewritten``) and why the original was kept, if it was
    (``fallback``; ``None`` when the rewrite is new). :class:`~apo_core.bpo.BPOResult` is one."""

    @property
    def rewritten(self) -> str: ...

    @property
    def fallback(self) -> str | None: ...


@runtime_checkable
class Rewriter(Protocol):
    """Rewrites prompts: ``await arewrite(prompt, protected)`` (``BPORewriter`` is one)."""

    async def arewrite(self, prompt: str, protected: Sequence[str] | None = None) -> Rewrite: ...


def as_rewriter(rewriter: Rewriter | Engine | None = None, **rewriter_kwargs: Any) -> Rewriter:
    """A :class:`Rewriter` from a rewriter, an engine to build a ``BPORewriter`` on, or ``None``
    (a ``BPORewriter`` on a new engine: the embedded model).

    Args:
        rewriter: the rewriter, an engine, or ``None``.
        rewriter_kwargs: ``BPORewriter`` options (``source``, ``mode``, ``rounds``, ...);
            only with an engine or ``None``.

    Raises:
        TypeError: options were given together with a ready rewriter.
        ConfigError: ``rewriter`` has no async ``arewrite``.
    """
    if rewriter is None or isinstance(rewriter, Engine):
        return BPORewriter(rewriter, **rewriter_kwargs)
    if rewriter_kwargs:
        raise TypeError("rewriter_kwargs are only accepted together with an Engine (or None)")
    if not callable(getattr(rewriter, "arewrite", None)):
        raise ConfigError(
            f"a rewriter needs an async arewrite(prompt) (apo_core.bpo.BPORewriter), "
            f"not {type(rewriter).__name__}"
        )
    return rewriter
