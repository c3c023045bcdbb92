"""Model backends behind the :class:`ChatModel` protocol."""

from apo_core.models.base import ChatModel, parse_structured
from apo_core.models.local import LocalChatModel, default_model_path
from apo_core.models.openai_completion import OpenAICompletionModel
from apo_core.models.openai_model import OpenAIChatModel
from apo_core.models.scripted import ScriptedChatModel, ScriptedRequest

__all__ = [
    "ChatModel",
    "LocalChatModel",
    "OpenAIChatModel",
    "OpenAICompletionModel",
    "ScriptedChatModel",
    "ScriptedRequest",
    "default_model_path",
    "parse_structured",
]
