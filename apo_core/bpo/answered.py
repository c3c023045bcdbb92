"""Telling a rewrite from an answer: the guard's "answered" check and content preservation.

A BPO rewrite is still the user's request: it restates, clarifies and adds hints or
requirements ("... Please include examples."). A small rewriter model often answers the prompt
instead. :func:`answer_signal` looks for the marks of an answer, each chosen so that genuine
elaborations (requests, questions, first-person context, instructions to the assistant) do not
trip it:

- an answer opener where the rewrite (or the text after a restated prompt) starts: "Sure,",
  "Here are some tips", "To improve your ...", "There are several ways", "I'm sorry", ...;
- a closing or signposting phrase anywhere: "I hope this helps", "In conclusion, ...";
- a point-of-view flip: the prompt says "my X", a sentence that asks nothing says "your X";
- a list of three or more items that no request introduces and whose items read as content
  (bold headings, "your ...") rather than as requirements;
- the prompt restated, then a tail of 20+ words in which no sentence asks anything;
- a question rewritten into statements only (no question, request or first-person sentence).

A sentence "asks" when it has a question mark, "please", a first-person word (the user
speaking), a request verb at its start ("Explain", "Include", "Describe", ...), a modal request
("can you", "I'd like") or an instruction about the reply ("your answer should").
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[A-Za-z0-9]+(?:'[a-z]+)?")
_SENTENCE_END = re.compile(r"(?<=[.!?:])\s+|\n+")
_LIST_ITEM = re.compile(r"^\s*(?:\d{1,2}[.)]|[A-H][.)]|[-*•])\s+(.*)$")
_BOLD_HEADING = re.compile(r"^\s*(?:\*\*[^*]+\*\*|__[^_]+__|[A-Z][\w /&-]{0,40}:\s)")


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS = _wordset(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers herself him himself his how i if in into is
    it its itself just let me more most my myself no nor not now of off on once only or other our
    ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    s t don doesn isn aren wasn weren won didn shouldn wouldn couldn ll ve re d m o y"""
)
"""Function words: not counted as content when measuring what a rewrite kept."""

_REQUEST_VERBS = _wordset(
    """explain describe discuss provide give list write compose draft generate suggest
    recommend outline summarize summarise analyze analyse compare contrast evaluate identify
    define detail elaborate clarify include cover mention highlight address answer respond tell
    show share offer translate rewrite rephrase paraphrase proofread correct solve calculate
    compute classify categorize rank rate critique assess propose specify name predict estimate
    interpret illustrate demonstrate cite format structure ensure help walk act imagine pretend
    assume suppose reply create design complete continue expand simplify brainstorm find
    determine consider focus avoid keep use make be do don't add note emphasize present discuss
    research examine explore review edit fix debug implement convert extract return"""
)
_LEAD_INS = _wordset(
    "also additionally then and finally lastly furthermore moreover first second third next "
    "specifically besides plus now so"
)
_ASKS = re.compile(
    r"\?|\bplease\b|\b(?:i|i'm|i've|i'd|i'll|me|my|mine|myself|we|our|us)\b"
    r"|\b(?:can|could|would|will) you\b|\b(?:let's|let us)\b"
    r"|\byour (?:answer|response|reply|output|explanation|essay|story|poem|summary|list|text"
    r"|rewrite|analysis|article|email|letter|code|solution)\b"
    r"|\b(?:the|each) (?:answer|response|reply|output) (?:should|must|needs?)\b"
    r"|^you are (?:a|an)\b",
    re.I,
)
_OPENER = re.compile(
    r"^(?:(?:sure|certainly|absolutely|of course|great question|good question|yes|no)\s*[,.!:]"
    r"|(?:i'd|i would|i'll|i will|i am|i'm) (?:be )?(?:happy|glad|delighted)\b"
    r"|here(?:'s| is| are) (?:a |an |some |the )?(?:\w+[ -]){0,3}?"
    r"(?:tips|ways|steps|strategies|list|answer|explanation|overview|guide|breakdown"
    r"|suggestions|ideas|reasons|options|methods|things|techniques|factors|summary)\b"
    r"|as an ai\b|i'm sorry\b|i am sorry\b|i apologi[sz]e\b|i cannot\b|i can't\b"
    r"|i'm unable\b|i am unable\b|unfortunately,"
    r"|to \w+ your\b"
    r"|there are (?:several|many|a few|some|a number of|various|numerous|multiple)"
    r" (?:\w+[ -]){0,2}?(?:ways|tips|steps|strategies|things|reasons|methods|options|factors"
    r"|techniques|approaches|differences|benefits|types|kinds)\b"
    r"|(?:firstly|first of all|in conclusion|in summary|to summarize|overall),)",
    re.I,
)
_ANYWHERE = re.compile(
    r"\bi hope (?:this|that) helps\b|\bin conclusion,|\blet me know if\b"
    r"|\bhere(?:'s| is| are) (?:a |an )?(?:list|few|some) (?:of )?(?:\w+ ){0,2}?"
    r"(?:tips|ways|steps|strategies|ideas|suggestions)\b",
    re.I,
)
_YOUR = re.compile(r"\byour\b", re.I)
_MY = re.compile(r"\bmy ([a-z-]+)", re.I)


def stem(word: str) -> str:
    """A crude English stem (case-folded, a few suffixes cut) for word matching."""
    word = word.lower().replace("'s", "")
    for suffix in ("ing", "ies", "ied", "es", "ed", "s", "e", "y"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    """Stems of the words of ``text`` that are not function words."""
    return {stem(w) for w in _WORD.findall(text) if w.lower() not in STOPWORDS}


def _kept(word: str, stems: set[str], prefixes: set[str], squeezed: str) -> bool:
    return word in stems or word[:5] in prefixes or (len(word) >= 4 and word in squeezed)


def content_preservation(original: str, rewrite: str) -> float:
    """Share of the original's content words found in the rewrite.

    Words match by crude stem ("skills"/"skill"), by their first five letters for longer
    words ("diagnose"/"diagnosis") or inside the rewrite with spaces and hyphens removed
    ("timezones"/"time zones"), so paraphrases that keep the content are not penalized.
    """
    words = content_words(original)
    if not words:
        return 1.0
    stems = content_words(rewrite)
    prefixes = {w[:5] for w in stems if len(w) >= 5}
    squeezed = re.sub(r"[\s-]+", "", rewrite.lower())
    kept = [w for w in words if _kept(w, stems, prefixes, squeezed)]
    return len(kept) / len(words)


def sentences(text: str) -> list[str]:
    """Sentences and lines of ``text`` (list markers removed), without empty ones."""
    parts = (p.strip() for p in _SENTENCE_END.split(text))
    out = []
    for part in parts:
        item = _LIST_ITEM.match(part)
        part = (item.group(1) if item else part).strip()
        if part:
            out.append(part)
    return out


def asks(sentence: str) -> bool:
    """Whether ``sentence`` is in the user's voice: a question, a request or an instruction."""
    if _ASKS.search(sentence):
        return True
    for clause in sentence.replace("*", "").split(",")[:3]:
        words = [w.lower() for w in _WORD.findall(clause)]
        while words and (words[0] in _LEAD_INS or words[0].endswith("ly")):
            words.pop(0)
        if words and words[0] in _REQUEST_VERBS:
            return True
    return False


def _restated_tail(original: str, rewrite: str) -> str | None:
    """What follows the rewrite's first sentence if that sentence restates the original."""
    first_original = sentences(original)[:1]
    first = sentences(rewrite)[:1]
    if not first_original or not first:
        return None
    source, head = first_original[0], first[0]
    if len(head.split()) > 2 * len(source.split()) + 4:
        return None
    if content_preservation(source, head) < 0.7:
        return None
    at = rewrite.find(head)
    return rewrite[at + len(head) :].strip() if at >= 0 else None


def _opener(text: str, original: str) -> str | None:
    match = _OPENER.match(text.lstrip(" \t\n*#>\"'"))
    if match is None:
        return None
    phrase = match.group(0).strip(" ,.!:")
    if phrase.lower() in original.lower():
        return None
    return phrase


def _list_blocks(lines: list[str]) -> list[tuple[str, list[str]]]:
    """Runs of list items, each with the line that introduces it ("" at the start)."""
    blocks: list[tuple[str, list[str]]] = []
    for i, line in enumerate(lines):
        item = _LIST_ITEM.match(line)
        if item is None:
            continue
        if i > 0 and _LIST_ITEM.match(lines[i - 1]):
            blocks[-1][1].append(item.group(1))
        else:
            blocks.append((lines[i - 1] if i > 0 else "", [item.group(1)]))
    return blocks


def _tips_list(original: str, rewrite: str) -> bool:
    """A list of 3+ items that no request introduces and whose items ask for nothing."""
    if any(_LIST_ITEM.match(line) for line in original.splitlines()):
        return False
    lines = [line for line in rewrite.splitlines() if line.strip()]
    for intro, items in _list_blocks(lines):
        if len(items) < 3 or (intro and asks(intro) and not _opener(intro, original)):
            continue
        requests = sum(asks(item) for item in items)
        if requests * 2 >= len(items) or (requests and not intro):
            continue  # mostly requirements (or any, for a list that opens the text)
        contentish = sum(bool(_BOLD_HEADING.match(b) or _YOUR.search(b)) for b in items)
        if contentish * 2 > len(items) or len(intro.split()) >= 4 or not intro:
            return True
    return False


def answer_signal(original: str, rewrite: str) -> str | None:
    """Why ``rewrite`` looks like an answer to ``original`` rather than a rewrite, or None."""
    tail = _restated_tail(original, rewrite)
    starts = [rewrite] if tail is None else [rewrite, tail]
    for start in starts:
        phrase = _opener(start, original) if start else None
        if phrase:
            return f"it opens like an answer ({phrase!r})"
    found = _ANYWHERE.search(rewrite)
    if found and found.group(0).lower() not in original.lower():
        return f"it contains answer text ({found.group(0)!r})"
    parts = sentences(rewrite)
    for phrase in {w.lower() for w in _MY.findall(original)} - STOPWORDS:
        flipped = re.compile(rf"\byour {re.escape(phrase)}\b", re.I)
        if any(flipped.search(s) and not asks(s) for s in parts):
            return f"it speaks to the user ('your {phrase}' for 'my {phrase}')"
    if _tips_list(original, rewrite):
        return "it lists content items (an answer), not requirements"
    if tail:
        new = [s for s in sentences(tail) if content_preservation(s, original) < 0.6]
        if sum(len(s.split()) for s in new) >= 20 and not any(asks(s) for s in new):
            return "it restates the prompt, then continues with statements that ask nothing"
    if "?" in original and not any(asks(s) for s in parts):
        return "the prompt asks a question; the rewrite only makes statements"
    return None
