"""Loading BPO inputs: preference rows and plain prompt lists, from JSONL or JSON files.

Key names vary between datasets (``instruction``/``prompt``/``question``, ``good_res``/
``chosen``, ...): the first alias present wins, and an explicit ``keys`` mapping overrides.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from apo_core.errors import ConfigError

ALIASES: dict[str, tuple[str, ...]] = {
    "instruction": ("instruction", "prompt", "question", "query", "text"),
    "context": ("context", "input", "ctx"),
    "good": ("good_res", "good", "good_response", "chosen", "preferred", "better"),
    "bad": ("bad_res", "bad", "bad_response", "rejected", "dispreferred", "worse"),
}
"""Accepted key names per field, most specific first (``input`` is Alpaca's context)."""


class PreferenceRow(BaseModel):
    """One preference example: an instruction and a better and a worse response to it."""

    instruction: str
    context: str = ""
    good: str
    bad: str


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Records from a JSONL file or a JSON file (a list, or an object with a list value).

    Raises:
        ConfigError: the file is missing or is neither format.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"data file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        try:
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path} is neither JSON nor JSONL: {exc}") from None
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        data = lists[0] if len(lists) == 1 else [data]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ConfigError(f"{path} must hold JSON objects (one per line, or a list of them)")
    return data


def _pick(record: Mapping[str, Any], field: str, keys: Mapping[str, str]) -> Any:
    if field in keys:
        return record.get(keys[field])
    for name in ALIASES[field]:
        if name in record:
            return record[name]
    return None


def _records(source: str | Path | Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    if isinstance(source, (str, Path)):
        return list(read_records(source))
    return list(source)


def load_preference_rows(
    source: str | Path | Iterable[Mapping[str, Any]], *, keys: Mapping[str, str] | None = None
) -> list[PreferenceRow]:
    """Preference rows from a file or records; ``keys`` maps field -> key name.

    Raises:
        ConfigError: a record lacks an instruction, a good or a bad response.
    """
    keys = dict(keys or {})
    rows = []
    for i, record in enumerate(_records(source)):
        values = {f: _pick(record, f, keys) for f in ALIASES}
        missing = [f for f in ("instruction", "good", "bad") if not isinstance(values[f], str)]
        if missing:
            raise ConfigError(
                f"record {i} has no {', '.join(missing)} (keys present: {sorted(record)}); "
                "name its keys: keys={'instruction': ..., 'good': ..., 'bad': ...} in Python, "
                "--key instruction=NAME --key good=NAME --key bad=NAME with apo bpo-pairs"
            )
        context = values["context"]
        rows.append(
            PreferenceRow(
                instruction=values["instruction"],
                context=context if isinstance(context, str) else "",
                good=values["good"],
                bad=values["bad"],
            )
        )
    return rows


def load_prompts(
    source: str | Path | Iterable[Mapping[str, Any]],
    *,
    key: str | None = None,
    context_key: str | None = None,
) -> list[str]:
    """Prompts (instruction, then context on a new line if any) from a file or records."""
    keys = {"instruction": key} if key else {}
    if context_key:
        keys["context"] = context_key
    prompts: list[str] = []
    for i, record in enumerate(_records(source)):
        text, context = _pick(record, "instruction", keys), _pick(record, "context", keys)
        if not isinstance(text, str):
            raise ConfigError(
                f"record {i} has no prompt text (keys present: {sorted(record)}); name its key: "
                "key=... in Python, --key instruction=NAME on the command line"
            )
        if isinstance(context, str) and context.strip():
            text = f"{text.strip()}\n{context.strip()}"
        prompts.append(text)
    return prompts
