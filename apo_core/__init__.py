"""apo_core: the framework-neutral async engine of apo-bpo.

Every LLM call of every role goes through one :class:`Engine` (cache, budget, limits, retries,
accounting, events). Model backends implement the :class:`ChatModel` protocol. Nothing here
imports LangChain or LlamaIndex.
"""

from apo_core.budget import Budget
from apo_core.cache import ResponseCache, cache_key
from apo_core.engine import Backoff, Engine
from apo_core.errors import (
    APOError,
    BudgetExceeded,
    CacheError,
    ConfigError,
    MissingExtraError,
    ModelCallError,
    RetriesExhausted,
    RetryableModelError,
)
from apo_core.events import CallEvent, Event, EventBus, LoggingListener, RunEvent
from apo_core.ledger import UsageLine, UsageReport
from apo_core.limits import ModelLimits
from apo_core.models import (
    ChatModel,
    LocalChatModel,
    OpenAIChatModel,
    ScriptedChatModel,
    ScriptedRequest,
)
from apo_core.progress import ProgressDisplay
from apo_core.sync import run_sync
from apo_core.types import ROLES, Completion, CompletionParams, Message, Role, Usage

__version__ = "0.1.0"

__all__ = [
    "ROLES",
    "APOError",
    "Backoff",
    "Budget",
    "BudgetExceeded",
    "CacheError",
    "CallEvent",
    "ChatModel",
    "Completion",
    "CompletionParams",
    "ConfigError",
    "Engine",
    "Event",
    "EventBus",
    "LocalChatModel",
    "LoggingListener",
    "Message",
    "MissingExtraError",
    "ModelCallError",
    "ModelLimits",
    "OpenAIChatModel",
    "ProgressDisplay",
    "ResponseCache",
    "RetriesExhausted",
    "RetryableModelError",
    "Role",
    "RunEvent",
    "ScriptedChatModel",
    "ScriptedRequest",
    "Usage",
    "UsageLine",
    "UsageReport",
    "__version__",
    "cache_key",
    "run_sync",
]
