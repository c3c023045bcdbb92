"""The prompt walker: find, select and replace prompts in every kind of container."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.language_models import FakeListChatModel
from langchain_core.load import dumps
from langchain_core.messages import SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder, PromptTemplate
from langchain_core.runnables import (
    ConfigurableField,
    Runnable,
    RunnableBranch,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
)

from langchain_apo.walker import (
    PromptNotFoundError,
    find_prompts,
    replace_text,
    select_prompt,
    template_variables,
    with_text,
)

LLM = FakeListChatModel(responses=["ok"])


def chat() -> ChatPromptTemplate:
    return ChatPromptTemplate.from_messages(
        [("system", "You are {persona}. Use {{json}}."), ("human", "{question}")]
    ).partial(persona="helpful")


def text_prompt() -> PromptTemplate:
    return PromptTemplate.from_template("Summarize: {text}")


def containers() -> dict[str, Runnable[Any, Any]]:
    c = chat()
    return {
        "sequence": c | LLM | StrOutputParser(),
        "parallel": RunnableParallel(a=c | LLM, b=RunnablePassthrough()),
        "binding": (c | LLM).with_config(run_name="named"),
        "bind": c | LLM.bind(stop=["x"]),
        "retry": (c | LLM).with_retry(stop_after_attempt=2),
        "fallbacks": (RunnableLambda(lambda x: x) | LLM).with_fallbacks([c | LLM]),
        "fallback_primary": (c | LLM).with_fallbacks([c | LLM]),
        "branch": RunnableBranch((lambda x: False, LLM), c | LLM),
        "branch_condition": RunnableBranch((lambda x: True, c | LLM), LLM),
        "assign": RunnablePassthrough.assign(answer=c | LLM | StrOutputParser()),
        "configurable_fields": c.configurable_fields(input_types=ConfigurableField(id="types")),
        "alternatives": c.configurable_alternatives(
            ConfigurableField(id="variant"), other=text_prompt()
        ),
        "bare": c,
    }


@pytest.mark.parametrize("kind", list(containers()))
def test_find_and_replace_in_every_container(kind: str) -> None:
    chain = containers()[kind]
    before = dumps(chain)
    refs = find_prompts(chain)
    system = select_prompt(chain)
    assert system.role == "system" and system.text == "You are {persona}. Use {{json}}."
    assert system in refs
    new = replace_text(chain, "Act as {persona} in {style}. Keep {{braces}}.")
    assert dumps(chain) == before  # the user's chain is untouched
    assert new is not chain
    replaced = select_prompt(new)
    assert replaced.text == "Act as {persona} in {style}. Keep {{braces}}."
    assert replaced.path == system.path
    prompt = replaced.prompt
    assert set(prompt.input_variables) == {"question", "style"}
    assert prompt.partial_variables == {"persona": "helpful"}
    rendered = prompt.invoke({"question": "Q?", "style": "verse"}).to_messages()
    assert rendered[0].text == "Act as helpful in verse. Keep {braces}."
    assert rendered[1].text == "Q?"


def test_replaced_chain_runs_with_new_prompt() -> None:
    seen: list[str] = []

    def spy(value: Any) -> str:
        seen.append(value.to_messages()[0].text)
        return "done"

    chain = chat() | RunnableLambda(spy)
    new = replace_text(chain, "Be {persona}, always.")
    assert new.invoke({"question": "q"}) == "done"
    chain.invoke({"question": "q"})
    assert seen == ["Be helpful, always.", "You are helpful. Use {json}."]


def test_listing_names_roles_and_paths() -> None:
    named = PromptTemplate.from_template("Title: {t}").with_config(run_name="unused")
    chain = RunnableParallel(a=chat() | LLM, b=named | LLM)
    refs = find_prompts(chain)
    assert [(r.index, r.name, r.role) for r in refs] == [
        (0, "prompt0.system", "system"),
        (1, "prompt0.human", "human"),
        (2, "prompt1", None),
    ]
    assert refs[0].location == "steps__.a.first.messages[0]"
    assert refs[2].location == "steps__.b.first.bound"


def test_select_by_index_name_role_object() -> None:
    prompt = chat()
    other = text_prompt()
    chain = RunnableParallel(a=prompt | LLM, b=other | LLM)
    assert select_prompt(chain, 2).text == "Summarize: {text}"
    assert select_prompt(chain, "prompt1").text == "Summarize: {text}"
    assert select_prompt(chain, "prompt0.human").text == "{question}"
    assert select_prompt(chain, "user").text == "{question}"
    assert select_prompt(chain, "system").role == "system"
    assert select_prompt(chain, "prompt0").role == "system"
    assert select_prompt(chain, other).index == 2
    ref = select_prompt(chain, 1)
    assert select_prompt(chain, ref) == ref
    with pytest.raises(PromptNotFoundError, match=r"prompt0\.system"):
        select_prompt(chain, "nope")
    with pytest.raises(PromptNotFoundError):
        select_prompt(chain, 7)


def test_default_needs_a_choice_without_system_message() -> None:
    prompt = ChatPromptTemplate.from_messages([("human", "{a}"), ("ai", "ok"), ("human", "{b}")])
    with pytest.raises(PromptNotFoundError, match="target="):
        select_prompt(prompt)
    refs = find_prompts(prompt)
    assert [r.name for r in refs] == ["prompt0.human[0]", "prompt0.ai", "prompt0.human[2]"]
    only = ChatPromptTemplate.from_messages([MessagesPlaceholder("history"), ("human", "{q}")])
    assert select_prompt(only).role == "human"


def test_named_prompt_and_static_message() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [SystemMessage(content="Static {not a var}"), ("human", "{q}")]
    )
    prompt.name = "qa"
    ref = select_prompt(prompt)
    assert ref.name == "qa.system" and ref.template_format == "literal"
    assert ref.variables() == set()
    new = with_text(ref, "Changed {still literal}")
    rendered = new.invoke({"q": "x"}).to_messages()
    assert rendered[0].text == "Changed {still literal}"
    assert new.name == "qa"


def test_mustache_format_and_message_partials_preserved() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Hi {{name}}"), ("human", "{{q}}")], template_format="mustache"
    )
    ref = select_prompt(prompt)
    assert ref.template_format == "mustache" and ref.variables() == {"name"}
    new = with_text(ref, "Hello {{name}} from {{place}}")
    assert set(new.input_variables) == {"name", "place", "q"}
    msg = new.invoke({"name": "A", "place": "B", "q": "c"}).to_messages()[0]
    assert msg.text == "Hello A from B"


def test_string_prompt_rebuild_keeps_partials_and_format() -> None:
    prompt = PromptTemplate.from_template("{a} and {b}", partial_variables={"b": "B"})
    new = with_text(select_prompt(prompt), "{a}, {b} or {c}")
    assert isinstance(new, PromptTemplate)
    assert set(new.input_variables) == {"a", "c"} and new.partial_variables == {"b": "B"}
    assert new.format(a="A", c="C") == "A, B or C"
    assert prompt.template == "{a} and {b}"


def test_structured_prompt_keeps_schema() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from langchain_core.prompts.structured import StructuredPrompt

        schema = {"title": "Out", "type": "object", "properties": {"y": {"type": "string"}}}
        prompt = StructuredPrompt([("system", "Sys {a}"), ("human", "{b}")], schema_=schema)
        new = with_text(select_prompt(prompt), "New {a} {c}")
    assert type(new) is StructuredPrompt and new.schema_ == schema
    assert set(new.input_variables) == {"a", "b", "c"}


def test_lambda_is_opaque() -> None:
    hidden: Runnable[Any, Any] = RunnableLambda(lambda x: chat().invoke(x)) | LLM
    with pytest.raises(PromptNotFoundError, match="opaque"):
        select_prompt(hidden)
    assert find_prompts(hidden) == []


def test_template_variables_uses_langchain_parser() -> None:
    assert template_variables("{a} {{b}} {c}", "f-string") == {"a", "c"}
    assert template_variables("{{a}} {{#s}}{{b}}{{/s}}", "mustache") >= {"a", "s"}
    assert template_variables("{x}", "literal") == set()


NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
LITERAL = st.text(
    alphabet=st.characters(blacklist_characters="{}", blacklist_categories=["Cs"]), max_size=8
)
SEGMENT = st.one_of(
    LITERAL.map(lambda s: ("lit", s)),
    st.sampled_from(["{{", "}}"]).map(lambda s: ("esc", s)),
    NAMES.map(lambda n: ("var", n)),
)


def build(segments: list[tuple[str, str]]) -> tuple[str, set[str], dict[str, str], str]:
    """Template text, its variables, values for them and the expected rendering."""
    template, expected = "", ""
    names = {value for kind, value in segments if kind == "var"}
    values = {name: f"<{name}>" for name in names}
    for kind, value in segments:
        template += "{" + value + "}" if kind == "var" else value
        expected += values[value] if kind == "var" else value[:1] if kind == "esc" else value
    return template, names, values, expected


@settings(max_examples=60, deadline=None)
@given(st.lists(SEGMENT, max_size=8), st.lists(SEGMENT, max_size=8))
def test_replace_preserves_variables_and_escapes(
    old: list[tuple[str, str]], new: list[tuple[str, str]]
) -> None:
    old_text, old_vars, _, _ = build(old)
    new_text, new_vars, values, expected = build(new)
    prompt = ChatPromptTemplate.from_messages([("system", old_text), ("human", "{zz_question}")])
    chain = prompt | LLM
    before = dumps(chain)
    assert select_prompt(chain).variables() == old_vars
    replaced = replace_text(chain, new_text)
    assert dumps(chain) == before
    ref = select_prompt(replaced)
    assert ref.text == new_text and ref.variables() == new_vars
    assert set(ref.prompt.input_variables) == new_vars | {"zz_question"}
    messages = ref.prompt.invoke({**values, "zz_question": "q"}).to_messages()
    assert messages[0].text == expected


def test_unsupported_prompt_kinds_are_named() -> None:
    from langchain_core.prompts import FewShotPromptTemplate

    few_shot = FewShotPromptTemplate(
        examples=[{"q": "1"}],
        example_prompt=PromptTemplate.from_template("Q: {q}"),
        suffix="Q: {input}",
        input_variables=["input"],
    )
    with pytest.raises(PromptNotFoundError, match="FewShotPromptTemplate at first"):
        select_prompt(few_shot | LLM)


def test_placeholders_and_optional_variables_survive() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "S {a}"), MessagesPlaceholder("history", optional=True), ("human", "{q}")]
    )
    new = with_text(select_prompt(prompt), "New {a} {b}")
    assert set(new.input_variables) == {"a", "b", "q"}
    assert new.optional_variables == ["history"] and "history" in new.input_types
    messages = new.invoke({"a": 1, "b": 2, "q": "x"}).to_messages()
    assert [m.text for m in messages] == ["New 1 2", "x"]


def test_a_prompt_used_at_several_paths_is_replaced_at_all_of_them() -> None:
    shared = chat()
    chain = RunnableParallel(a=shared | LLM, b={"x": shared | LLM}, c=chat() | LLM)
    refs = find_prompts(chain)
    first = select_prompt(chain, shared)
    assert len(first.also_at) == 1 and first.paths[0] == first.path
    assert "also at" in str(first)
    assert [r.also_at for r in refs if r.prompt is not shared] == [(), ()]  # c is its own
    before = dumps(chain)
    new = replace_text(chain, "NEW {persona}", shared)
    texts = [(r.path, r.text) for r in find_prompts(new) if r.role == "system"]
    assert [t for p, t in texts if p in first.paths] == ["NEW {persona}"] * 2
    assert [t for p, t in texts if p not in first.paths] == ["You are {persona}. Use {{json}}."]
    assert dumps(chain) == before  # the user's chain is untouched
