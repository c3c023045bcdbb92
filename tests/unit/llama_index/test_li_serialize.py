"""Optimized LlamaIndex templates saved to a JSON file and loaded back (issue 13, item 9)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llama_index.core import VectorStoreIndex
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.llms import MockLLM
from llama_index.core.output_parsers import PydanticOutputParser
from llama_index.core.prompts import (
    BasePromptTemplate,
    ChatPromptTemplate,
    PromptTemplate,
    RichPromptTemplate,
    SelectorPromptTemplate,
)
from llama_index.core.prompts.default_prompt_selectors import DEFAULT_TEXT_QA_PROMPT_SEL
from llama_index.core.prompts.prompt_type import PromptType
from pydantic import BaseModel

from apo_core import Engine, ScriptedChatModel
from llama_index_apo import (
    APOPromptOptimizer,
    EngineLLM,
    PromptFileError,
    find_prompt,
    load_template,
    load_templates,
    loads_templates,
    save_templates,
    set_prompt,
    template_from_dict,
    template_to_dict,
)

QA = "response_synthesizer:text_qa_template"


class Answer(BaseModel):
    city: str


def shout(**kwargs: Any) -> str:
    return str(kwargs["context_str"]).upper()


def never(llm: Any) -> bool:
    return False


def roundtrip(template: BasePromptTemplate, **resolvers: Any) -> BasePromptTemplate:
    text = json.dumps(template_to_dict(template))  # really through JSON text
    return template_from_dict(json.loads(text), **resolvers)


def test_model_dump_json_fails_which_is_why_this_exists() -> None:
    with pytest.raises(Exception):  # noqa: B017  (pydantic cannot serialize the functions)
        DEFAULT_TEXT_QA_PROMPT_SEL.model_dump_json()


def test_text_chat_and_rich_templates_round_trip() -> None:
    text = PromptTemplate(
        "Answer {q} in {lang} for {who}",
        prompt_type=PromptType.QUESTION_ANSWER,
        template_var_mappings={"question": "q"},
        metadata={"owner": "team-a"},
        lang="French",
    )
    back = roundtrip(text)
    assert type(back) is PromptTemplate and back.get_template() == text.get_template()
    assert back.metadata == text.metadata and back.kwargs == {"lang": "French"}
    assert back.template_var_mappings == {"question": "q"}
    assert back.format(question="why?", who="me") == text.format(question="why?", who="me")

    chat = ChatPromptTemplate(
        [
            ChatMessage(role=MessageRole.SYSTEM, content="Be brief.", additional_kwargs={"k": 1}),
            ChatMessage(role=MessageRole.USER, content="{context_str}\nQ: {query_str}"),
        ],
        prompt_type=PromptType.CUSTOM,
    )
    back = roundtrip(chat)
    assert isinstance(back, ChatPromptTemplate)
    assert [(m.role, m.content, m.additional_kwargs) for m in back.message_templates] == [
        (m.role, m.content, m.additional_kwargs) for m in chat.message_templates
    ]
    assert back.format_messages(context_str="c", query_str="q") == chat.format_messages(
        context_str="c", query_str="q"
    )

    rich = RichPromptTemplate("Use {{ context }} to answer {{ question }}.", tone="dry")
    back = roundtrip(rich)
    assert isinstance(back, RichPromptTemplate) and back.template_str == rich.template_str
    assert back.format(context="c", question="q") == rich.format(context="c", question="q")


def test_a_llama_index_selector_round_trips_with_its_own_condition() -> None:
    back = roundtrip(DEFAULT_TEXT_QA_PROMPT_SEL)
    assert isinstance(back, SelectorPromptTemplate)
    for llm in (MockLLM(), EngineLLM(Engine(ScriptedChatModel(default="ok")))):  # text, chat
        chosen, original = back.select(llm), DEFAULT_TEXT_QA_PROMPT_SEL.select(llm)
        assert type(chosen) is type(original)
        assert chosen.get_template() == original.get_template()


def test_functions_are_not_saved_and_loading_asks_for_them() -> None:
    template = PromptTemplate(
        "Context: {context_str}",
        function_mappings={"context_str": shout},
        output_parser=PydanticOutputParser(Answer),
    )
    data = template_to_dict(template)
    assert data["function_mappings"] == {"context_str": f"{__name__}:shout"}
    with pytest.raises(PromptFileError, match=r"maps \['context_str'\] through functions"):
        template_from_dict(data, output_parser=PydanticOutputParser(Answer))
    with pytest.raises(PromptFileError, match="pass output_parser="):
        template_from_dict(data, function_mappings={"context_str": shout})
    back = template_from_dict(
        data, function_mappings={"context_str": shout}, output_parser=PydanticOutputParser(Answer)
    )
    assert back.format(context_str="paris").startswith("Context: PARIS")

    selector = SelectorPromptTemplate(
        PromptTemplate("default {x}"), conditionals=[(never, PromptTemplate("other {x}"))]
    )
    with pytest.raises(PromptFileError, match=r"condition never was not saved.*predicates="):
        roundtrip(selector)
    back = roundtrip(selector, predicates={"never": never})
    assert back.select(MockLLM()).get_template() == "default {x}"


def test_values_json_cannot_hold_fail_before_anything_is_written(tmp_path: Path) -> None:
    template = PromptTemplate("{a}", metadata={"made_by": object()})
    path = tmp_path / "prompts.json"
    with pytest.raises(PromptFileError, match="metadata 'made_by' holds a object"):
        save_templates(path, {"k": template})
    assert list(tmp_path.iterdir()) == []


def test_bad_files_are_one_line_errors(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    with pytest.raises(PromptFileError, match="cannot read"):
        load_templates(path)
    path.write_text("{not json")
    with pytest.raises(PromptFileError, match="invalid JSON"):
        load_template(path)
    path.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(PromptFileError, match="its format is not"):
        load_template(path)
    save_templates(path, {"a": PromptTemplate("{x}"), "b": PromptTemplate("{y}")})
    with pytest.raises(PromptFileError, match=r"holds 2 templates \(\['a', 'b'\]\): pass key="):
        load_template(path)
    with pytest.raises(PromptFileError, match="has no template 'c'"):
        load_template(path, "c")
    assert load_template(path, "b").get_template() == "{y}"
    data = json.loads(path.read_text())
    data["version"] = 99
    with pytest.raises(PromptFileError, match="version 99"):
        loads_templates(json.dumps(data))
    data["version"], data["prompts"]["a"]["class"] = 1, "MysteryTemplate"
    with pytest.raises(PromptFileError, match="unknown template class 'MysteryTemplate'"):
        loads_templates(json.dumps(data))
    del data["prompts"]["a"]["class"]
    with pytest.raises(PromptFileError, match="not a saved template"):
        loads_templates(json.dumps(data))


SAFE_TEXT = st.text(
    alphabet=st.characters(blacklist_characters="{}", blacklist_categories=("Cs",)), max_size=80
)


@settings(max_examples=40, deadline=None)
@given(system=SAFE_TEXT, user=SAFE_TEXT)
def test_any_text_round_trips(system: str, user: str) -> None:
    chat = ChatPromptTemplate(
        [
            ChatMessage(role=MessageRole.SYSTEM, content=system),
            ChatMessage(role=MessageRole.USER, content=user + "{query_str}"),
        ]
    )
    back = loads_templates(
        json.dumps(
            {
                "format": "apo-bpo/llama-index-prompts",
                "version": 1,
                "prompts": {"k": template_to_dict(chat)},
            }
        )
    )["k"]
    assert back.format_messages(query_str="q") == chat.format_messages(query_str="q")
    text = roundtrip(PromptTemplate(user + "{x}"))
    assert text.format(x="1") == user + "1"


def test_an_optimized_result_is_saved_and_applied_to_a_fresh_engine(
    index: VectorStoreIndex, tmp_path: Path
) -> None:
    optimizer_reply = json.dumps({"prompts": ["Facts: {context_str}\nQ: {query_str}\nA:"]})
    engine = Engine(
        ScriptedChatModel(default="ok"),
        roles={"optimizer": ScriptedChatModel(default=optimizer_reply)},
    )
    rag = index.as_query_engine(llm=EngineLLM(engine), similarity_top_k=1)
    rows = [{"query": f"q{i}?", "label": "ok"} for i in range(8)]
    result = APOPromptOptimizer(rag, QA, rounds=1, beam_size=2, minibatch_size=2).optimize(
        rows, metric="exact_match", inplace=False
    )
    path = result.save(tmp_path / "prompts.json")
    assert json.loads(result.to_json()) == json.loads(path.read_text())
    fresh = index.as_query_engine(llm=EngineLLM(engine), similarity_top_k=1)
    loaded = load_template(path)
    assert isinstance(loaded, SelectorPromptTemplate)  # the class survives
    set_prompt(fresh, QA, loaded)
    assert find_prompt(fresh, QA).text == find_prompt(result.module, QA).text
    assert str(fresh.query("q1?")) == "ok"
