"""The pairwise judge (MT-bench "pair-v2" style): two answers to one question, verdict A/B/tie.

Every pair is judged in both orders. A win counts only when both orders prefer the same answer;
disagreement (position bias) or an unreadable verdict counts as a tie.
"""

from __future__ import annotations

import re
from typing import Literal

from apo_core.types import Message

Verdict = Literal["A", "B", "tie"]
Outcome = Literal["win", "tie", "loss"]

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

_VERDICT = re.compile(r"\[\[\s*(A|B|C|tie)\s*\]\]", re.I)


def judge_messages(question: str, answer_a: str, answer_b: str) -> list[Message]:
    """The judge's request for one ordering of two answers."""
    user = JUDGE_USER.format(question=question, answer_a=answer_a, answer_b=answer_b)
    return [Message(role="system", content=JUDGE_SYSTEM), Message(role="user", content=user)]


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
