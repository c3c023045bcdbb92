"""BPO in LlamaIndex: a query transform, an async-correct transform engine, a workflow step.

The rewriting itself is :class:`apo_core.bpo.BPORewriter`'s; this module only puts it where
LlamaIndex expects a query rewrite:

* :class:`BPOQueryTransform` is a ``BaseQueryTransform`` with a real async path (``arun``).
* :class:`BPOTransformQueryEngine` is a ``TransformQueryEngine`` whose async methods await the
  transform (LlamaIndex's calls the sync ``run()`` inside ``_aquery``, blocking the loop).
* :class:`BPOWorkflowStep` and :func:`bpo_step` rewrite the query as the first step of a
  ``Workflow`` (QueryPipeline is gone since llama-index-core 0.13).

With ``keep_original_for_retrieval=True`` the retriever embeds the user's own words while the
synthesizer answers the rewritten instruction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, TypeVar

from llama_index.core.base.response.schema import RESPONSE_TYPE
from llama_index.core.indices.query.query_transform.base import BaseQueryTransform
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.llms import LLM
from llama_index.core.prompts.mixin import PromptDictType
from llama_index.core.query_engine import TransformQueryEngine
from llama_index.core.schema import NodeWithScore, QueryBundle, QueryType
from llama_index.core.workflow import Event, StartEvent, Workflow, step
from llama_index_instrumentation import get_dispatcher

from apo_core import ChatModel, ConfigError, Engine
from apo_core.bpo.protocol import Rewriter, as_rewriter
from apo_core.sync import run_sync
from llama_index_apo.llms import ACCEPTS, EngineLLM, adapt_llm

__all__ = [
    "BPOQueryEvent",
    "BPOQueryTransform",
    "BPORewriteEvent",
    "BPOTransformQueryEngine",
    "BPOWorkflowStep",
    "arun_transform",
    "as_transform",
    "bpo_step",
]

dispatcher = get_dispatcher(__name__)
W = TypeVar("W", bound=Workflow)


class BPORewriteEvent(BaseEvent):
    """Instrumentation event: one query rewritten by BPO (``fallback`` says why not)."""

    original: str
    rewritten: str
    fallback: str | None = None

    @classmethod
    def class_name(cls) -> str:
        return "BPORewriteEvent"


def _as_bundle(query: QueryType) -> QueryBundle:
    return QueryBundle(query_str=query) if isinstance(query, str) else query


def _rewriter(rewriter: Any, llm: Any, rewriter_kwargs: dict[str, Any]) -> Rewriter:
    if llm is None and isinstance(rewriter, LLM):
        rewriter, llm = None, rewriter  # BPOQueryTransform(my_llm)
    if isinstance(llm, EngineLLM) and rewriter is None:
        rewriter = llm.engine  # its engine (cache, budget, ledger), not an engine in an engine
    return as_rewriter(rewriter, llm=llm, adapt=adapt_llm, accepts=ACCEPTS, **rewriter_kwargs)


class BPOQueryTransform(BaseQueryTransform):
    """Rewrite the query with BPO before retrieval and synthesis.

    Args:
        rewriter: an ``apo_core.bpo.BPORewriter`` (or any :class:`~apo_core.bpo.Rewriter`),
            an :class:`~apo_core.Engine` to build one on, or ``None``: one on a new engine
            whose model is the embedded SmolLM2 (see :func:`~apo_core.bpo.as_rewriter`),
            unless ``llm`` is given.
        llm: the LlamaIndex LLM (``OpenAILike``, ``Ollama``, ...) or apo_core ``ChatModel``
            that rewrites. It runs through an engine, so cache, budget, retries and the ledger
            apply: the ``rewriter`` engine when one is given, else a new engine with ``llm`` in
            its ``rewriter`` role (an :class:`~llama_index_apo.EngineLLM` brings its own
            engine). ``BPOQueryTransform(llm)`` works too.
        keep_original_for_retrieval: embed the original query for retrieval (the synthesizer
            still sees the rewrite). Otherwise retrieval uses the rewrite, except for custom
            embedding strings the caller set, which are always kept.
        rewriter_kwargs: ``BPORewriter`` options (``source``, ``mode``, ...), not with a
            ready rewriter.

    Each rewrite records ``bpo_original_query`` and ``bpo_fallback`` (why the original was
    kept, or ``None``) in the ``metadata`` dict it is given and dispatches a
    :class:`BPORewriteEvent` to LlamaIndex instrumentation.

    Example:
        >>> transform = BPOQueryTransform(llm=OpenAILike(model=..., api_base=...))
    """

    def __init__(
        self,
        rewriter: Rewriter | Engine | LLM | None = None,
        *,
        llm: LLM | ChatModel | None = None,
        keep_original_for_retrieval: bool = False,
        **rewriter_kwargs: Any,
    ) -> None:
        self.rewriter: Rewriter = _rewriter(rewriter, llm, rewriter_kwargs)
        self.keep_original_for_retrieval = keep_original_for_retrieval

    def _get_prompts(self) -> PromptDictType:
        return {}

    def _update_prompts(self, prompts_dict: PromptDictType) -> None:
        """BPO's meta-prompt lives in apo_core; there is nothing to update here."""

    def _bundle(self, original: QueryBundle, rewritten: str) -> QueryBundle:
        custom = original.custom_embedding_strs
        embedding = None
        if self.keep_original_for_retrieval:
            custom, embedding = list(original.embedding_strs), original.embedding
        elif custom is not None and list(custom) == [original.query_str]:
            custom = None  # BaseQueryTransform.run's default, not a caller's choice
        return QueryBundle(
            query_str=rewritten,
            image_path=original.image_path,
            custom_embedding_strs=custom,
            embedding=embedding,
        )

    async def _arewrite(self, query: QueryBundle, metadata: dict[str, Any]) -> QueryBundle:
        result = await self.rewriter.arewrite(query.query_str)
        rewritten = result.rewritten or query.query_str
        dispatcher.event(
            BPORewriteEvent(original=query.query_str, rewritten=rewritten, fallback=result.fallback)
        )
        metadata["bpo_original_query"] = query.query_str
        metadata["bpo_fallback"] = result.fallback
        return self._bundle(query, rewritten)

    def _run(self, query_bundle: QueryBundle, metadata: dict[str, Any]) -> QueryBundle:
        return run_sync(self._arewrite(query_bundle, metadata))

    @dispatcher.span
    async def arun(
        self, query_bundle_or_str: QueryType, metadata: dict[str, Any] | None = None
    ) -> QueryBundle:
        """The async twin of ``run()``: awaits the rewriter, never blocks the loop."""
        meta = metadata if metadata is not None else {}
        return await self._arewrite(_as_bundle(query_bundle_or_str), meta)


async def arun_transform(
    transform: BaseQueryTransform, query: QueryType, metadata: dict[str, Any] | None = None
) -> QueryBundle:
    """Run any query transform without blocking the loop: its ``arun`` when it has one, else
    its sync ``run`` in a worker thread."""
    arun = getattr(transform, "arun", None)
    if arun is not None:
        bundle: QueryBundle = await arun(query, metadata=metadata)
        return bundle
    return await asyncio.to_thread(transform.run, query, metadata)


class BPOTransformQueryEngine(TransformQueryEngine):
    """LlamaIndex's ``TransformQueryEngine`` with async methods that await the transform.

    The core class calls the sync ``transform.run()`` inside ``_aquery``/``asynthesize``, which
    blocks the event loop for the whole rewrite; here ``aquery``/``asynthesize`` use the
    transform's ``arun`` (any transform without one runs in a worker thread). Sync methods,
    prompt modules (``query_transform``, ``query_engine``) and metadata are unchanged.
    """

    def _metadata(self) -> dict[str, Any]:
        return dict(self._transform_metadata or {})

    async def asynthesize(
        self,
        query_bundle: QueryBundle,
        nodes: list[NodeWithScore],
        additional_source_nodes: Sequence[NodeWithScore] | None = None,
    ) -> RESPONSE_TYPE:
        bundle = await arun_transform(self._query_transform, query_bundle, self._metadata())
        return await self._query_engine.asynthesize(
            query_bundle=bundle, nodes=nodes, additional_source_nodes=additional_source_nodes
        )

    async def _aquery(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        bundle = await arun_transform(self._query_transform, query_bundle, self._metadata())
        return await self._query_engine.aquery(bundle)


class BPOQueryEvent(Event):
    """The query after the BPO step: ``query_str`` for the LLM, ``embedding_strs`` for
    retrieval, ``original_query`` as the user wrote it."""

    query_str: str
    original_query: str
    embedding_strs: list[str]
    fallback: str | None = None

    def to_query_bundle(self) -> QueryBundle:
        """A ``QueryBundle`` for ``query_engine.aquery`` / ``retriever.aretrieve``."""
        custom = None if self.embedding_strs == [self.query_str] else list(self.embedding_strs)
        return QueryBundle(query_str=self.query_str, custom_embedding_strs=custom)


async def _rewrite_start(
    transform: BPOQueryTransform, ev: StartEvent, query_key: str
) -> BPOQueryEvent:
    query = ev.get(query_key)
    if not isinstance(query, str | QueryBundle):
        raise ValueError(f"the workflow's StartEvent needs {query_key}=<query string>")
    metadata: dict[str, Any] = {}
    bundle = await transform.arun(query, metadata=metadata)
    return BPOQueryEvent(
        query_str=bundle.query_str,
        original_query=metadata["bpo_original_query"],
        embedding_strs=list(bundle.embedding_strs),
        fallback=metadata["bpo_fallback"],
    )


def as_transform(
    transform: BPOQueryTransform | Rewriter | Engine | LLM | None = None,
    *,
    llm: LLM | ChatModel | None = None,
) -> BPOQueryTransform:
    """``transform`` itself, or a :class:`BPOQueryTransform` built from a rewriter, an
    engine, an LLM (``llm=``, or in ``transform``'s place) or nothing (the embedded model)."""
    if isinstance(transform, BPOQueryTransform):
        if llm is not None:
            raise ConfigError("pass a BPOQueryTransform or llm=, not both")
        return transform
    return BPOQueryTransform(transform, llm=llm)


class BPOWorkflowStep(Workflow):
    """A Workflow whose first step rewrites ``StartEvent.<query_key>`` with BPO.

    Subclass it and add steps that take :class:`BPOQueryEvent`::

        class RAG(BPOWorkflowStep):
            @step
            async def answer(self, ev: BPOQueryEvent) -> StopEvent:
                return StopEvent(result=await qe.aquery(ev.to_query_bundle()))

        await RAG(llm=OpenAILike(...)).run(query="...")

    Args:
        transform: a :class:`BPOQueryTransform`, or what one is built from (a rewriter, an
            engine, an LLM; ``None``: the embedded model unless ``llm`` is given).
        llm: the LlamaIndex LLM (or apo_core ``ChatModel``) that rewrites, through an engine
            (see :class:`BPOQueryTransform`).
        query_key: the ``StartEvent`` field holding the query.
        kwargs: ``Workflow`` options (``timeout``, ``verbose``, ...).
    """

    def __init__(
        self,
        transform: BPOQueryTransform | Rewriter | Engine | LLM | None = None,
        *,
        llm: LLM | ChatModel | None = None,
        query_key: str = "query",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bpo_transform = as_transform(transform, llm=llm)
        self.bpo_query_key = query_key

    @step
    async def bpo_rewrite(self, ev: StartEvent) -> BPOQueryEvent:
        """Rewrite the start event's query."""
        return await _rewrite_start(self.bpo_transform, ev, self.bpo_query_key)


def bpo_step(
    workflow: type[W],
    transform: BPOQueryTransform | Rewriter | Engine | LLM | None = None,
    *,
    llm: LLM | ChatModel | None = None,
    query_key: str = "query",
    name: str = "bpo_rewrite",
) -> type[W]:
    """A subclass of an existing ``Workflow`` class with a first step added: ``StartEvent`` ->
    BPO rewrite -> :class:`BPOQueryEvent`, which the class's other steps consume.

    ``transform`` and ``llm`` are as for :class:`BPOWorkflowStep`. The class itself is left
    as it was (its other users never see the step); run the returned class:
    ``await bpo_step(MyFlow, llm=my_llm)(timeout=30).run(query=...)``.
    """
    bpo = as_transform(transform, llm=llm)

    async def bpo_rewrite(ev: StartEvent) -> BPOQueryEvent:
        return await _rewrite_start(bpo, ev, query_key)

    bpo_rewrite.__name__ = bpo_rewrite.__qualname__ = name
    meta: Any = type(workflow)  # WorkflowMeta
    subclass: type[W] = meta(
        f"{workflow.__name__}WithBPO", (workflow,), {"__module__": workflow.__module__}
    )
    # free-function steps are kept per class (the metaclass gives each its own dict)
    subclass._step_functions.update(workflow._step_functions)
    step(workflow=subclass)(bpo_rewrite)
    return subclass
