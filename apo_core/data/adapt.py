"""Coerce foreign datasets into apo_core :class:`Example` lists, and the adapters' default split.

Framework-free (nothing is imported from LangChain, LangSmith or LlamaIndex): objects are
duck-typed. Datasets may be an apo_core :class:`~apo_core.data.Dataset`, examples, flat
records (``{"text": ..., "label": ...}``), ``{"inputs": ..., "outputs": ...}`` dicts, or
LangSmith-style objects with ``.inputs`` / ``.outputs``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from apo_core.data.dataset import Dataset
from apo_core.data.example import Example
from apo_core.errors import ConfigError

__all__ = ["DEFAULT_SPLIT", "REFERENCE", "coerce_examples"]

DEFAULT_SPLIT = (0.5, 0.25, 0.25)
"""Train/validation/test fractions the adapters split one dataset into: the test part is
scored once, at the end, on the initial and the best prompt."""
REFERENCE = "reference_outputs"
"""Metadata key where :func:`coerce_examples` keeps an example's full reference outputs."""


def _from_object(obj: Any, output_key: str | None, where: str) -> Example:
    inputs = obj.get("inputs") if isinstance(obj, Mapping) else getattr(obj, "inputs", None)
    if not isinstance(inputs, Mapping):
        raise ConfigError(f"{where}: 'inputs' must be a dict, got {type(inputs).__name__}")
    if isinstance(obj, Mapping):
        outputs = obj.get("outputs", obj.get("reference_outputs"))
        extra = obj.get("metadata") or {}
    else:
        outputs = getattr(obj, "outputs", None)
        extra = getattr(obj, "metadata", None) or {}
    metadata: dict[str, Any] = dict(extra) if isinstance(extra, Mapping) else {}
    ident = obj.get("id") if isinstance(obj, Mapping) else getattr(obj, "id", None)
    if ident is not None:
        metadata.setdefault("source_id", str(ident))
    output: Any = outputs
    if isinstance(outputs, Mapping):
        metadata[REFERENCE] = dict(outputs)
        if output_key is not None:
            if output_key not in outputs:
                raise ConfigError(f"{where}: outputs have no key {output_key!r}")
            output = outputs[output_key]
        elif len(outputs) == 1:
            output = next(iter(outputs.values()))
        else:
            output = dict(outputs)
    return Example(inputs=dict(inputs), output=output, metadata=metadata)


def coerce_examples(
    data: Any,
    *,
    input_keys: Sequence[str] | None = None,
    output_key: str | None = None,
) -> list[Example]:
    """Examples from any supported dataset shape (see the module docstring).

    ``output_key`` picks the expected output: from ``outputs`` for inputs/outputs shapes
    (default: its only value, else the whole dict), or the label column of flat records
    (default ``"label"``). ``input_keys`` selects the inputs of flat records.

    Raises:
        ConfigError: an item has none of the supported shapes.
    """
    if isinstance(data, Dataset):
        return list(data)
    if isinstance(data, Mapping | str | bytes) or not isinstance(data, Iterable):
        raise ConfigError(
            f"a dataset must be a list of examples or records, got {type(data).__name__}"
        )
    out: list[Example] = []
    for i, item in enumerate(data):
        where = f"dataset item {i}"
        if isinstance(item, Example):
            out.append(item)
        elif isinstance(item, Mapping) and "inputs" in item and isinstance(item["inputs"], Mapping):
            out.append(_from_object(item, output_key, where))
        elif isinstance(item, Mapping):
            key = "label" if output_key is None else output_key
            out.extend(Dataset.from_records([item], input_keys=input_keys, output_key=key))
        elif hasattr(item, "inputs"):
            out.append(_from_object(item, output_key, where))
        else:
            raise ConfigError(
                f"{where} is a {type(item).__name__}: expected an Example, a dict, or an "
                "object with .inputs and .outputs (a LangSmith example)"
            )
    return out
