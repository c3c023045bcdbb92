"""Turning raw model output into a candidate prompt, per source and mode.

THUDM/BPO output: the text after ``[/INST]`` (servers that echo the prompt included), stripped.
Meta-prompt output: the text between ``<prompt>`` tags, else the reply without a chatty first
line ("Here is the improved prompt:"), a label ("Improved prompt:"), code fences or wrapping
quotes. Aggressive mode then keeps the
first line only and cuts at the first (partial) banned marker, as the release does.
"""

from __future__ import annotations

import re

from apo_core.bpo.templates import BANNED_PREFIXES, ModeSettings

_TAGGED = re.compile(r"<prompt>(.*?)(?:</prompt>|\Z)", re.I | re.S)
_CLOSING_ONLY = re.compile(r"\A(.*?)</prompt>", re.I | re.S)
_ECHO_TAGS = re.compile(r"</?(?:original|prompt)>", re.I)
_PREAMBLE = re.compile(
    r"\s*(?:(?:sure|certainly|okay|ok|of course)\b[^\n]*?[,.!]\s*)?"
    r"(?:here|below|this is|the (?:improved|optimized|rewritten|revised|new|better))\b"
    r"[^:\n]{0,120}:",
    re.I,
)
_ABOUT_PROMPT = re.compile(r"\b(?:prompt|version|rewrite|instruction)\b", re.I)
_LABEL = re.compile(
    r"\A\s*(?:improved|optimized|rewritten|revised|new|better) (?:prompt|instruction)\s*:\s*",
    re.I,
)
_FENCE = re.compile(r"\A```[\w-]*\n(.*?)\n?```\s*\Z", re.S)
_QUOTES = {'"': '"', "“": "”", "'": "'"}


def from_bpo_model(text: str) -> str:
    """The rewrite in a THUDM/BPO completion (the part after ``[/INST]`` if it is echoed)."""
    if "[/INST]" in text:
        text = text.rsplit("[/INST]", 1)[1]
    return text.strip()


def _unwrap(text: str) -> str:
    text = text.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] == _QUOTES[text[0]]:
        inner = text[1:-1]
        if text[0] not in inner and _QUOTES[text[0]] not in inner:
            text = inner.strip()
    return text


def _strip_preamble(text: str) -> str:
    """Drop a chatty opener ("Sure! Here is the improved prompt:") before the rewrite."""
    first, sep, rest = text.lstrip().partition("\n")
    opener = _PREAMBLE.match(first)
    if opener is None or not _ABOUT_PROMPT.search(opener.group(0)):
        return text
    tail = first[opener.end() :].strip()
    return tail + sep + rest if tail else rest


def from_meta_prompt(text: str) -> str:
    """The rewrite in a chat model's reply to the meta-prompt (tolerant of sloppy formats)."""
    tagged = _TAGGED.search(text)
    if tagged:
        text = tagged.group(1)
    else:
        closing = _CLOSING_ONLY.match(text)
        if closing:
            text = closing.group(1)
        text = _LABEL.sub("", _strip_preamble(text).lstrip(), count=1)
    text = _ECHO_TAGS.sub("", text)
    return _unwrap(text)


def apply_mode(text: str, settings: ModeSettings) -> str:
    """Aggressive post-processing: first line only, cut at the first banned marker prefix."""
    text = text.strip()
    if settings.cut_at_newline:
        text = text.split("\n", 1)[0]
    if settings.cut_banned_markers:
        for prefix in BANNED_PREFIXES:
            text = text.split(prefix, 1)[0]
    return text.strip()
