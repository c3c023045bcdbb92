"""Shared fixtures of the LlamaIndex adapter tests: offline Settings, a small real index."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from li_helpers import Recorder
from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.llms import MockLLM

from apo_core import Engine, ScriptedChatModel
from llama_index_apo import EngineLLM

DOCS = [
    "Paris is the capital of France.",
    "Berlin is the capital of Germany.",
    "Madrid is the capital of Spain.",
    "Rome is the capital of Italy.",
]


@pytest.fixture(autouse=True)
def _offline_settings() -> Iterator[None]:
    """Settings.llm/embed_model set (reading them unset raises ImportError), restored after."""
    old_llm = getattr(Settings, "_llm", None)
    old_embed = getattr(Settings, "_embed_model", None)
    Settings.llm = MockLLM()
    Settings.embed_model = MockEmbedding(embed_dim=8)
    yield
    Settings._llm = old_llm
    Settings._embed_model = old_embed


@pytest.fixture
def task_model() -> ScriptedChatModel:
    """Answers 'ok' unless a test adds rules."""
    return ScriptedChatModel(default="ok")


@pytest.fixture
def engine(task_model: ScriptedChatModel) -> Engine:
    return Engine(task_model)


@pytest.fixture
def llm(engine: Engine) -> EngineLLM:
    return EngineLLM(engine)


@pytest.fixture
def index() -> VectorStoreIndex:
    return VectorStoreIndex.from_documents([Document(text=t) for t in DOCS])


@pytest.fixture
def query_engine(index: VectorStoreIndex, llm: EngineLLM) -> BaseQueryEngine:
    return index.as_query_engine(llm=llm, similarity_top_k=2)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """Records every event reaching LlamaIndex's root dispatcher during the test."""
    rec = Recorder(events=[])
    root = get_dispatcher()
    root.add_event_handler(rec)
    yield rec
    root.event_handlers.remove(rec)
