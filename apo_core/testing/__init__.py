"""Test helpers shipped with apo_core: a real OpenAI-compatible fake server on 127.0.0.1,
plus in-process fakes (a recording sleep, a chat model that holds its calls)."""

from apo_core.testing.fakes import GatedChatModel, RecordingSleep
from apo_core.testing.openai_server import FakeOpenAIServer
from apo_core.testing.responders import local_model_responder
from apo_core.testing.wire import (
    DEFAULT_RANDOM_FAULTS,
    Fault,
    Responder,
    count_tokens,
    echo_responder,
)

__all__ = [
    "DEFAULT_RANDOM_FAULTS",
    "FakeOpenAIServer",
    "Fault",
    "GatedChatModel",
    "RecordingSleep",
    "Responder",
    "count_tokens",
    "echo_responder",
    "local_model_responder",
]
