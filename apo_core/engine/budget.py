"""Hard budgets: the engine reserves a call's worst case before making it.

A call reserves one call, its estimated input tokens plus its ``max_tokens`` per sample, and
the matching dollars; if the reservation would pass any limit the call is refused with
:class:`~apo_core.errors.BudgetExceeded`. After the call the reservation is replaced by the
real usage. With every call capped by ``max_tokens`` and input estimates at or above the real
count, spending can never pass the caps, even with many calls in flight.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from apo_core.errors import BudgetExceeded


class Budget(BaseModel):
    """Limits on what a run may spend. ``None`` means unlimited."""

    model_config = ConfigDict(frozen=True)

    max_calls: int | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, ge=0)
    max_dollars: float | None = Field(default=None, ge=0)

    @property
    def limits_tokens(self) -> bool:
        return self.max_tokens is not None or self.max_dollars is not None


@dataclass
class Reservation:
    """What one in-flight call has reserved."""

    tokens: int
    dollars: float


@dataclass
class Spent:
    """Settled spending (uncached calls only)."""

    calls: int = 0
    tokens: int = 0
    dollars: float = 0.0


class BudgetGuard:
    """Thread-safe accounting of spent and reserved budget."""

    def __init__(self, budget: Budget | None = None) -> None:
        self.budget = budget or Budget()
        self.spent = Spent()
        self._reserved = Spent()
        self._lock = threading.Lock()

    def reserve(self, tokens: int, dollars: float) -> Reservation:
        """Reserve one call; raise BudgetExceeded if it could pass a limit."""
        b = self.budget
        with self._lock:
            calls = self.spent.calls + self._reserved.calls + 1
            if b.max_calls is not None and calls > b.max_calls:
                raise BudgetExceeded(f"call budget of {b.max_calls} calls reached", limit="calls")
            tok = self.spent.tokens + self._reserved.tokens + tokens
            if b.max_tokens is not None and tok > b.max_tokens:
                raise BudgetExceeded(
                    f"token budget of {b.max_tokens} would be passed (this call may use "
                    f"{tokens}, {self.spent.tokens} spent)",
                    limit="tokens",
                )
            usd = self.spent.dollars + self._reserved.dollars + dollars
            if b.max_dollars is not None and usd > b.max_dollars + 1e-12:
                raise BudgetExceeded(
                    f"dollar budget of ${b.max_dollars:.4f} would be passed "
                    f"(${self.spent.dollars:.4f} spent)",
                    limit="dollars",
                )
            self._reserved.calls += 1
            self._reserved.tokens += tokens
            self._reserved.dollars += dollars
        return Reservation(tokens=tokens, dollars=dollars)

    def settle(self, reservation: Reservation, *, tokens: int, dollars: float) -> None:
        """Replace a reservation by what the call really used."""
        with self._lock:
            self._release_locked(reservation)
            self.spent.calls += 1
            self.spent.tokens += tokens
            self.spent.dollars += dollars

    def release(self, reservation: Reservation) -> None:
        """Drop a reservation of a call that failed without being billed."""
        with self._lock:
            self._release_locked(reservation)

    def _release_locked(self, reservation: Reservation) -> None:
        self._reserved.calls -= 1
        self._reserved.tokens -= reservation.tokens
        self._reserved.dollars -= reservation.dollars

    def remaining(self) -> dict[str, float | None]:
        """What is left of each limit (None = unlimited)."""
        b = self.budget
        with self._lock:
            return {
                "calls": None if b.max_calls is None else b.max_calls - self.spent.calls,
                "tokens": None if b.max_tokens is None else b.max_tokens - self.spent.tokens,
                "dollars": None if b.max_dollars is None else b.max_dollars - self.spent.dollars,
            }
