"""llama_index_apo: apo-bpo for LlamaIndex.

Adapts LlamaIndex PromptMixin modules (query engines, synthesizers), LLMs, evaluators, query
transforms and workflows to the apo_core engine, and saves optimized templates to JSON files.
The optimizers and rewriters themselves live in apo_core.
"""

from typing import Any

# First: without LlamaIndex installed, this raises MissingExtraError naming the pip command.
from llama_index_apo import _require  # noqa: F401  (isort: keep first)
from llama_index_apo.bpo import (
    BPOQueryEvent,
    BPOQueryTransform,
    BPORewriteEvent,
    BPOTransformQueryEngine,
    BPOWorkflowStep,
    arun_transform,
    as_transform,
    bpo_step,
)
from llama_index_apo.evaluators import Contexts, LlamaIndexEvaluatorMetric, as_llama_metric
from llama_index_apo.instrumentation import EngineEvent, instrument_engine
from llama_index_apo.llms import (
    EngineLLM,
    LlamaIndexChatModel,
    adapt_llm,
    from_llama_messages,
    to_llama_messages,
)
from llama_index_apo.optimizer import APOPromptOptimizer
from llama_index_apo.programs import QueryEngineProgram, SynthesizerProgram, as_nodes
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
from llama_index_apo.result import LlamaIndexAPOResult, PromptTarget
from llama_index_apo.serialize import (
    PromptFileError,
    dumps_templates,
    load_template,
    load_templates,
    loads_templates,
    save_templates,
    template_from_dict,
    template_to_dict,
)

__all__ = [
    "APOPromptOptimizer",
    "BPOQueryEvent",
    "BPOQueryTransform",
    "BPORewriteEvent",
    "BPOTransformQueryEngine",
    "BPOWorkflowStep",
    "Contexts",
    "EditablePrompt",
    "EngineEvent",
    "EngineLLM",
    "LlamaIndexAPOResult",
    "LlamaIndexChatModel",
    "LlamaIndexEvaluatorMetric",
    "PromptFileError",
    "PromptTarget",
    "PromptUpdateError",
    "QueryEngineProgram",
    "SynthesizerProgram",
    "adapt_llm",
    "arun_transform",
    "as_llama_metric",
    "as_nodes",
    "as_transform",
    "bpo_step",
    "copy_module",
    "discover_prompts",
    "dumps_templates",
    "editable",
    "find_prompt",
    "from_llama_messages",
    "instrument_engine",
    "load_template",
    "load_templates",
    "loads_templates",
    "module_llm",
    "save_templates",
    "set_prompt",
    "template_from_dict",
    "template_to_dict",
    "template_variables",
    "to_llama_messages",
    "walk_prompt_modules",
    "with_prompt",
]


def __getattr__(name: str) -> Any:
    if name == "EvaluatorMetric":  # deprecated alias of LlamaIndexEvaluatorMetric
        from llama_index_apo import evaluators

        return evaluators.EvaluatorMetric
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
