"""The fake server's admission: what happens to a request before it is answered.

Each completion request is recorded, takes the next queued fault (or, with ``fault_rate``, a
seeded random one), and is checked against the RPM and TPM limits over a sliding window. All of
it is thread-safe: the server answers from one thread per connection.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from apo_core.testing.wire import DEFAULT_RANDOM_FAULTS, Fault


@dataclass(frozen=True)
class RateLimited:
    """A request over a rate limit: how long until the window has room, and which limit."""

    retry_after: float
    limit: str


class Admission:
    """Records, faults and rate limits of a fake server (the base of ``FakeOpenAIServer``).

    Args:
        fault_rate: probability that a request (without a queued fault) gets a random fault
            drawn from ``random_faults``; seeded by ``seed``.
        random_faults: the faults drawn from when ``fault_rate`` > 0.
        rpm: requests per minute; requests over it are refused (429).
        tpm: tokens (prompt + completion) per minute of answered requests; a request arriving
            while the window's answers used the window's share of ``tpm`` is refused likewise.
        window_s: the sliding window over which ``rpm`` and ``tpm`` are enforced, pro rata.
        seed: seeds the random faults.
    """

    def __init__(
        self,
        *,
        fault_rate: float = 0.0,
        random_faults: Sequence[Fault] = DEFAULT_RANDOM_FAULTS,
        rpm: float | None = None,
        tpm: float | None = None,
        window_s: float = 60.0,
        seed: int = 0,
    ) -> None:
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError("fault_rate must be in [0, 1]")
        if rpm is not None and rpm <= 0:
            raise ValueError("rpm must be positive")
        if tpm is not None and tpm <= 0:
            raise ValueError("tpm must be positive")
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        self.fault_rate = fault_rate
        self.random_faults = tuple(random_faults)
        self.rpm = rpm
        self.tpm = tpm
        self.window_s = window_s
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._faults: deque[Fault] = deque()
        self._window: deque[float] = deque()
        self._token_window: deque[tuple[float, int]] = deque()
        self._requests: list[dict[str, Any]] = []
        self._answered: list[dict[str, Any]] = []
        self._counts: dict[str, int] = {}
        self._in_flight = 0
        self._max_in_flight = 0

    def add_faults(self, *faults: Fault | Iterable[Fault]) -> None:
        """Queue faults; each completion request consumes the next one."""
        with self._lock:
            for fault in faults:
                if isinstance(fault, Fault):
                    self._faults.append(fault)
                else:
                    self._faults.extend(fault)

    @property
    def pending_faults(self) -> int:
        """Queued faults not consumed yet."""
        with self._lock:
            return len(self._faults)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of the completion requests received, in order (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def answered(self) -> list[dict[str, Any]]:
        """The JSON bodies of the requests answered successfully (200 with choices), in the
        order the answers were sent (a copy): what a provider would bill."""
        with self._lock:
            return list(self._answered)

    @property
    def request_count(self) -> int:
        """Completion requests received (chat and legacy)."""
        with self._lock:
            return len(self._requests)

    @property
    def counts(self) -> dict[str, int]:
        """Counters: ``chat``, ``completions``, ``models``, ``faults``, ``rate_limited``, ``ok``,
        ``responder_errors``."""
        with self._lock:
            return dict(self._counts)

    @property
    def max_in_flight(self) -> int:
        """The most completion requests that were being answered at once."""
        with self._lock:
            return self._max_in_flight

    def reset(self) -> None:
        """Forget recorded requests, counters and queued faults."""
        with self._lock:
            self._requests.clear()
            self._answered.clear()
            self._counts.clear()
            self._faults.clear()
            self._window.clear()
            self._token_window.clear()
            self._max_in_flight = self._in_flight

    # -- admission ------------------------------------------------------------------------

    def _count(self, name: str, by: int = 1) -> None:
        with self._lock:
            self._counts[name] = self._counts.get(name, 0) + by

    def _admit(self, body: dict[str, Any], chat: bool) -> tuple[Fault | None, RateLimited | None]:
        """Record the request; return its fault and whether it is over the RPM or TPM limit."""
        with self._lock:
            self._requests.append(body)
            key = "chat" if chat else "completions"
            self._counts[key] = self._counts.get(key, 0) + 1
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            fault = self._faults.popleft() if self._faults else None
            if fault is None and self.fault_rate and self._rng.random() < self.fault_rate:
                fault = self._rng.choice(self.random_faults) if self.random_faults else None
            wait: RateLimited | None = None
            span, scale = self.window_s, self.window_s / 60.0
            if self.rpm is not None:
                now = time.monotonic()
                while self._window and now - self._window[0] >= span:
                    self._window.popleft()
                if len(self._window) >= self.rpm * scale:
                    wait = RateLimited(
                        max(span - (now - self._window[0]), 0.001), f"{self.rpm:g} requests"
                    )
                else:
                    self._window.append(now)
            if self.tpm is not None and wait is None:
                now = time.monotonic()
                while self._token_window and now - self._token_window[0][0] >= span:
                    self._token_window.popleft()
                if sum(n for _, n in self._token_window) >= self.tpm * scale:
                    left = span - (now - self._token_window[0][0])
                    wait = RateLimited(max(left, 0.001), f"{self.tpm:g} tokens")
            return fault, wait

    def _finished(self) -> None:
        """A request admitted by :meth:`_admit` has been answered (or dropped)."""
        with self._lock:
            self._in_flight -= 1

    def _answered_ok(self, body: dict[str, Any], total_tokens: int) -> None:
        """Record a successful answer (what a provider bills) and its tokens for TPM."""
        with self._lock:
            self._answered.append(body)
            self._token_window.append((time.monotonic(), total_tokens))
            self._counts["ok"] = self._counts.get("ok", 0) + 1
