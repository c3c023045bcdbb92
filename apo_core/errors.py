"""Exceptions raised by apo_core.

Every error a user can cause derives from :class:`APOError` and carries a message meant to be
read by a person: what went wrong and what to do about it. Backends translate provider errors
into :class:`RetryableModelError` (the engine retries it) or :class:`ModelCallError` (fatal).
"""

from __future__ import annotations


class APOError(Exception):
    """Base class of every apo-bpo error."""


class ConfigError(APOError, ValueError):
    """Invalid configuration or input (unknown role, bad parameter, empty dataset, ...)."""


class MissingExtraError(APOError, ImportError):
    """An optional dependency is not installed; the message names the pip command to run."""

    def __init__(self, extra: str, package: str, what: str) -> None:
        self.extra = extra
        self.package = package
        super().__init__(
            f"{what} needs the optional package {package!r}, which is not installed. "
            f"Install it with: pip install 'apo-bpo[{extra}]'"
        )


def require_extra(module: str, *, extra: str, what: str) -> None:
    """Import ``module``, or raise :class:`MissingExtraError` naming the pip command to run.

    The adapters call this first thing, so ``import langchain_apo`` without LangChain says which
    extra to install instead of failing deep inside an import chain.
    """
    import importlib

    try:
        importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(extra, module.split(".")[0].replace("_", "-"), what) from None


class ModelCallError(APOError):
    """A model call failed and retrying will not help (bad request, auth, unknown model)."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(message)


class RetryableModelError(ModelCallError):
    """A transient failure (429, 5xx, timeout, connection error, garbled reply).

    ``retry_after`` is the delay in seconds the provider asked for, if it said one.
    """

    def __init__(
        self, message: str, *, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class RetriesExhausted(ModelCallError):
    """A retryable failure persisted through every allowed attempt."""

    def __init__(self, message: str, *, attempts: int, last_error: BaseException) -> None:
        status = getattr(last_error, "status_code", None)
        super().__init__(message, status_code=status)
        self.attempts = attempts
        self.last_error = last_error


class BudgetExceeded(APOError):
    """The engine refused a call because it would pass the configured budget.

    Optimizers catch it between steps and stop cleanly with the best result so far.
    """

    def __init__(self, message: str, *, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


class CacheError(APOError):
    """The response cache file cannot be used (corrupt, locked, not writable)."""
