"""llama_index_apo: apo-bpo for LlamaIndex.

Adapts LlamaIndex PromptMixin modules (query engines, synthesizers), LLMs and query transforms
to the apo_core engine. The optimizers and rewriters themselves live in apo_core.
"""

__all__: list[str] = []
