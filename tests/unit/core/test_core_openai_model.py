"""OpenAIChatModel without a network: an injected client object raising real SDK errors."""

from __future__ import annotations

import json
import logging
from collections import deque
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from types import SimpleNamespace
from typing import Any

import httpx2
import openai
import pytest
from pydantic import BaseModel

from apo_core import (
    CompletionParams,
    ConfigError,
    Engine,
    Message,
    ModelCallError,
    OpenAIChatModel,
    RetryableModelError,
)
from apo_core.testing import RecordingSleep

KEY = "sk-unit-SENTINEL-9b7d2c1e"
URL = "http://127.0.0.1:1/v1/chat/completions"
MSGS = [Message(role="user", content="hello")]


def reply(*texts: str, usage: bool = True) -> SimpleNamespace:
    choices = [SimpleNamespace(message=SimpleNamespace(content=t)) for t in texts]
    u = SimpleNamespace(prompt_tokens=7, completion_tokens=2) if usage else None
    return SimpleNamespace(choices=choices, usage=u)


def status_error(status: int, message: str = "boom", **headers: str) -> openai.APIStatusError:
    request = httpx2.Request("POST", URL)
    response = httpx2.Response(status, headers=headers, request=request)
    classes = {
        400: openai.BadRequestError,
        401: openai.AuthenticationError,
        403: openai.PermissionDeniedError,
        404: openai.NotFoundError,
        408: openai.APIStatusError,
        409: openai.ConflictError,
        422: openai.UnprocessableEntityError,
        429: openai.RateLimitError,
    }
    cls = classes.get(status, openai.InternalServerError)
    return cls(message, response=response, body=None)


class FakeClient:
    """Quacks like AsyncOpenAI for ``chat.completions.create``."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = deque(outcomes)
        self.requests: list[dict[str, Any]] = []
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))

    async def create(self, **kwargs: Any) -> Any:
        self.requests.append(kwargs)
        outcome = self.outcomes.popleft()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def model_with(*outcomes: Any, **kwargs: Any) -> tuple[OpenAIChatModel, FakeClient]:
    client = FakeClient(*outcomes)
    kwargs.setdefault("base_url", "http://127.0.0.1:1/v1")
    return OpenAIChatModel("gpt-4o-mini", api_key=KEY, client=client, **kwargs), client


async def call(model: OpenAIChatModel, **params: Any) -> Any:
    return await model.complete(MSGS, CompletionParams(**params))


@pytest.mark.parametrize(
    ("error", "retry_after"),
    [
        (status_error(429, **{"retry-after": "2"}), 2.0),
        (status_error(429, **{"retry-after-ms": "1500"}), 1.5),
        (status_error(429, **{"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}), 0.0),  # past
        (status_error(500), None),
        (status_error(503), None),
        (status_error(408), None),
        (status_error(409), None),
    ],
)
async def test_transient_statuses_are_retryable(
    error: Exception, retry_after: float | None
) -> None:
    model, _ = model_with(error)
    with pytest.raises(RetryableModelError) as info:
        await call(model)
    assert info.value.retry_after == retry_after
    assert info.value.status_code == error.status_code  # type: ignore[attr-defined]


async def test_retry_after_as_a_future_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    model, _ = model_with(status_error(503, **{"retry-after": when}))
    with pytest.raises(RetryableModelError) as info:
        await call(model)
    assert info.value.retry_after is not None and 85 < info.value.retry_after <= 90


async def test_a_429_for_an_exhausted_quota_is_fatal() -> None:
    request = httpx2.Request("POST", URL)
    response = httpx2.Response(429, request=request)
    body = {"message": "You exceeded your current quota", "code": "insufficient_quota"}
    error = openai.RateLimitError("You exceeded your current quota", response=response, body=body)
    model, _ = model_with(error)
    with pytest.raises(ModelCallError, match="out of quota") as info:
        await call(model)
    assert not isinstance(info.value, RetryableModelError) and info.value.status_code == 429


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_client_errors_are_fatal_and_redacted(status: int) -> None:
    model, _ = model_with(status_error(status, f"Incorrect API key provided: {KEY}"))
    with pytest.raises(ModelCallError) as info:
        await call(model)
    assert not isinstance(info.value, RetryableModelError)
    assert info.value.status_code == status
    assert KEY not in str(info.value) and "***" in str(info.value)
    assert info.value.__cause__ is None  # the SDK error (and its request) is not chained


@pytest.mark.parametrize(
    "error",
    [
        openai.APITimeoutError(request=httpx2.Request("POST", URL)),
        openai.APIConnectionError(message=f"refused ({KEY})", request=httpx2.Request("POST", URL)),
        json.JSONDecodeError("Expecting value", "{", 1),
    ],
    ids=["timeout", "connection", "malformed"],
)
async def test_timeouts_connection_errors_and_garbage_are_retryable(error: Exception) -> None:
    model, _ = model_with(error)
    with pytest.raises(RetryableModelError) as info:
        await call(model)
    assert KEY not in str(info.value)


async def test_unexpected_errors_are_fatal_and_redacted() -> None:
    model, _ = model_with(RuntimeError(f"weird failure with {KEY}"))
    with pytest.raises(ModelCallError) as info:
        await call(model)
    assert KEY not in str(info.value)


async def test_no_choices_is_retryable_and_missing_usage_is_estimated() -> None:
    model, _ = model_with(reply(), reply("fine words here", usage=False))
    with pytest.raises(RetryableModelError, match="no choices"):
        await call(model)
    result = await call(model)
    assert result.text == "fine words here"
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0


async def test_missing_samples_are_requested_one_by_one_with_their_seeds() -> None:
    model, client = model_with(reply("a"), reply("b"), reply("c"))
    result = await call(model, n=3, seed=100, temperature=1.0)
    assert result.texts == ["a", "b", "c"]
    assert [(r["n"], r["seed"]) for r in client.requests] == [(3, 100), (1, 101), (1, 102)]
    assert result.usage.input_tokens == 21 and result.usage.output_tokens == 6


class Label(BaseModel):
    label: str


async def test_structured_auto_falls_back_and_remembers_the_mode() -> None:
    model, client = model_with(
        status_error(400, "json_schema unsupported"),
        reply('{"label": "x"}'),
        reply('{"label": "y"}'),
    )
    first = await model.complete(MSGS, CompletionParams(), response_format=Label)
    assert first.parsed == [Label(label="x")] and model.structured == "json_object"
    second = await model.complete(MSGS, CompletionParams(), response_format=Label)
    assert second.parsed == [Label(label="y")]
    formats = [r["response_format"]["type"] for r in client.requests]
    assert formats == ["json_schema", "json_object", "json_object"]
    assert client.requests[1]["messages"][0]["role"] == "system"  # schema instruction added


def bad_request(message: str, *, param: str | None = None, status: int = 400) -> Exception:
    request = httpx2.Request("POST", URL)
    response = httpx2.Response(status, request=request)
    cls = openai.BadRequestError if status == 400 else openai.UnprocessableEntityError
    return cls(message, response=response, body={"message": message, "param": param})


@pytest.mark.parametrize(
    "error",
    [
        bad_request("Invalid parameter", param="response_format"),
        bad_request("'response_format' of type 'json_schema' is not supported with this model."),
        bad_request("Structured Outputs are not supported by this server"),
        bad_request("guided decoding backend failed to compile the schema", status=422),
    ],
    ids=["param", "response_format", "structured-outputs", "422-guided"],
)
async def test_auto_falls_back_when_the_refusal_is_about_structured_output(
    error: Exception,
) -> None:
    model, client = model_with(error, reply('{"label": "x"}'))
    done = await model.complete(MSGS, CompletionParams(), response_format=Label)
    assert done.parsed == [Label(label="x")] and len(client.requests) == 2


@pytest.mark.parametrize(
    "error",
    [
        bad_request(
            "This model's maximum context length is 8192 tokens. However, your messages "
            "resulted in 9000 tokens. Please reduce the length of the messages.",
            param="messages",
        ),
        bad_request(
            "Invalid value for 'temperature': must be between 0 and 2", param="temperature"
        ),
        bad_request("Unprocessable: max_tokens must be positive", status=422),
    ],
    ids=["context-too-long", "bad-temperature", "422-other"],
)
async def test_other_bad_requests_fail_at_once_in_auto_mode(error: Exception) -> None:
    model, client = model_with(error, reply('{"label": "never sent"}'))
    with pytest.raises(ModelCallError) as info:
        await model.complete(MSGS, CompletionParams(), response_format=Label)
    assert not isinstance(info.value, RetryableModelError)
    assert len(client.requests) == 1 and model.structured == "auto"


async def test_request_fields() -> None:
    model, client = model_with(
        reply("ok"), max_tokens_param="max_completion_tokens", extra_body={"top_k": 5}
    )
    await call(model, max_tokens=33, stop=("END",), top_p=0.5)
    request = client.requests[0]
    assert request["max_completion_tokens"] == 33 and "max_tokens" not in request
    assert request["stop"] == ["END"] and request["top_p"] == 0.5
    assert request["extra_body"] == {"top_k": 5} and request["model"] == "gpt-4o-mini"


def test_configuration_and_identity() -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        OpenAIChatModel("gpt-4o-mini")  # OpenAI itself needs a key (env cleared by conftest)
    with pytest.raises(ConfigError):
        OpenAIChatModel("")
    hosted = OpenAIChatModel("gpt-4o-mini", api_key=KEY)
    local = OpenAIChatModel("llama", base_url="http://127.0.0.1:8000/v1/")
    assert (hosted.provider, local.provider) == ("openai", "openai-compatible")
    assert local.cache_identity == "openai:http://127.0.0.1:8000/v1:llama"
    assert hosted.cache_identity != local.cache_identity
    assert KEY not in repr(hosted) + hosted.cache_identity


async def test_engine_retries_a_429_with_its_retry_after() -> None:
    model, client = model_with(status_error(429, **{"retry-after": "4"}), reply("done"))
    sleep = RecordingSleep()
    engine = Engine(model, sleep=sleep)
    result = await engine.complete("hello")
    assert result.text == "done" and len(client.requests) == 2
    assert sleep.delays[0] >= 4.0
    assert engine.usage().by_model["gpt-4o-mini"].cost_known is False  # openai-compatible URL


async def test_logging_listener_output_never_contains_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Provider errors that echo the key are logged (retries, failures) without it."""
    from apo_core import LoggingListener

    echo = f"Incorrect API key provided: {KEY}"
    model, _ = model_with(
        status_error(429, echo),
        openai.APIConnectionError(message=echo, request=httpx2.Request("POST", URL)),
        reply("recovered"),
        status_error(401, echo),
    )
    engine = Engine(model, sleep=RecordingSleep(), listeners=[LoggingListener()])
    with caplog.at_level(logging.DEBUG, logger="apo_core"):
        assert (await engine.complete("first")).text == "recovered"
        with pytest.raises(ModelCallError) as info:
            await engine.complete("second")
    messages = [r.getMessage() for r in caplog.records]
    assert sum("retrying in" in m for m in messages) == 2
    assert any("failed after 1 attempt" in m and "401" in m for m in messages)
    assert all(KEY not in m for m in messages) and KEY not in str(info.value)
