"""The engine wing: the one path every model call takes.

:class:`Engine` runs each call through the cache, the budget, rate limits and concurrency,
retries, the usage and cost ledger and the event bus; the modules here are those parts.
"""

from apo_core.engine.budget import Budget, BudgetGuard
from apo_core.engine.cache import CacheStats, ResponseCache, cache_key
from apo_core.engine.engine import Backoff, Engine
from apo_core.engine.events import (
    CacheEvent,
    CallEvent,
    Event,
    EventBus,
    LoggingListener,
    RunEvent,
)
from apo_core.engine.ledger import UsageLedger, UsageLine, UsageReport
from apo_core.engine.limits import ModelLimits
from apo_core.engine.pricing import cost_of, price_per_token
from apo_core.engine.progress import ProgressDisplay

__all__ = [
    "Backoff",
    "Budget",
    "BudgetGuard",
    "CacheEvent",
    "CacheStats",
    "CallEvent",
    "Engine",
    "Event",
    "EventBus",
    "LoggingListener",
    "ModelLimits",
    "ProgressDisplay",
    "ResponseCache",
    "RunEvent",
    "UsageLedger",
    "UsageLine",
    "UsageReport",
    "cache_key",
    "cost_of",
    "price_per_token",
]
