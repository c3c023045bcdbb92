"""Compact meta-prompts in the search: chosen for models that advertise them, sent with stop
sequences and one item per sample, replies spliced into the prompt, junk counted."""

from __future__ import annotations

import re

import pytest
from apo_world import PROMPT, label_metric, make_examples, run_data, task_reply

from apo_core import Engine, ScriptedChatModel, ScriptedRequest
from apo_core.apo import APO
from apo_core.apo.config import APOConfig
from apo_core.apo.estimate import estimate_calls, optimizer_replies_per_parent
from apo_core.apo.evaluation import Evaluator
from apo_core.apo.expansion import Expander
from apo_core.apo.metaprompts import Style
from apo_core.apo.protection import PromptGuard
from apo_core.metrics import as_metric
from apo_core.program import TemplateProgram

FRAME = "\nReview: {text}\nLabel:"
"""What follows the instruction of :data:`PROMPT`."""


class TinyModel(ScriptedChatModel):
    """A scripted optimizer that advertises the compact style, as the embedded model does."""

    meta_prompt_style = "compact"


def instruction_of(request: ScriptedRequest) -> str:
    match = re.search(r"^Instruction: (.*)$", request.last_user, re.M)
    assert match is not None, request.last_user
    return match.group(1)


def tiny_reply(request: ScriptedRequest) -> str:
    """Tagged replies a tiny model might give (an echo of the request after the tags)."""
    tag = f"{request.params.seed}-{request.sample}"
    user = request.last_user
    if "Why does the prompt fail?" in user:
        return f"<START>The prompt does not ask for care ({tag}).<END>\n\nWrong answers: ..."
    if "Write the instruction again" in user:
        return f"<START>Be CAREFUL {tag}. {instruction_of(request)}<END>\nInstruction: x"
    return f"<END>Take care, be CAREFUL: {instruction_of(request)}"  # opens with <END>


def _engine(optimizer: ScriptedChatModel) -> Engine:
    task = ScriptedChatModel(default=task_reply, model_id="task-model")
    return Engine(roles={"task": task, "optimizer": optimizer})


def _expander(config: APOConfig, optimizer: ScriptedChatModel) -> Expander:
    engine = _engine(optimizer)
    program = TemplateProgram()
    evaluator = Evaluator(program, as_metric(label_metric), engine)
    guard = PromptGuard(program, PROMPT, config.protected_spans)
    return Expander(engine, config, guard, evaluator)


async def test_compact_requests_and_spliced_successors() -> None:
    config = APOConfig(
        minibatch_size=10,
        n_gradients=2,
        gradients_per_error=2,
        steps_per_gradient=2,
        mc_samples_per_step=1,
        max_expansion_factor=100,
        optimizer_max_tokens=300,
        structured=True,  # ignored by the compact style: tiny models write no good JSON
    )
    opt = TinyModel(default=tiny_reply, model_id="tiny")
    expander = _expander(config, opt)
    assert expander.style == "compact"
    out = await expander.expand(PROMPT, make_examples("train", 30), round_index=0)
    gradients = [r for r in opt.calls if "Why does the prompt fail?" in r.last_user]
    edits = [r for r in opt.calls if "Write the instruction again" in r.last_user]
    paraphrases = [r for r in opt.calls if "Say it in other words" in r.last_user]
    assert len(gradients) == 2 * 2 and len(edits) == 4 * 2 and len(paraphrases) == 8
    for request in opt.calls:
        assert request.response_format is None
        assert request.params.max_tokens == 120
        roles = [m.role for m in request.messages]
        assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
        assert all(
            m.content.startswith("<START>") and m.content.endswith("<END>")
            for m in request.messages
            if m.role == "assistant"
        )
    assert {r.params.stop for r in gradients} == {("\n\n",)}
    assert {r.params.stop for r in edits + paraphrases} == {("\n",)}
    assert {r.params.n for r in gradients} == {2}  # one reason per sample
    assert {r.params.n for r in edits} == {2}  # one instruction per sample
    assert all("Prompt:\n" + PROMPT in r.last_user for r in gradients)
    assert all(instruction_of(r) == "Classify the review." for r in edits)
    # each (gradient call, sample) gives its own reason; the echo after the tags is dropped
    assert len(out.gradients) == 4 and all(g.endswith(").") for g in out.gradients)
    assert all("The prompt does not ask for care" in r.last_user for r in edits)
    assert out.counts.gradient_calls == 2 and out.counts.edit_calls == 4
    assert out.counts.paraphrase_calls == 8
    assert out.counts.parse_failures == out.counts.rejected == out.counts.repaired == 0
    assert len(out.successors) == 16
    for successor in out.successors:
        assert successor.prompt.endswith(FRAME) and successor.prompt.count("{text}") == 1
        assert "\n" not in successor.prompt.removesuffix(FRAME)  # one instruction line
    edited = [s for s in out.successors if s.origin == "edit"]
    assert all(re.match(r"Be CAREFUL \d+-[01]\. Classify the review\.\n", s.prompt) for s in edited)
    para = [s for s in out.successors if s.origin == "paraphrase"]
    assert all(s.prompt.startswith("Take care, be CAREFUL: Be CAREFUL") for s in para)
    assert all(s.edit is not None and s.edit in s.prompt for s in para)


async def test_junk_replies_are_counted_not_kept() -> None:
    def junk(request: ScriptedRequest) -> str:
        if "Why does the prompt fail?" in request.last_user:
            return "<START>The prompt is unclear about labels.<END>"
        if "Write the instruction again" in request.last_user:
            return [
                "",
                "the the the " * 10,
                "<START>What is the topic of this question? "
                "Answer with one word: sports, science or politics.<END>",
            ][request.sample % 3]
        return "<START>Classify the review with care.<END>"

    config = APOConfig(minibatch_size=10, n_gradients=1, steps_per_gradient=3)
    out = await _expander(config, TinyModel(default=junk)).expand(
        PROMPT, make_examples("train", 20), round_index=0
    )
    # empty, looping and copied-from-the-worked-example instructions: three parse failures
    assert out.counts.parse_failures == 3 and out.counts.edit_calls == 1
    assert out.successors == [] and out.counts.paraphrase_calls == 0


async def test_scripted_models_keep_the_full_style_and_full_overrides_auto() -> None:
    config = APOConfig(minibatch_size=6, n_gradients=1, mc_samples_per_step=0)
    plain = ScriptedChatModel(default='{"reasons": ["x y"], "prompts": ["Be {text} ok"]}')
    assert _expander(config, plain).style == "full"
    tiny = TinyModel(default='{"reasons": ["x y"], "prompts": ["Be {text} ok"]}')
    expander = _expander(config.model_copy(update={"meta_prompt_style": "full"}), tiny)
    assert expander.style == "full"
    await expander.expand(PROMPT, make_examples("train", 12), round_index=0)
    assert all(r.params.stop == () and r.response_format is not None for r in tiny.calls)
    assert "Diagnose the prompt" in tiny.calls[0].last_user


async def test_a_whole_run_with_a_tiny_optimizer_improves_and_says_so() -> None:
    config = APOConfig(
        rounds=3,
        beam_size=2,
        minibatch_size=8,
        n_gradients=2,
        mc_samples_per_step=1,
        eval_budget=30,
        patience=None,
        seed=1,
    )
    engine = _engine(TinyModel(default=tiny_reply, model_id="tiny"))
    result = await APO(engine, config).optimize(PROMPT, **run_data())
    assert any("compact meta-prompts" in note for note in result.notes)
    assert result.best_validation is not None and result.initial_validation is not None
    assert result.best_validation.accuracy.value > result.initial_validation.accuracy.value
    assert result.best_prompt.endswith(FRAME) and "CAREFUL" in result.best_prompt


@pytest.mark.parametrize(("style", "replies"), [("full", 2 + 4 + 8), ("compact", 4 + 8 + 8)])
def test_estimate_counts_compact_replies(style: Style, replies: int) -> None:
    config = APOConfig(
        n_gradients=2, gradients_per_error=2, steps_per_gradient=2, mc_samples_per_step=1
    )
    assert optimizer_replies_per_parent(config, style=style) == replies
    estimate = estimate_calls(config, train_size=20, validation_size=10, style=style)
    assert (
        estimate.by_role["optimizer"]
        == estimate_calls(config, train_size=20, validation_size=10).by_role["optimizer"]
    )  # the same calls either way
    first = estimate.rounds[0]
    assert estimate.replies_by_role["optimizer"] >= first.beam * replies
