"""Identical requests in flight share one call (per event loop: a future belongs to one loop).

The first request for a key *leads*: it registers a future, makes the call and sets the
future's outcome. Identical requests arriving meanwhile *join*: they wait for that future
(shielded, so a waiter's cancellation does not cancel the leader). If the leader is cancelled,
a waiter that was not cancelled itself makes the call instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class InFlight(Generic[T]):
    """The requests being made right now, by key and event loop."""

    def __init__(self) -> None:
        self._pending: dict[tuple[asyncio.AbstractEventLoop, str], asyncio.Future[T]] = {}

    async def join(self, key: str) -> T | None:
        """The result of an identical request in flight, or None when the caller must lead."""
        loop = asyncio.get_running_loop()
        while (pending := self._pending.get((loop, key))) is not None:
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if pending.cancelled() and (task is None or not task.cancelling()):
                    continue  # the call we waited for was cancelled, not us: make it ourselves
                raise
        return None

    @contextlib.contextmanager
    def lead(self, key: str) -> Iterator[asyncio.Future[T]]:
        """Register the caller's request for ``key``; set its result on the future yielded.

        An exception leaving the block is passed to the waiters (a cancellation cancels
        them); the registration ends with the block.
        """
        loop = asyncio.get_running_loop()
        slot = (loop, key)
        future: asyncio.Future[T] = loop.create_future()
        self._pending[slot] = future
        try:
            yield future
        except BaseException as exc:
            if not future.done():
                if isinstance(exc, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(exc)
                    future.exception()  # mark retrieved: waiters (if any) re-raise it themselves
            raise
        finally:
            if self._pending.get(slot) is future:
                del self._pending[slot]
