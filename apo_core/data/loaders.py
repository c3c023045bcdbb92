"""Reading examples from records, JSON Lines and CSV files, with errors that name file and line.

The :class:`~apo_core.data.Dataset` loaders (``from_records``, ``from_jsonl``, ``from_csv``)
call these; use those.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from apo_core.data.example import Example
from apo_core.errors import ConfigError

PathLike = str | os.PathLike[str]


def read_jsonl(
    path: PathLike, input_keys: Sequence[str] | None, output_key: str | None, encoding: str
) -> list[Example]:
    """The examples of a JSON Lines file (see ``Dataset.from_jsonl``)."""
    text = read_text(path, encoding)
    examples: list[Example] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{os.fspath(path)}:{lineno}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno})") from exc
        example = record_to_example(record, where, input_keys, output_key)
        example.metadata.setdefault("line", lineno)
        examples.append(example)
    if not examples:
        raise ConfigError(f"{os.fspath(path)}: no records (the file has only blank lines)")
    return examples


def read_csv(
    path: PathLike,
    input_keys: Sequence[str] | None,
    output_key: str | None,
    encoding: str,
    delimiter: str,
) -> list[Example]:
    """The examples of a CSV file (see ``Dataset.from_csv``)."""
    text = read_text(path, encoding)
    where = os.fspath(path)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = reader.fieldnames
    except csv.Error as exc:
        raise ConfigError(f"{where}:1: unreadable CSV header ({exc})") from exc
    if not header:
        raise ConfigError(f"{where}: no header row")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise ConfigError(f"{where}:1: repeated column name(s) {repeated} in the header")
    if output_key is not None and output_key not in header:
        raise ConfigError(
            f"{where}:1: no column {output_key!r} for the output; the columns are "
            f"{list(header)} (pass output_key=... or output_key=None for unlabelled data)"
        )
    examples: list[Example] = []
    try:
        for row in reader:
            at = f"{where}:{reader.line_num}"
            if None in row or any(v is None for v in row.values()):
                raise ConfigError(
                    f"{at}: expected {len(header)} fields as in the header, got a different number"
                )
            example = record_to_example(row, at, input_keys, output_key)
            example.metadata.setdefault("line", reader.line_num)
            examples.append(example)
    except csv.Error as exc:
        raise ConfigError(f"{where}:{reader.line_num}: malformed CSV ({exc})") from exc
    if not examples:
        raise ConfigError(f"{where}: a header but no data rows")
    return examples


def default_name(path: PathLike) -> str:
    return os.path.splitext(os.path.basename(os.fspath(path)))[0]


def read_text(path: PathLike, encoding: str) -> str:
    where = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError as exc:
        raise ConfigError(f"{where}: no such file") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"{where}: is a directory, not a data file") from exc
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read ({exc.strerror or exc})") from exc
    try:
        text = raw.decode(
            "utf-8-sig" if encoding.lower().replace("_", "-") == "utf-8" else encoding
        )
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{where}:{line}: not valid {encoding} (byte {exc.start}: {exc.reason}); "
            f"pass the file's encoding, e.g. encoding='latin-1' or 'cp1252'"
        ) from exc
    except LookupError as exc:
        raise ConfigError(f"unknown encoding {encoding!r}") from exc
    if not text.strip():
        raise ConfigError(f"{where}: the file is empty")
    return text


def record_to_example(
    record: Any,
    where: str,
    input_keys: Sequence[str] | None,
    output_key: str | None,
) -> Example:
    if not isinstance(record, Mapping):
        raise ConfigError(f"{where}: expected an object/dict, got {type(record).__name__}")
    if output_key is not None and output_key not in record:
        raise ConfigError(
            f"{where}: missing the output key {output_key!r}; keys are {sorted(map(str, record))} "
            f"(pass output_key=... or output_key=None for unlabelled data)"
        )
    if input_keys is None:
        inputs = {str(k): v for k, v in record.items() if k != output_key}
    else:
        missing = [k for k in input_keys if k not in record]
        if missing:
            raise ConfigError(
                f"{where}: missing input key(s) {missing}; keys are {sorted(map(str, record))}"
            )
        inputs = {k: record[k] for k in input_keys}
    if not inputs:
        raise ConfigError(f"{where}: no input fields (only the output key {output_key!r})")
    output = record[output_key] if output_key is not None else None
    return Example(inputs=inputs, output=output)
