"""Helpers shared by the LangChain adapter tests (imported as ``lc_helpers``)."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from apo_core import ScriptedRequest


class RecordingHandler(BaseCallbackHandler):
    """Records (event, name, run_id, parent_run_id) for chain and chat-model runs."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, UUID, UUID | None]] = []

    @staticmethod
    def _name(serialized: dict[str, Any] | None, kwargs: dict[str, Any]) -> str:
        if kwargs.get("name"):
            return str(kwargs["name"])
        ids = (serialized or {}).get("id") or ["?"]
        return str((serialized or {}).get("name") or ids[-1])

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self.events.append(("chain", self._name(serialized, kwargs), run_id, parent_run_id))

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self.events.append(("chat_model", self._name(serialized, kwargs), run_id, parent_run_id))

    def runs(self, kind: str, name: str | None = None) -> list[tuple[UUID, UUID | None]]:
        """(run_id, parent_run_id) of the recorded runs of this kind (and name)."""
        return [
            (run, parent)
            for k, n, run, parent in self.events
            if k == kind and (name is None or n == name)
        ]


def bpo_reply(request: ScriptedRequest) -> str:
    """A meta-prompt rewrite that keeps the original and elaborates it."""
    match = re.search(r"<original>\n(.*)\n</original>", request.last_user, re.S)
    original = match.group(1) if match else request.last_user
    return f"<prompt>{original} Explain step by step and give one example.</prompt>"
