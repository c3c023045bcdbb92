"""Prompt discovery, editable text, rebuilding, verified in-place updates and copy mode."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.indices.query.query_transform import HyDEQueryTransform
from llama_index.core.llms import MockLLM
from llama_index.core.output_parsers import PydanticOutputParser
from llama_index.core.prompts import (
    ChatPromptTemplate,
    PromptTemplate,
    RichPromptTemplate,
    SelectorPromptTemplate,
)
from llama_index.core.prompts.mixin import PromptDictType, PromptMixin, PromptMixinType
from llama_index.core.query_engine import TransformQueryEngine
from pydantic import BaseModel

from apo_core import ScriptedChatModel
from llama_index_apo import (
    EngineLLM,
    PromptUpdateError,
    copy_module,
    discover_prompts,
    editable,
    find_prompt,
    set_prompt,
    template_variables,
    with_prompt,
)

QA = "response_synthesizer:text_qa_template"
NEW_QA = "Facts:\n{context_str}\nQuestion: {query_str}\nShort answer:"


class Out(BaseModel):
    answer: str


class Deaf(PromptMixin):
    """A module whose _update_prompts ignores what it is given."""

    def __init__(self) -> None:
        self.prompt = PromptTemplate("hello {name}")

    def _get_prompts(self) -> PromptDictType:
        return {"greeting": self.prompt}

    def _update_prompts(self, prompts_dict: PromptDictType) -> None:
        return None

    def _get_prompt_modules(self) -> PromptMixinType:
        return {}


def _nested(query_engine: BaseQueryEngine, llm: Any) -> TransformQueryEngine:
    inner = TransformQueryEngine(query_engine, HyDEQueryTransform(llm=llm))
    return TransformQueryEngine(inner, HyDEQueryTransform(llm=llm))


def test_discovery_finds_every_key_at_any_depth(query_engine: BaseQueryEngine, llm: Any) -> None:
    outer = _nested(query_engine, llm)
    keys = set(discover_prompts(outer))
    assert f"query_engine:query_engine:{QA}" in keys  # four levels
    assert "query_engine:query_transform:hyde_prompt" in keys
    assert keys == set(outer.get_prompts())
    # the stored objects themselves, not get_prompts()' deep copies
    stored = discover_prompts(query_engine)[QA]
    assert stored is query_engine._response_synthesizer._text_qa_template  # type: ignore[attr-defined]


def test_set_prompt_on_keys_llama_index_cannot_update(
    query_engine: BaseQueryEngine, llm: Any, task_model: ScriptedChatModel
) -> None:
    outer = _nested(query_engine, llm)
    key = f"query_engine:query_engine:{QA}"
    new = PromptTemplate(NEW_QA)
    with pytest.raises(ValueError, match="too many values"):
        outer.update_prompts({key: new})  # LlamaIndex's own bug, worked around below
    set_prompt(outer, key, new)
    assert outer.get_prompts()[key].get_template() == NEW_QA
    assert find_prompt(query_engine, QA).template is new  # applied in place, all the way down
    query_engine.query("capital of Spain?")
    assert task_model.calls[-1].last_user.startswith("Facts:")


def test_set_prompt_errors_are_clear(query_engine: BaseQueryEngine) -> None:
    new = PromptTemplate(NEW_QA)
    with pytest.raises(PromptUpdateError, match="no prompt 'response_synthesizer:nope'"):
        set_prompt(query_engine, "response_synthesizer:nope", new)
    with pytest.raises(PromptUpdateError, match="no prompt module 'retriever'"):
        set_prompt(query_engine, "retriever:text_qa_template", new)
    with pytest.raises(PromptUpdateError, match="did not apply 'greeting'"):
        set_prompt(Deaf(), "greeting", PromptTemplate("bye {name}"))


def test_selector_edits_what_the_llm_uses(query_engine: BaseQueryEngine, llm: EngineLLM) -> None:
    chat = find_prompt(query_engine, QA)  # the engine's LLM is a chat model
    assert isinstance(chat.template, SelectorPromptTemplate)
    assert isinstance(chat.effective, ChatPromptTemplate)
    assert chat.variables == {"context_str", "query_str"} and "Query: {query_str}" in chat.text
    system = find_prompt(query_engine, QA, part="system")
    assert system.variables == set() and system.text.startswith("You are an expert Q&A system")
    plain = find_prompt(query_engine, QA, llm=MockLLM())  # completion model: the default
    assert isinstance(plain.effective, PromptTemplate) and plain.variables == chat.variables

    rebuilt = chat.with_text(NEW_QA)
    assert isinstance(rebuilt, SelectorPromptTemplate)
    assert rebuilt.default_template is chat.template.default_template  # type: ignore[attr-defined]
    used = rebuilt.select(llm)
    assert isinstance(used, ChatPromptTemplate)
    assert [m.role.value for m in used.message_templates] == ["system", "user"]
    assert used.message_templates[1].content == NEW_QA
    assert used.message_templates[0].content == system.text  # the system message is kept
    assert set(used.template_vars) == {"context_str", "query_str"}


def test_rebuild_keeps_class_and_everything_but_the_text() -> None:
    parser = PydanticOutputParser(Out)

    def shout(**kwargs: Any) -> str:
        return str(kwargs["name"]).upper()

    original = PromptTemplate(
        "Hi {name} from {place} {extra}",
        output_parser=parser,
        function_mappings={"name": shout},
        template_var_mappings={"city": "place"},
        extra="!",
    )
    rebuilt = editable(original).with_text("Bye {name} from {place} {extra}")
    assert type(rebuilt) is PromptTemplate
    assert rebuilt.output_parser is parser and rebuilt.kwargs == {"extra": "!"}
    assert rebuilt.template_var_mappings == {"city": "place"}
    assert rebuilt.format(name="ann", city="Oslo").startswith("Bye ANN from Oslo !")
    assert set(rebuilt.template_vars) == {"name", "place", "extra"}


def test_chat_and_rich_templates() -> None:
    chat = ChatPromptTemplate.from_messages([("system", "Be brief."), ("user", "Q: {q}")])
    sys_part = editable(chat, part="system")
    assert sys_part.text == "Be brief." and sys_part.variables == set()
    user = editable(chat).with_text("Question: {q}\nAnswer in one word.")
    assert isinstance(user, ChatPromptTemplate)
    assert user.format_messages(q="why")[1].content == "Question: why\nAnswer in one word."
    by_index = editable(chat, part=0).with_text("Be very brief.")
    assert by_index.format_messages(q="x")[0].content == "Be very brief."
    with pytest.raises(PromptUpdateError, match="no 'assistant' message"):
        editable(chat, part="assistant")

    rich = RichPromptTemplate("Answer {{ question }} using {{ context }}.")
    view = editable(rich)
    assert view.variables == {"question", "context"}
    new = view.with_text("Use {{ context }} to answer {{ question }} briefly.")
    assert isinstance(new, RichPromptTemplate)
    assert new.format(question="q", context="c") == "Use c to answer q briefly."
    assert view.variables_of("only {{ question }}") == {"question"}


def test_variables_follow_llama_index_parser() -> None:
    assert template_variables('Return {"k": 1} for {x}') == {"x"}  # JSON is not a variable
    assert template_variables("{{ a }}", RichPromptTemplate) == {"a"}


def test_copy_mode_leaves_the_original_alone(
    query_engine: BaseQueryEngine, llm: EngineLLM, task_model: ScriptedChatModel
) -> None:
    before = find_prompt(query_engine, QA).text
    template = find_prompt(query_engine, QA).with_text(NEW_QA)
    copy = with_prompt(query_engine, QA, template)
    assert copy is not query_engine
    assert find_prompt(query_engine, QA).text == before
    assert find_prompt(copy, QA).text == NEW_QA
    # prompt-bearing modules are copied; LLM, engine and index are shared
    synth, original_synth = copy._response_synthesizer, query_engine._response_synthesizer  # type: ignore[attr-defined]
    assert synth is not original_synth and synth._llm is llm
    assert copy._retriever is not query_engine._retriever  # type: ignore[attr-defined]
    assert copy._retriever._index is query_engine._retriever._index  # type: ignore[attr-defined]
    copy.query("capital of Italy?")
    assert task_model.calls[-1].last_user.startswith("Facts:")
    query_engine.query("capital of Italy?")
    assert task_model.calls[-1].last_user.startswith("Context information")
    set_prompt(query_engine, QA, template)  # the in-place variant
    assert find_prompt(query_engine, QA).text == NEW_QA


def test_with_prompt_takes_text_and_returns_a_working_copy(
    query_engine: BaseQueryEngine, task_model: ScriptedChatModel
) -> None:
    before = find_prompt(query_engine, QA)
    copy = with_prompt(query_engine, QA, NEW_QA)  # text, as the docs show
    applied = find_prompt(copy, QA)
    assert applied.text == NEW_QA
    assert type(applied.template) is type(before.template)  # still a selector
    assert find_prompt(query_engine, QA).template is before.template
    assert str(query_engine.query("capital of Italy?")) == "ok"  # the original still works
    assert task_model.calls[-1].last_user.startswith("Context information")
    assert str(copy.query("capital of Italy?")) == "ok"
    assert task_model.calls[-1].last_user.startswith("Facts:")
    system = with_prompt(query_engine, QA, "Answer in one word.", part="system")
    chat = find_prompt(system, QA, part="system")
    assert chat.text == "Answer in one word."
    assert find_prompt(system, QA).text == before.text  # the user message is kept


def test_set_prompt_takes_text_in_place(query_engine: BaseQueryEngine) -> None:
    set_prompt(query_engine, QA, NEW_QA)
    assert find_prompt(query_engine, QA).text == NEW_QA
    assert str(query_engine.query("capital of Italy?")) == "ok"


def test_new_text_with_unknown_variables_is_refused(query_engine: BaseQueryEngine) -> None:
    before = find_prompt(query_engine, QA).template
    with pytest.raises(PromptUpdateError, match=r"uses \['language'\], which the module never"):
        with_prompt(query_engine, QA, "Answer {query_str} in {language}")
    with pytest.raises(PromptUpdateError, match="never fills"):
        set_prompt(query_engine, QA, "Answer {query_str} in {language}")
    assert find_prompt(query_engine, QA).template is before
    with pytest.raises(PromptUpdateError, match="a text or a LlamaIndex template, not int"):
        with_prompt(query_engine, QA, 42)  # type: ignore[arg-type]


def test_copy_module_handles_shared_and_cyclic_modules(query_engine: BaseQueryEngine) -> None:
    both = TransformQueryEngine(query_engine, HyDEQueryTransform(llm=MockLLM()))
    both.extra = [query_engine, {"again": query_engine}]  # type: ignore[attr-defined]
    copied = copy_module(both)
    inner = copied._query_engine
    assert inner is not query_engine
    assert copied.extra[0] is inner and copied.extra[1]["again"] is inner  # type: ignore[attr-defined]
    synthesizer = inner._response_synthesizer
    assert synthesizer is not query_engine._response_synthesizer  # type: ignore[attr-defined]
    assert synthesizer._program_factory.__self__ is synthesizer  # bound methods follow the copy


def test_deep_copy_mode(query_engine: BaseQueryEngine, llm: EngineLLM) -> None:
    template = find_prompt(query_engine, QA).with_text(NEW_QA)
    copy = with_prompt(query_engine, QA, template, deep=True)
    assert find_prompt(copy, QA).text == NEW_QA
    assert find_prompt(query_engine, QA).text != NEW_QA
    index = query_engine._retriever._index  # type: ignore[attr-defined]
    assert copy._retriever._index is not index  # type: ignore[attr-defined]
    assert copy._response_synthesizer._llm.engine is llm.engine  # type: ignore[attr-defined]
    assert str(copy.query("capital of Italy?")) == "ok"
