"""A per-window request budget, as the server's rate-limit headers report it, spent without meeting 429s."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class WindowBudget:
    """Spreads requests so a run at the account's limit meets few 429s.

    Helpdesks count a budget (credits or requests) per account per window (a minute) and report what
    remains on every answer. While plenty remains, requests go at once; once less than `low water`
    remains, the rest are spaced evenly until the window end; when none remains, everyone waits for it.
    The window end is the server's word when it gives one (`reset_in`), else estimated late rather than
    early (first answer + window), corrected by resets seen in the headers and by Retry-After.
    `roll_from_start`: a window that ends before a request's slot rolls over at the slot, not at the
    moment it is claimed.
    """

    def __init__(
        self,
        window_seconds: float = 60.0,
        *,
        reserve: int = 3,
        clock: Callable[[], float] = time.monotonic,
        roll_from_start: bool = False,
    ):
        self.window_seconds = window_seconds
        self._reserve = reserve
        self._clock = clock
        self._roll_from_start = roll_from_start
        self._lock = threading.Lock()
        self._total: float | None = None
        self._remaining: float | None = None  # the server's last word minus what is in flight since
        self._window_end: float | None = None
        self._next_slot = 0.0
        self._pending = 0.0  # the cost of requests sent and not yet answered

    def _low_water(self) -> float:
        return max(self._reserve + 1.0, (self._total or 0.0) * 0.1)

    def _roll(self, at: float) -> None:
        """The estimated window has ended: assume a fresh budget; answers correct it if not."""
        assert self._window_end is not None and self._total is not None
        following = self._window_end + self.window_seconds
        self._window_end = following if at < following else at + self.window_seconds
        self._remaining = self._total - self._pending

    def reserve(self, cost: float = 1.0) -> float:
        """Claim a slot for a request costing about `cost`; returns the seconds to wait before sending."""
        with self._lock:
            self._pending += cost
            now = self._clock()
            start = max(now, self._next_slot)
            if self._remaining is None or self._window_end is None or self._total is None:
                return start - now
            moment = start if self._roll_from_start else now
            if moment >= self._window_end:
                self._roll(moment)
            if self._remaining - cost >= self._low_water():
                self._remaining -= cost
                return start - now
            if self._remaining >= cost:
                # Space the last of the budget evenly over what is left of the window.
                slots = self._remaining / cost
                self._next_slot = start + max(0.0, self._window_end - start) / slots
                self._remaining -= cost
                return start - now
            start = max(start, self._window_end)
            self._next_slot = start
            self._roll(start)
            self._remaining = (self._remaining or 0.0) - cost
            return start - now

    def release(self, cost: float = 1.0) -> None:
        """The request got no answer (connection error)."""
        with self._lock:
            self._pending = max(0.0, self._pending - cost)

    def observe(
        self,
        total: float | None,
        remaining: float | None,
        cost: float = 1.0,
        sent_at: float | None = None,
        reset_in: float | None = None,
    ) -> None:
        """Take in the budget's total and remainder from an answer to a request reserved with `cost`."""
        with self._lock:
            self._pending = max(0.0, self._pending - cost)
            if total is None or remaining is None or total <= 0:
                return
            now = self._clock()
            # Requests still in flight may already be counted by the server; subtracting them again
            # errs on the safe side, and the next answer re-bases the estimate.
            available = remaining - self._pending
            if reset_in is not None and reset_in >= 0:
                # The server says when its window ends: trust it over any estimate.
                self._total, self._window_end, self._remaining = total, now + reset_in, available
                return
            if (sent_at is not None and self._window_end is not None
                    and sent_at < self._window_end - self.window_seconds):
                return  # sent in an earlier window: says nothing about this one
            self._total = total
            if self._remaining is None or self._window_end is None:
                self._window_end = now + self.window_seconds
            elif available > self._remaining + total / 4:
                # The server's window reset: the next one ends a window after the old estimated end
                # (which was never early), or a window from now if that end is long past.
                following = self._window_end + self.window_seconds
                self._window_end = following if self._window_end <= now < following else now + self.window_seconds
            self._remaining = available

    def throttled(self, retry_after: float, cost: float = 1.0) -> None:
        """A 429: nothing is sent until Retry-After has passed."""
        with self._lock:
            self._pending = max(0.0, self._pending - cost)
            now = self._clock()
            self._next_slot = max(self._next_slot, now + retry_after)
            if self._total is not None:
                self._window_end = now + retry_after
                self._remaining = 0.0
