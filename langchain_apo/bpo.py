"""BPO as a LangChain Runnable step: rewrite the user's prompt before the chain sees it.

The rewriting is :class:`apo_core.bpo.BPORewriter`'s; :class:`BPORewriter` here only puts it
into LCEL (``bpo | prompt | llm``) with callbacks nesting under its own run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from langchain_core.callbacks import (
    AsyncCallbackManagerForChainRun,
    CallbackManagerForChainRun,
)
from langchain_core.prompts import BasePromptTemplate
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable
from pydantic import ConfigDict

from apo_core.bpo.protocol import Rewriter, as_rewriter
from apo_core.errors import ConfigError
from apo_core.sync import run_sync
from langchain_apo.walker import Target, map_runnables, select_prompt

__all__ = ["BPORewriter", "insert_bpo"]


class BPORewriter(RunnableSerializable[Any, Any]):
    """Rewrite a ``str`` input, or the ``key`` entry of a dict input, with BPO.

    Args:
        rewriter: an ``apo_core.bpo.BPORewriter``, or an :class:`~apo_core.Engine` (or
            ``None``: a new engine on the embedded model) to build one from
            (``rewriter_kwargs`` go to its constructor: ``source``, ``mode``, ...).
        key: the dict key to rewrite; ``None`` means the input is the prompt string itself.
        keep_original: also keep the original under this key (dict inputs only).
        protected: spans the rewrite must keep verbatim.

    Example:
        >>> chain = BPORewriter(engine, key="question") | prompt | llm | StrOutputParser()
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    rewriter: Any
    key: str | None = None
    keep_original: str | None = None
    protected: list[str] | None = None

    def __init__(
        self,
        rewriter: Any = None,
        *,
        key: str | None = None,
        keep_original: str | None = None,
        protected: Sequence[str] | None = None,
        **rewriter_kwargs: Any,
    ) -> None:
        rewriter = as_rewriter(rewriter, **rewriter_kwargs)
        if keep_original is not None and key is None:
            raise ConfigError("keep_original needs key: only dict inputs can carry both texts")
        fields: dict[str, Any] = {
            "rewriter": rewriter,
            "key": key,
            "keep_original": keep_original,
            "protected": list(protected) if protected is not None else None,
        }
        super().__init__(**fields)

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return False

    def _text_of(self, value: Any) -> str:
        if self.key is None:
            if not isinstance(value, str):
                raise ConfigError(
                    f"BPORewriter without key= takes a str, got {type(value).__name__}; "
                    "set key= to rewrite one entry of a dict input"
                )
            return value
        if not isinstance(value, dict) or self.key not in value:
            raise ConfigError(f"BPORewriter(key={self.key!r}) needs a dict input with that key")
        text = value[self.key]
        if not isinstance(text, str):
            raise ConfigError(f"input[{self.key!r}] is a {type(text).__name__}, not a str")
        return text

    async def _arewrite(self, value: Any) -> Any:
        text = self._text_of(value)
        rewriter = cast(Rewriter, self.rewriter)
        if self.protected is not None:
            result = await rewriter.arewrite(text, protected=self.protected)
        else:
            result = await rewriter.arewrite(text)
        if self.key is None:
            return result.rewritten
        out = dict(value)
        out[self.key] = result.rewritten
        if self.keep_original is not None:
            out[self.keep_original] = text
        return out

    def _run(
        self, value: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> Any:
        return run_sync(self._arewrite(value))

    async def _arun(
        self, value: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig
    ) -> Any:
        return await self._arewrite(value)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Rewrite one input (blocking; inside a running loop it runs on a worker thread)."""
        return self._call_with_config(self._run, input, config, run_type="chain")

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Rewrite one input."""
        return await self._acall_with_config(self._arun, input, config, run_type="chain")

    def batch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any | None,
    ) -> list[Any]:
        """Rewrite many inputs concurrently on one event loop (so the engine's limits hold)."""
        if not inputs:
            return []
        return run_sync(self.abatch(inputs, config, return_exceptions=return_exceptions, **kwargs))


def insert_bpo(
    chain: Runnable[Any, Any],
    rewriter: BPORewriter | Any,
    *,
    key: str | None = None,
    target: Target = None,
) -> Runnable[Any, Any]:
    """A NEW chain with a BPO step right before its first prompt (or ``target``'s prompt).

    ``rewriter`` is a :class:`BPORewriter` (its ``key`` is replaced by ``key`` when given) or
    an ``apo_core.bpo.BPORewriter`` / :class:`~apo_core.Engine`. Without ``key`` the prompt's
    only input variable is rewritten.
    """
    ref = select_prompt(chain, target)
    prompt = ref.prompt
    if key is None:
        if isinstance(rewriter, BPORewriter) and rewriter.key is not None:
            key = rewriter.key
        elif len(prompt.input_variables) == 1:
            key = prompt.input_variables[0]
        else:
            raise ConfigError(
                f"the prompt has input variables {sorted(prompt.input_variables)}; "
                "say which one BPO rewrites with key="
            )
    if key not in prompt.input_variables:
        raise ConfigError(f"{key!r} is not an input variable of the prompt at {ref.location}")
    if isinstance(rewriter, BPORewriter):
        step = rewriter if rewriter.key == key else rewriter.model_copy(update={"key": key})
    else:
        step = BPORewriter(rewriter, key=key)

    def put(runnable: Runnable[Any, Any], path: tuple[str | int, ...]) -> Any:
        if path == ref.path and isinstance(runnable, BasePromptTemplate):
            return step | runnable
        return None

    return map_runnables(chain, put)
