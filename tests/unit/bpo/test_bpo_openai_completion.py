"""OpenAICompletionModel with a fake client: raw prompt, parameters, n top-up, errors."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx2 as httpx
import openai
import pytest
from pydantic import BaseModel

from apo_core import (
    ConfigError,
    Engine,
    Message,
    ModelCallError,
    RetryableModelError,
)
from apo_core.bpo import BPO_TEMPLATE, BPORewriter
from apo_core.models.openai_completion import OpenAICompletionModel, prompt_of
from apo_core.types import CompletionParams


class FakeCompletions:
    def __init__(
        self, replies: list[Any], per_call: int | None = None, finish: list[str] | None = None
    ) -> None:
        self.replies = replies
        self.per_call = per_call
        self.finish = finish
        self.requests: list[dict[str, Any]] = []

    async def create(self, **request: Any) -> Any:
        self.requests.append(request)
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        n = self.per_call or request["n"]
        choices = [SimpleNamespace(text=f"{reply} #{i}") for i in range(n)]
        for choice in choices if self.finish else ():
            choice.finish_reason = self.finish.pop(0)  # type: ignore[union-attr]
        return SimpleNamespace(
            choices=choices, usage=SimpleNamespace(prompt_tokens=7, completion_tokens=3 * n)
        )


def model_with(
    *replies: Any, per_call: int | None = None, **kwargs: Any
) -> tuple[OpenAICompletionModel, FakeCompletions]:
    completions = FakeCompletions(list(replies), per_call)
    client = SimpleNamespace(completions=completions)
    return OpenAICompletionModel("THUDM/BPO", client=client, **kwargs), completions


def status_error(status: int, cls: type[openai.APIStatusError]) -> openai.APIStatusError:
    request = httpx.Request("POST", "http://127.0.0.1:1/v1/completions")
    response = httpx.Response(status, request=request, headers={"retry-after": "2"})
    return cls("injected", response=response, body=None)


async def test_sends_the_last_user_message_verbatim_with_parameters() -> None:
    model, fake = model_with("ok", extra_body={"min_tokens": 5})
    params = CompletionParams(temperature=0.6, top_p=0.9, max_tokens=1024, stop=("\n",), seed=4)
    messages = [
        Message(role="system", content="not sent"),
        Message(role="user", content="first"),
        Message(role="user", content="[INST] raw\ntext [/INST]"),
    ]
    completion = await model.complete(messages, params)
    assert fake.requests == [
        {
            "model": "THUDM/BPO",
            "prompt": "[INST] raw\ntext [/INST]",
            "temperature": 0.6,
            "n": 1,
            "max_tokens": 1024,
            "stop": ["\n"],
            "seed": 4,
            "top_p": 0.9,
            "extra_body": {"min_tokens": 5},
        }
    ]
    assert completion.texts == ["ok #0"] and completion.usage.input_tokens == 7
    assert completion.model_id == "THUDM/BPO"


async def test_tops_up_missing_samples_when_the_server_ignores_n() -> None:
    model, fake = model_with("a", "b", "c", per_call=1)
    completion = await model.complete(
        [Message(role="user", content="p")], CompletionParams(n=3, temperature=0.9, seed=10)
    )
    assert completion.texts == ["a #0", "b #0", "c #0"]
    assert [r["n"] for r in fake.requests] == [3, 1, 1]
    assert [r["seed"] for r in fake.requests] == [10, 11, 12]
    assert completion.usage.output_tokens == 9


async def test_errors_are_translated_like_the_chat_model() -> None:
    model, _ = model_with(status_error(429, openai.RateLimitError))
    with pytest.raises(RetryableModelError) as retry:
        await model.complete([Message(role="user", content="p")], CompletionParams())
    assert retry.value.status_code == 429 and retry.value.retry_after == 2.0
    model, _ = model_with(status_error(404, openai.NotFoundError))
    with pytest.raises(ModelCallError, match="unknown model or wrong base_url"):
        await model.complete([Message(role="user", content="p")], CompletionParams())
    model, _ = model_with(ValueError("garbled"))
    with pytest.raises(RetryableModelError, match="malformed"):
        await model.complete([Message(role="user", content="p")], CompletionParams())


async def test_empty_choices_are_retryable() -> None:
    class Empty(FakeCompletions):
        async def create(self, **request: Any) -> Any:
            return SimpleNamespace(choices=[], usage=None)

    model = OpenAICompletionModel("m", client=SimpleNamespace(completions=Empty([])))
    with pytest.raises(RetryableModelError, match="no choices"):
        await model.complete([Message(role="user", content="p")], CompletionParams())


async def test_structured_output_is_parsed_tolerantly() -> None:
    class Answer(BaseModel):
        x: int

    class Json(FakeCompletions):
        async def create(self, **request: Any) -> Any:
            return SimpleNamespace(choices=[SimpleNamespace(text='sure {"x": 3}')], usage=None)

    model = OpenAICompletionModel("m", client=SimpleNamespace(completions=Json([])))
    completion = await model.complete(
        [Message(role="user", content="p")], CompletionParams(), response_format=Answer
    )
    assert completion.parsed == [Answer(x=3)] and completion.usage.input_tokens > 0


def test_identity_repr_and_key_hygiene() -> None:
    model = OpenAICompletionModel(
        "THUDM/BPO", base_url="http://127.0.0.1:8000/v1/", api_key="sk-secret-123456"
    )
    assert model.cache_identity == "openai-completions:http://127.0.0.1:8000/v1:THUDM/BPO"
    assert model.provider == "openai-compatible" and model.model_id == "THUDM/BPO"
    assert "secret" not in repr(model) + model.cache_identity
    assert model.count_input_tokens([Message(role="user", content="a b c")]) > 0
    with pytest.raises(ConfigError):
        OpenAICompletionModel("")
    with pytest.raises(ConfigError):
        prompt_of([Message(role="system", content="s")])


async def test_bpo_rewriter_through_the_completion_model() -> None:
    model, fake = model_with(" How can I create a Facebook profile, step by step?")
    rewriter = BPORewriter(Engine(roles={"rewriter": model}), source="bpo_model")
    result = await rewriter.arewrite("how can I create a profile on Facebook?")
    assert fake.requests[0]["prompt"] == BPO_TEMPLATE.format(
        "how can I create a profile on Facebook?"
    )
    assert (fake.requests[0]["temperature"], fake.requests[0]["top_p"]) == (0.6, 0.9)
    assert result.rewritten == "How can I create a Facebook profile, step by step? #0"


async def test_finish_reason_is_reported_and_length_wins_across_top_ups() -> None:
    fake = FakeCompletions(["a", "b"], per_call=1, finish=["stop", "length"])
    model = OpenAICompletionModel("THUDM/BPO", client=SimpleNamespace(completions=fake))
    completion = await model.complete(
        [Message(role="user", content="x")], CompletionParams(n=2, max_tokens=4)
    )
    assert len(fake.requests) == 2 and completion.finish_reason == "length"
    plain, _ = model_with("ok")  # a server that does not say
    done = await plain.complete([Message(role="user", content="x")], CompletionParams())
    assert done.finish_reason is None


async def test_chat_model_reports_finish_reason() -> None:
    from apo_core import OpenAIChatModel

    class Chat:
        async def create(self, **request: Any) -> Any:
            choice = SimpleNamespace(message=SimpleNamespace(content="cut"), finish_reason="length")
            return SimpleNamespace(choices=[choice], usage=None)

    client = SimpleNamespace(chat=SimpleNamespace(completions=Chat()))
    model = OpenAIChatModel("m", client=client)
    completion = await model.complete([Message(role="user", content="x")], CompletionParams())
    assert completion.finish_reason == "length" and completion.text == "cut"


# -- aggressive mode: the release's decoding constraints ----------------------------------

PROMPT = "how can I create a profile on Facebook?"


async def test_aggressive_mode_stops_at_newline_and_sends_vllm_constraints() -> None:
    reply = " Please explain step by step how I can create a profile on Facebook, with tips"
    model, fake = model_with(reply, extra_body={"repetition_penalty": 1.1})
    rewriter = BPORewriter(Engine(roles={"rewriter": model}), source="bpo_model", mode="aggressive")
    result = await rewriter.arewrite(PROMPT)
    [request] = fake.requests
    assert (request["n"], request["temperature"], request["top_p"]) == (5, 0.9, 0.9)
    assert request["stop"] == ["\n"]  # the release's end-of-line stop: no paying past it
    assert request["max_tokens"] == 160
    assert request["extra_body"] == {
        "repetition_penalty": 1.1,  # the model's own fields are kept
        "min_tokens": 9 + 5,  # input tokens (words and marks) + the mode's growth
        "bad_words": ["[PROTECT]", "\n\n[PROTECT]", "[KEEP", "[INSTRUCTION]"],
    }
    assert model.extra_body == {"repetition_penalty": 1.1}  # the user's model is unchanged
    assert result.fallback is None and result.rewritten.startswith("Please explain")


async def test_stable_mode_and_switched_off_constraints_send_no_extras() -> None:
    model, fake = model_with("Please explain how I can create a profile on Facebook.")
    await BPORewriter(Engine(roles={"rewriter": model}), source="bpo_model").arewrite(PROMPT)
    model2, fake2 = model_with("Please explain how I can create a profile on Facebook, a b c d e.")
    rewriter = BPORewriter(
        Engine(roles={"rewriter": model2}),
        source="bpo_model",
        mode="aggressive",
        server_constraints=False,
    )
    await rewriter.arewrite(PROMPT)
    assert "extra_body" not in fake.requests[0] and "stop" not in fake.requests[0]
    assert "extra_body" not in fake2.requests[0] and fake2.requests[0]["stop"] == ["\n"]


async def test_chat_models_get_the_newline_cut_after_extraction_only() -> None:
    from apo_core import ScriptedChatModel

    model = ScriptedChatModel(
        default="Here is the improved prompt:\n<prompt>Please explain step by step how I can "
        "create a profile on Facebook.</prompt>"
    )
    rewriter = BPORewriter(Engine(model), mode="aggressive")
    result = await rewriter.arewrite(PROMPT)
    assert model.calls[0].params.stop == ("</prompt>",)  # not "\n": the opener is a line
    assert result.fallback is None and result.rewritten.startswith("Please explain")
    bpo = ScriptedChatModel(default="Please explain how I can create a profile on Facebook now.")
    await BPORewriter(Engine(bpo), source="bpo_model", mode="aggressive").arewrite(PROMPT)
    assert bpo.calls[0].params.stop == ("\n",)
