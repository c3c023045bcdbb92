"""apo_core: the framework-neutral async engine of apo-bpo.

Every LLM call of every role goes through one :class:`Engine` (cache, budget, limits, retries,
accounting, events). Model backends implement the :class:`ChatModel` protocol. Nothing here
imports LangChain or LlamaIndex.
"""

from apo_core.apo import APO, APOConfig, APOResult, estimate_calls
from apo_core.bpo import BPOResult, BPORewriter
from apo_core.budget import Budget
from apo_core.cache import ResponseCache, cache_key
from apo_core.data import Dataset, Example, Splits
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
from apo_core.events import (
    CacheEvent,
    CallEvent,
    Event,
    EventBus,
    LoggingListener,
    RunEvent,
)
from apo_core.ledger import UsageLine, UsageReport
from apo_core.limits import ModelLimits
from apo_core.metrics import (
    CallableMetric,
    Contains,
    ExactMatch,
    LabelAccuracy,
    LLMJudge,
    Metric,
    NumericTolerance,
    RegexMatch,
    Score,
    accuracy,
    as_metric,
    binary_f1,
    bootstrap_ci,
    macro_f1,
)
from apo_core.models import (
    ChatModel,
    LocalChatModel,
    OpenAIChatModel,
    OpenAICompletionModel,
    ScriptedChatModel,
    ScriptedRequest,
)
from apo_core.program import EngineBypassWarning, PromptProgram, TemplateProgram
from apo_core.progress import ProgressDisplay
from apo_core.sync import run_sync
from apo_core.types import ROLES, Completion, CompletionParams, Message, Role, Usage

__version__ = "0.1.0"

__all__ = [
    "APO",
    "ROLES",
    "APOConfig",
    "APOError",
    "APOResult",
    "BPOResult",
    "BPORewriter",
    "Backoff",
    "Budget",
    "BudgetExceeded",
    "CacheError",
    "CacheEvent",
    "CallEvent",
    "CallableMetric",
    "ChatModel",
    "Completion",
    "CompletionParams",
    "ConfigError",
    "Contains",
    "Dataset",
    "Engine",
    "EngineBypassWarning",
    "Event",
    "EventBus",
    "ExactMatch",
    "Example",
    "LLMJudge",
    "LabelAccuracy",
    "LocalChatModel",
    "LoggingListener",
    "Message",
    "Metric",
    "MissingExtraError",
    "ModelCallError",
    "ModelLimits",
    "NumericTolerance",
    "OpenAIChatModel",
    "OpenAICompletionModel",
    "ProgressDisplay",
    "PromptProgram",
    "RegexMatch",
    "ResponseCache",
    "RetriesExhausted",
    "RetryableModelError",
    "Role",
    "RunEvent",
    "Score",
    "ScriptedChatModel",
    "ScriptedRequest",
    "Splits",
    "TemplateProgram",
    "Usage",
    "UsageLine",
    "UsageReport",
    "__version__",
    "accuracy",
    "as_metric",
    "binary_f1",
    "bootstrap_ci",
    "cache_key",
    "estimate_calls",
    "macro_f1",
    "run_sync",
]
