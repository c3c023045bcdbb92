"""The public surface of llama_index_apo: a flat, explicit, importable __all__."""

from __future__ import annotations

import llama_index_apo


def test_all_names_exist_once_and_sorted() -> None:
    names = llama_index_apo.__all__
    assert [n for n in names if not hasattr(llama_index_apo, n)] == []
    assert len(set(names)) == len(names)
    assert names == sorted(names, key=lambda n: (n[0].islower(), n))


def test_every_public_class_and_function_is_exported() -> None:
    from llama_index_apo import (
        bpo,
        evaluators,
        instrumentation,
        llms,
        optimizer,
        programs,
        prompts,
        result,
        serialize,
    )

    modules = (bpo, evaluators, instrumentation, llms, optimizer, programs, prompts)
    for module in (*modules, result, serialize):
        assert set(module.__all__) <= set(llama_index_apo.__all__), module.__name__
