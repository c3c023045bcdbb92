"""llama_index_apo: apo-bpo for LlamaIndex.

Adapts LlamaIndex PromptMixin modules (query engines, synthesizers), LLMs and query transforms
to the apo_core engine. The optimizers and rewriters themselves live in apo_core.
"""

from llama_index_apo.instrumentation import EngineEvent, instrument_engine
from llama_index_apo.llms import (
    EngineLLM,
    LlamaIndexChatModel,
    from_llama_messages,
    to_llama_messages,
)

__all__ = [
    "EngineEvent",
    "EngineLLM",
    "LlamaIndexChatModel",
    "from_llama_messages",
    "instrument_engine",
    "to_llama_messages",
]
