"""What framework steps need of a BPO rewriter, and how they get one.

The LangChain Runnable and the LlamaIndex query transform both take "a rewriter": an
:class:`~apo_core.bpo.BPORewriter`, anything else with the same async ``arewrite``, an
:class:`~apo_core.Engine` to build one on, a chat model (the framework's own, or an apo_core
``ChatModel``) to rewrite with, or ``None`` for one on a new engine whose model is the embedded
SmolLM2. :func:`as_rewriter` turns each of these into a :class:`Rewriter`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from apo_core.bpo.rewriter import BPORewriter
from apo_core.engine import Engine
from apo_core.errors import ConfigError
from apo_core.models import Adapt, as_chat_model, is_chat_model

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


def as_rewriter(
    rewriter: Any = None,
    *,
    llm: Any = None,
    adapt: Adapt | None = None,
    accepts: str = "a chat model",
    **rewriter_kwargs: Any,
) -> Rewriter:
    """A :class:`Rewriter` from a rewriter, an engine, a chat model, or nothing.

    The framework steps (LangChain's ``BPORewriter`` Runnable, LlamaIndex's
    ``BPOQueryTransform``) call this with their framework's ``adapt``, so a LangChain chat
    model or a LlamaIndex LLM is taken directly, always through an engine (cache, budget,
    limits, retries, ledger):

    * a ready rewriter (anything with an async ``arewrite``): used as it is;
    * an :class:`~apo_core.Engine`: a ``BPORewriter`` on it (its ``rewriter`` role), or, with
      ``llm``, a ``BPORewriter`` on it whose calls go to ``llm`` (the engine's cache, budget
      and ledger apply);
    * a chat model (``llm=``, or in ``rewriter``'s place): a ``BPORewriter`` on a new engine
      with that model in the ``rewriter`` role;
    * ``None``: a ``BPORewriter`` on a new engine whose model is the embedded SmolLM2.

    Args:
        rewriter: the rewriter, an engine, a chat model, or ``None``.
        llm: the model that rewrites: the framework's model (wrapped by ``adapt``) or an
            apo_core ``ChatModel``.
        adapt: wraps the framework's model as an apo_core chat model (``None`` for anything
            else); see :func:`apo_core.models.as_chat_model`.
        accepts: what the framework's models are called, for error messages.
        rewriter_kwargs: ``BPORewriter`` options (``source``, ``mode``, ``rounds``, ...); not
            with a ready rewriter.

    Raises:
        TypeError: options were given together with a ready rewriter.
        ConfigError: ``rewriter`` is none of the above, ``llm`` is not a chat model, or a
            ready rewriter and ``llm`` were both given.
    """
    if llm is None and rewriter is not None and is_chat_model(rewriter, adapt):
        rewriter, llm = None, rewriter
    if llm is not None:
        if rewriter is not None and not isinstance(rewriter, Engine):
            raise ConfigError(
                "pass a ready rewriter or llm=, not both (llm= goes with an Engine or alone)"
            )
        if "model" in rewriter_kwargs:
            raise ConfigError("pass llm= or model=, not both")
        model = as_chat_model(llm, adapt, accepts, name="llm")
        if rewriter is None:
            return BPORewriter(Engine(roles={"rewriter": model}), **rewriter_kwargs)
        return BPORewriter(rewriter, model=model, **rewriter_kwargs)
    if rewriter is None or isinstance(rewriter, Engine):
        return BPORewriter(rewriter, **rewriter_kwargs)
    if rewriter_kwargs:
        raise TypeError("rewriter_kwargs are only accepted together with an Engine (or None)")
    if not callable(getattr(rewriter, "arewrite", None)):
        raise ConfigError(
            f"a rewriter must be an apo_core.bpo.BPORewriter (an async arewrite), an Engine, "
            f"{accepts} or an apo_core ChatModel, not {type(rewriter).__name__}"
        )
    rewriter_: Rewriter = rewriter
    return rewriter_
