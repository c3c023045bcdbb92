"""Quickstart: rewrite an instruction with BPO before the target model sees it (offline)."""

# --8<-- [start:world]
import re

from apo_core import Engine, ScriptedChatModel, ScriptedRequest


def rewriter_model(request: ScriptedRequest) -> str:
    """A stand-in rewriter LLM: it answers the BPO meta-prompt with a more detailed prompt."""
    original = re.search(r"<original>\n(.*?)\n</original>", request.last_user, re.S)
    prompt = original.group(1) if original else ""
    return f"<prompt>{prompt} Cover her two Nobel Prizes and explain each in a sentence.</prompt>"


engine = Engine(roles={"rewriter": ScriptedChatModel(default=rewriter_model)})
# --8<-- [end:world]

# --8<-- [start:main]
from apo_core import BPORewriter

rewriter = BPORewriter(engine, mode="stable", rounds=1)
result = rewriter.rewrite("Tell me about [[Marie Curie]].")  # [[...]] is kept verbatim
print(result.rewritten)
print(result.fallback)  # None, or why the original was kept
# --8<-- [end:main]

assert result.fallback is None and "Marie Curie" in result.rewritten
assert "[[" not in result.rewritten and "Nobel" in result.rewritten
