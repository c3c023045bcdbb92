"""llama_index_apo: apo-bpo for LlamaIndex.

Adapts LlamaIndex PromptMixin modules (query engines, synthesizers), LLMs and query transforms
to the apo_core engine. The optimizers and rewriters themselves live in apo_core.
"""

from llama_index_apo.bpo import (
    BPOQueryEvent,
    BPOQueryTransform,
    BPORewriteEvent,
    BPOTransformQueryEngine,
    BPOWorkflowStep,
    arun_transform,
    bpo_step,
)
from llama_index_apo.instrumentation import EngineEvent, instrument_engine
from llama_index_apo.llms import (
    EngineLLM,
    LlamaIndexChatModel,
    from_llama_messages,
    to_llama_messages,
)
from llama_index_apo.prompts import (
    EditablePrompt,
    PromptUpdateError,
    copy_module,
    discover_prompts,
    editable,
    find_prompt,
    module_llm,
    set_prompt,
    template_variables,
    walk_prompt_modules,
    with_prompt,
)

__all__ = [
    "BPOQueryEvent",
    "BPOQueryTransform",
    "BPORewriteEvent",
    "BPOTransformQueryEngine",
    "BPOWorkflowStep",
    "EditablePrompt",
    "EngineEvent",
    "EngineLLM",
    "LlamaIndexChatModel",
    "PromptUpdateError",
    "arun_transform",
    "bpo_step",
    "copy_module",
    "discover_prompts",
    "editable",
    "find_prompt",
    "from_llama_messages",
    "instrument_engine",
    "module_llm",
    "set_prompt",
    "template_variables",
    "to_llama_messages",
    "walk_prompt_modules",
    "with_prompt",
]
