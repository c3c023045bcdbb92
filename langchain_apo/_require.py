"""Without the framework installed, raise MissingExtraError naming the pip command to run."""

from apo_core.errors import require_extra

require_extra("langchain_core", extra="langchain", what="langchain_apo")
