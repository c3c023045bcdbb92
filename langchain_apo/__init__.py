"""langchain_apo: apo-bpo for LangChain.

Adapts LangChain Runnables, PromptTemplates and chat models to the apo_core engine. The
optimizers and rewriters themselves live in apo_core; this package only adapts.
"""

# First: without LangChain installed, this raises MissingExtraError naming the pip command.
from langchain_apo import _require  # noqa: F401  (isort: keep first)
from langchain_apo.bpo import BPORewriter, insert_bpo
from langchain_apo.models import EngineChatModel, LangChainChatModel
from langchain_apo.optimizer import APOOptimizer, LangChainAPOResult
from langchain_apo.program import ChainProgram, output_text, route_models
from langchain_apo.walker import (
    PromptNotFoundError,
    PromptRef,
    find_prompts,
    replace_prompt,
    replace_text,
    select_prompt,
    template_variables,
    with_text,
)

__all__ = [
    "APOOptimizer",
    "BPORewriter",
    "ChainProgram",
    "EngineChatModel",
    "LangChainAPOResult",
    "LangChainChatModel",
    "PromptNotFoundError",
    "PromptRef",
    "find_prompts",
    "insert_bpo",
    "output_text",
    "replace_prompt",
    "replace_text",
    "route_models",
    "select_prompt",
    "template_variables",
    "with_text",
]
