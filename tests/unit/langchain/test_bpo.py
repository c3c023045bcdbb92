"""BPORewriter as a Runnable step: sync, async, batch, stream, callbacks, insert_bpo."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models import FakeListChatModel
from langchain_core.load import dumps
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from lc_helpers import RecordingHandler, bpo_reply

from apo_core import ConfigError, Engine, ScriptedChatModel
from apo_core.bpo import BPORewriter as CoreRewriter
from langchain_apo.bpo import BPORewriter, insert_bpo
from langchain_apo.models import LangChainChatModel
from langchain_apo.walker import find_prompts

SUFFIX = " Explain step by step and give one example."


def engine() -> Engine:
    return Engine(roles={"rewriter": ScriptedChatModel(default=bpo_reply)})


def echo_chain() -> Any:
    prompt = ChatPromptTemplate.from_messages([("system", "Answer."), ("human", "{question}")])
    echo = RunnableLambda(lambda value: value.to_messages()[-1].text)
    return prompt | echo


def test_str_input_sync() -> None:
    step = BPORewriter(engine())
    assert step.invoke("What is rain?") == "What is rain?" + SUFFIX


async def test_dict_input_async_keeps_other_keys_and_original() -> None:
    step = BPORewriter(engine(), key="question", keep_original="original")
    out = await step.ainvoke({"question": "Why?", "lang": "en"})
    assert out == {"question": "Why?" + SUFFIX, "lang": "en", "original": "Why?"}


def test_batch_sync_and_inside_chain() -> None:
    chain = BPORewriter(engine(), key="question") | echo_chain()
    assert chain.batch([{"question": "a"}, {"question": "b"}]) == ["a" + SUFFIX, "b" + SUFFIX]
    assert BPORewriter(engine()).batch([]) == []


async def test_abatch_return_exceptions() -> None:
    step = BPORewriter(engine(), key="question")
    out = await step.abatch([{"question": "x"}, {"nope": 1}], return_exceptions=True)
    assert out[0] == {"question": "x" + SUFFIX}
    assert isinstance(out[1], ConfigError)


def test_stream_passes_through() -> None:
    chain = BPORewriter(engine(), key="question") | echo_chain()
    assert "".join(chain.stream({"question": "s"})) == "s" + SUFFIX
    assert list(BPORewriter(engine()).stream("t")) == ["t" + SUFFIX]


async def test_astream_passes_through() -> None:
    chunks = [c async for c in BPORewriter(engine()).astream("u")]
    assert chunks == ["u" + SUFFIX]


def test_wrong_input_types_are_explained() -> None:
    with pytest.raises(ConfigError, match="key="):
        BPORewriter(engine()).invoke({"question": "x"})
    with pytest.raises(ConfigError, match="needs a dict"):
        BPORewriter(engine(), key="q").invoke("x")
    with pytest.raises(ConfigError, match="keep_original"):
        BPORewriter(engine(), keep_original="o")
    with pytest.raises(TypeError):
        BPORewriter(CoreRewriter(engine()), mode="stable")


def test_protected_spans_and_core_rewriter_accepted() -> None:
    core = CoreRewriter(engine())
    step = BPORewriter(core, protected=["What is rain?"])
    assert step.invoke("What is rain?") == "What is rain?" + SUFFIX
    assert core.stats.prompts == 1


def test_fallback_keeps_original() -> None:
    broken = Engine(roles={"rewriter": ScriptedChatModel(default="")})
    assert BPORewriter(broken).invoke("Keep me.") == "Keep me."


async def test_callbacks_nest_llm_runs_under_bpo(recorder: RecordingHandler) -> None:
    reply = "<prompt>Tell me why the sky is blue, with the physics.</prompt>"
    lc_engine = Engine(roles={"rewriter": LangChainChatModel(FakeListChatModel(responses=[reply]))})
    chain = BPORewriter(lc_engine, key="question").with_config(run_name="bpo") | echo_chain()
    out = await chain.ainvoke({"question": "why is the sky blue"}, {"callbacks": [recorder]})
    assert out == "Tell me why the sky is blue, with the physics."
    [(seq_id, _)] = [(r, p) for r, p in recorder.runs("chain") if p is None]
    [(bpo_id, bpo_parent)] = recorder.runs("chain", "bpo")
    assert bpo_parent == seq_id
    [(_, llm_parent)] = recorder.runs("chat_model")
    assert llm_parent == bpo_id


def test_sync_callbacks_nest_too(recorder: RecordingHandler) -> None:
    reply = "<prompt>Describe the water cycle and how rain forms in clouds.</prompt>"
    lc_engine = Engine(roles={"rewriter": LangChainChatModel(FakeListChatModel(responses=[reply]))})
    step = BPORewriter(lc_engine)
    step.invoke("how does rain form", {"callbacks": [recorder]})
    [(bpo_id, _)] = recorder.runs("chain", "BPORewriter")
    [(_, llm_parent)] = recorder.runs("chat_model")
    assert llm_parent == bpo_id


def test_insert_bpo_before_first_prompt() -> None:
    chain = echo_chain() | StrOutputParser()
    before = dumps(chain)
    new = insert_bpo(chain, engine())
    assert dumps(chain) == before
    assert new.invoke({"question": "q"}) == "q" + SUFFIX
    assert chain.invoke({"question": "q"}) == "q"
    assert len({ref.path for ref in find_prompts(new)}) == 1


def test_insert_bpo_key_rules() -> None:
    prompt = ChatPromptTemplate.from_messages([("system", "In {lang}."), ("human", "{question}")])
    chain = prompt | RunnableLambda(lambda v: v.to_messages()[-1].text)
    with pytest.raises(ConfigError, match="key="):
        insert_bpo(chain, engine())
    with pytest.raises(ConfigError, match="not an input variable"):
        insert_bpo(chain, engine(), key="other")
    step = BPORewriter(engine(), key="question")
    new = insert_bpo(chain, step)
    assert new.invoke({"question": "q", "lang": "en"}) == "q" + SUFFIX
    retargeted = insert_bpo(
        prompt | RunnableLambda(lambda v: v.to_messages()[0].text), step, key="lang"
    )
    assert retargeted.invoke({"question": "q", "lang": "en"}).startswith("In en" + SUFFIX[:8])


def test_default_rewriter_is_built_lazily() -> None:
    step = BPORewriter(mode="aggressive", rounds=2)
    assert isinstance(step.rewriter, CoreRewriter)
    assert (step.rewriter.mode, step.rewriter.rounds) == ("aggressive", 2)
