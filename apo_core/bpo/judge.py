"""The pairwise judge (MT-bench "pair-v2" style): two answers to one question, verdict A/B/tie.

Every pair is judged in both orders. A win counts only when both orders prefer the same answer;
disagreement (position bias) or an unreadable verdict counts as a tie.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

from apo_core.types import Completion, Message

Verdict = Literal["A", "B", "tie"]
Outcome = Literal["win", "tie", "loss"]
JudgeFormat = Literal["auto", "text", "json"]

JUDGE_SYSTEM = """\
Please act as an impartial judge and evaluate the quality of the responses provided by two AI \
assistants to the user question displayed below. Choose the assistant that follows the user's \
instructions and answers the user's question better. Consider helpfulness, relevance, \
accuracy, depth, creativity and level of detail. Begin with a short explanation comparing the \
two responses. Avoid any position bias: the order in which the responses are presented must \
not influence your decision. Do not let the length of the responses influence you, do not \
favor an assistant because of its name, and be as objective as possible. After your \
explanation, output your final verdict strictly in this format: "[[A]]" if assistant A is \
better, "[[B]]" if assistant B is better, and "[[C]]" for a tie."""

JUDGE_USER = """\
[User Question]
{question}

[The Start of Assistant A's Answer]
{answer_a}
[The End of Assistant A's Answer]

[The Start of Assistant B's Answer]
{answer_b}
[The End of Assistant B's Answer]"""

JSON_FORMAT = (
    'Reply with JSON only: {"explanation": "<your short comparison>", "verdict": "A" or "B" '
    'or "tie"}.'
)


class JudgeVerdict(BaseModel):
    """A structured judgment: the comparison first, then the verdict (as pair-v2 asks)."""

    explanation: str = Field(description="a short comparison of the two answers", max_length=400)
    """Bounded, so a grammar-constrained small model reaches the verdict within its tokens."""
    verdict: Verdict = Field(description='"A", "B" or "tie"')


_JSON_VERDICT = re.compile(r'"verdict"\s*:\s*"(A|B|tie)"', re.I)
_VERDICT = re.compile(r"\[\[\s*(A|B|C|tie)\s*\]\]", re.I)


def judge_messages(
    question: str, answer_a: str, answer_b: str, *, structured: bool = False
) -> list[Message]:
    """The judge's request for one ordering of two answers.

    Args:
        question: the original user question.
        answer_a: the answer shown as assistant A.
        answer_b: the answer shown as assistant B.
        structured: ask for a :class:`JudgeVerdict` JSON object instead of ``[[A]]`` text
            (the engine also passes the schema, so a grammar-capable backend such as the
            embedded model always returns a readable verdict).
    """
    user = JUDGE_USER.format(question=question, answer_a=answer_a, answer_b=answer_b)
    system = JUDGE_SYSTEM
    if structured:
        system = system.split(" After your explanation,")[0] + " " + JSON_FORMAT
    return [Message(role="system", content=system), Message(role="user", content=user)]


def structured_verdicts(judge_format: JudgeFormat, judge: object) -> bool:
    """Whether to ask ``judge`` for JSON verdicts: ``"json"``, or ``"auto"`` with a tiny judge
    (one that advertises ``meta_prompt_style = "compact"``, as the embedded model does: it
    rarely writes ``[[A]]``); ``"text"`` and other judges get pair-v2 text."""
    if judge_format == "auto":
        return getattr(judge, "meta_prompt_style", None) == "compact"
    return judge_format == "json"


def verdict_of(completion: Completion) -> Verdict | None:
    """The verdict of a judge reply: the structured object if one parsed, else the text's."""
    parsed = completion.parsed[0] if completion.parsed else None
    if isinstance(parsed, JudgeVerdict):
        return parsed.verdict
    field = _JSON_VERDICT.search(completion.text)  # e.g. an over-long explanation
    if field:
        word = field.group(1).lower()
        return "tie" if word == "tie" else "A" if word == "a" else "B"
    return parse_verdict(completion.text)


def parse_verdict(text: str) -> Verdict | None:
    """The last ``[[A]]``/``[[B]]``/``[[C]]`` in a judgment (``C`` is a tie), or None."""
    found = _VERDICT.findall(text)
    if not found:
        return None
    last = found[-1].upper()
    return "A" if last == "A" else "B" if last == "B" else "tie"


def combine(forward: Verdict | None, backward: Verdict | None) -> Outcome:
    """Outcome for the rewritten prompt's answer.

    ``forward`` judged (A = original's answer, B = rewrite's answer); ``backward`` judged the
    swapped order (A = rewrite's answer). A win or loss needs both orders to agree.
    """
    if forward == "B" and backward == "A":
        return "win"
    if forward == "A" and backward == "B":
        return "loss"
    return "tie"
