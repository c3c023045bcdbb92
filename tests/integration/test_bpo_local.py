"""BPO rewrites of real prompts by the embedded model: over real HTTP and in process.

(a) through :class:`FakeOpenAIServer` on 127.0.0.1 answering with SmolLM2: the THUDM/BPO
template on the completions endpoint (:class:`OpenAICompletionModel`), and the meta-prompt on
the chat endpoint (:class:`OpenAIChatModel`); (b) through :class:`LocalChatModel` directly.
SmolLM2 is not THUDM/BPO, so (a)'s template run only checks the contract (exact request, an
explained fallback or a guarded rewrite). With the meta-prompt, over a few fixed prompts, at
least one rewrite must be accepted, pass every guard check (not an answer, not cut off, enough
content kept), differ from the original and keep its protected span.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from apo_core import Engine, LocalChatModel, OpenAIChatModel
from apo_core.bpo import BPO_TEMPLATE, BPOResult, BPORewriter, Guard
from apo_core.models import OpenAICompletionModel
from apo_core.testing import FakeOpenAIServer, local_model_responder

pytestmark = [pytest.mark.integration, pytest.mark.local_model]

PROMPT = "How can I improve my [[time management]] skills? Give 3 tips."
CLEAN = "How can I improve my time management skills? Give 3 tips."
PROMPTS = [
    PROMPT,
    "What are the main differences between [[Python]] and JavaScript?",
    "Explain how [[photosynthesis]] works.",
]
MAX_TOKENS = 48


@pytest.fixture(scope="module")
def local() -> LocalChatModel:
    return LocalChatModel(n_threads=2)


def engine_for(role_model: object, cache: Path | None = None) -> Engine:
    # Slow shared CPUs: one patient attempt, no retries of a long generation.
    return Engine(
        roles={"rewriter": role_model},  # type: ignore[dict-item]
        cache=cache,
        timeout=600,
        max_attempts=1,
    )


def check_contract(result: BPOResult) -> None:
    assert result.protected and all(span in result.original for span in result.protected)
    assert result.candidates, "the model's reply must be recorded"
    if result.fallback is None:
        assert result.rewritten.strip()
        assert all(span in result.rewritten for span in result.protected)
        assert Guard().check(result.original, result.rewritten, result.protected) is None
    else:
        assert result.rewritten == result.original and result.fallback_detail


def genuine_rewrites(results: list[BPOResult]) -> list[BPOResult]:
    """The accepted rewrites that change the prompt; every result must keep the contract."""
    for result in results:
        check_contract(result)
    accepted = [r for r in results if r.fallback is None and r.rewritten != r.original]
    reasons = [(r.original, r.fallback, r.fallback_detail) for r in results]
    assert accepted, f"no prompt was rewritten: {reasons}"
    return accepted


async def test_bpo_template_on_the_completions_endpoint(local: LocalChatModel) -> None:
    responder = local_model_responder(local, max_tokens=MAX_TOKENS)
    with FakeOpenAIServer(responder, model="THUDM/BPO") as server:
        model = OpenAICompletionModel("THUDM/BPO", base_url=server.base_url)
        rewriter = BPORewriter(engine_for(model), source="bpo_model", max_tokens=MAX_TOKENS, seed=0)
        result = await rewriter.arewrite(PROMPT)
        [body] = server.requests
        assert server.counts.get("completions") == 1 and not server.counts.get("chat")
    assert body["prompt"] == BPO_TEMPLATE.format(CLEAN)
    assert "[[" not in body["prompt"] and "messages" not in body
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["n"]) == (
        0.6, 0.9, MAX_TOKENS, 1,
    )  # fmt: skip
    assert result.original == CLEAN and result.protected == ["time management"]
    check_contract(result)
    usage = rewriter.engine.usage().by_role["rewriter"]
    assert usage.calls == 1 and usage.output_tokens > 0


async def test_meta_prompt_on_the_chat_endpoint(local: LocalChatModel) -> None:
    responder = local_model_responder(local)
    with FakeOpenAIServer(responder) as server:
        model = OpenAIChatModel("fake-model", base_url=server.base_url)
        rewriter = BPORewriter(engine_for(model), seed=0)
        results = [await rewriter.arewrite(p) for p in PROMPTS]
        body = server.requests[0]
    assert [m["role"] for m in body["messages"]] == ["system"] + ["user", "assistant"] * 2 + [
        "user"
    ]
    user = body["messages"][-1]["content"]
    assert CLEAN in user and "[[" not in user and "exactly: time management" in user
    assert "never answer" in body["messages"][0]["content"]
    assert body["stop"] == ["</prompt>"] and body["max_tokens"] == 2 * Guard().max_words(CLEAN) + 32
    genuine_rewrites(results)


async def test_embedded_model_directly_with_rounds_and_cache(
    local: LocalChatModel, tmp_path: Path
) -> None:
    engine = engine_for(local, cache=tmp_path / "cache.sqlite")
    rewriter = BPORewriter(engine, rounds=2, seed=0)
    results = [await rewriter.arewrite(p) for p in PROMPTS]
    for result in genuine_rewrites(results):
        assert 1 <= len(result.history) <= 2 and result.rounds == 2
        if result.rounds_done == 1 and len(result.history) == 2:
            assert result.history[1].reason  # the second round was rejected, and says why
    calls = sum(len(r.history) for r in results)
    again = [await rewriter.arewrite(p) for p in PROMPTS]  # replayed, no new generation
    assert [a.rewritten for a in again] == [r.rewritten for r in results]
    engine.close()
    usage = engine.usage().by_role["rewriter"]
    assert usage.calls == calls == usage.cache_hits
    assert rewriter.stats.prompts == 2 * len(PROMPTS)
