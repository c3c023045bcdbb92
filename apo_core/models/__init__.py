"""The models wing: backends behind the :class:`ChatModel` protocol, and what they share.

The protocol (``base``), the OpenAI-compatible chat and completions backends, the embedded
model (``local``), the scripted model for tests and docs, how provider errors are classified
(``provider_errors``), token counting (``tokens``) and the adapters' role-model coercion.
"""

from apo_core.models.base import ChatModel, parse_structured
from apo_core.models.local import LocalChatModel, default_model_path
from apo_core.models.openai_completion import OpenAICompletionModel
from apo_core.models.openai_model import OpenAIChatModel
from apo_core.models.provider_errors import classify_provider_error
from apo_core.models.roles import Adapt, as_chat_model, is_chat_model, role_models
from apo_core.models.scripted import ScriptedChatModel, ScriptedRequest
from apo_core.models.tokens import count_message_tokens, count_text_tokens, tokenizer_name

__all__ = [
    "Adapt",
    "ChatModel",
    "LocalChatModel",
    "OpenAIChatModel",
    "OpenAICompletionModel",
    "ScriptedChatModel",
    "ScriptedRequest",
    "as_chat_model",
    "classify_provider_error",
    "count_message_tokens",
    "count_text_tokens",
    "default_model_path",
    "is_chat_model",
    "parse_structured",
    "role_models",
    "tokenizer_name",
]
