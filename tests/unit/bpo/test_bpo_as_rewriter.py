"""as_rewriter: the one place both adapters turn "a rewriter, an engine or a chat model" into a
rewriter, with each framework's own ``adapt`` (issue 13, item 7)."""

from __future__ import annotations

from typing import Any

import pytest

from apo_core import ConfigError, Engine, ScriptedChatModel
from apo_core.bpo import BPORewriter, as_rewriter
from apo_core.models import ChatModel, as_chat_model, role_models

REWRITE = "Explain photosynthesis in three short steps for a child."


class FrameworkModel:
    """Stands for a framework's own chat model (what an adapter's ``adapt`` recognises)."""

    def __init__(self) -> None:
        self.inner = ScriptedChatModel(default=REWRITE, model_id="framework")


def adapt(model: Any) -> ChatModel | None:
    return model.inner if isinstance(model, FrameworkModel) else None


async def test_a_chat_model_gets_a_new_engine_with_it_as_the_rewriter() -> None:
    model = ScriptedChatModel(default=REWRITE)
    for rewriter in (as_rewriter(model), as_rewriter(llm=model)):
        assert isinstance(rewriter, BPORewriter)
        assert rewriter.engine.model_for("rewriter") is model
        assert (await rewriter.arewrite("Explain photosynthesis.")).rewritten == REWRITE
    assert len(model.calls) == 2  # one call on each of the two new engines (no cache)


async def test_a_framework_model_goes_through_adapt_and_the_given_engine() -> None:
    framework = FrameworkModel()
    engine = Engine()  # its own default (the embedded model) is never loaded
    rewriter = as_rewriter(engine, llm=framework, adapt=adapt, accepts="a Framework model")
    assert isinstance(rewriter, BPORewriter) and rewriter.engine is engine
    assert (await rewriter.arewrite("Explain photosynthesis.")).rewritten == REWRITE
    assert engine.usage().by_role["rewriter"].calls == 1
    assert as_rewriter(framework, adapt=adapt).engine.model_for("rewriter") is framework.inner  # type: ignore[attr-defined]


def test_errors_name_the_argument_and_what_is_accepted() -> None:
    with pytest.raises(ConfigError, match="llm must be a Framework model or an apo_core ChatModel"):
        as_rewriter(llm="gpt", adapt=adapt, accepts="a Framework model")
    with pytest.raises(ConfigError, match="a Framework model or an apo_core ChatModel, not int"):
        as_rewriter(3, adapt=adapt, accepts="a Framework model")
    with pytest.raises(ConfigError, match="task_model must be"):
        role_models({"task": "gpt", "judge": None}, adapt, "a Framework model")
    assert role_models({"task": FrameworkModel(), "judge": None}, adapt, "x").keys() == {"task"}
    with pytest.raises(ConfigError, match="rewriter must be"):
        as_chat_model(object(), None, "x", name="rewriter")
