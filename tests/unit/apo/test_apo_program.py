"""TemplateProgram: variables, safe rendering, task-role calls, per-example errors."""

from __future__ import annotations

import pytest

from apo_core import Budget, BudgetExceeded, ConfigError, Engine, ScriptedChatModel
from apo_core.data import Example
from apo_core.program import PromptProgram, TemplateProgram, fstring_fields, render_fstring


def test_variables_and_escaped_braces() -> None:
    program = TemplateProgram()
    assert program.variables("Q: {question}\nA {{json}} {question} {ctx}") == {"question", "ctx"}
    assert program.variables("no variables here") == set()
    assert isinstance(program, PromptProgram)


@pytest.mark.parametrize("bad", ["lone { brace", "a } b", "{0}", "{}", "{a.b}", "{x!r}", "{x:>3}"])
def test_unsafe_fields_do_not_parse(bad: str) -> None:
    with pytest.raises(ValueError):
        fstring_fields(bad)


def test_braces_in_data_are_inserted_verbatim() -> None:
    text = render_fstring("In: {text} {{lit}}", {"text": "{evil} {0} {x.__class__} }{"})
    assert text == "In: {evil} {0} {x.__class__} }{ {lit}"


def test_unknown_template_format_is_rejected() -> None:
    with pytest.raises(ConfigError):
        TemplateProgram("jinja2")


async def test_arun_calls_task_role_at_temperature_zero_with_system_and_parse() -> None:
    task = ScriptedChatModel(default=lambda r: f"  echo:{r.last_user}  ")
    other = ScriptedChatModel(default="wrong role")
    engine = Engine(other, roles={"task": task})
    program = TemplateProgram(system="Be brief.", parse=lambda s: s.strip().upper(), max_tokens=5)
    examples = [Example(inputs={"text": "a {b}"}, output="x"), Example(inputs={"text": "c"})]
    out = await program.arun("T: {text}", examples, engine)
    assert out == ["ECHO:T: A {B}", "ECHO:T: C"]
    assert len(task.calls) == 2 and other.calls == []
    for call in task.calls:
        assert call.messages[0].role == "system" and call.messages[0].content == "Be brief."
        assert call.params.temperature == 0.0 and call.params.max_tokens == 5


async def test_prompt_without_variables_gets_inputs_appended() -> None:
    task = ScriptedChatModel(default=lambda r: r.last_user)
    engine = Engine(task)
    out = await TemplateProgram().arun(
        "Is it a lie?", [Example(inputs={"text": "sky is green"})], engine
    )
    assert out == ["Is it a lie?\n\ntext: sky is green"]


async def test_errors_are_values_not_raised() -> None:
    task = ScriptedChatModel(rules=[("boom", RuntimeError("model exploded"))], default="fine")
    engine = Engine(task, max_attempts=1)
    examples = [
        Example(inputs={"text": "ok"}),
        Example(inputs={"text": "boom"}),
        Example(inputs={"other": "missing variable"}),
    ]
    out = await TemplateProgram().arun("{text}", examples, engine)
    assert out[0] == "fine"
    assert isinstance(out[1], Exception)
    assert isinstance(out[2], KeyError)


async def test_budget_exhaustion_is_returned_for_the_caller_to_stop() -> None:
    engine = Engine(ScriptedChatModel(default="x"), budget=Budget(max_calls=1))
    out = await TemplateProgram().arun(
        "{text}", [Example(inputs={"text": "a"}), Example(inputs={"text": "b"})], engine
    )
    assert sum(isinstance(o, BudgetExceeded) for o in out) == 1
    assert out.count("x") == 1
