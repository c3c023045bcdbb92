"""Without the framework installed, raise MissingExtraError naming the pip command to run."""

from apo_core.errors import require_extra

require_extra("llama_index.core", extra="llamaindex", what="llama_index_apo")
