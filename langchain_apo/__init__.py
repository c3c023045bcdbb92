"""langchain_apo: apo-bpo for LangChain.

Adapts LangChain Runnables, PromptTemplates and chat models to the apo_core engine. The
optimizers and rewriters themselves live in apo_core; this package only adapts.
"""

__all__: list[str] = []
