"""Time: the UTC stamps the DB records, and the per-stage timer that `--verbose` prints."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TypeVar

T = TypeVar("T")
# What stages take to stamp records; tests inject a fixed one.
Now = Callable[[], str]


def now_iso() -> str:
    """The current UTC time as the DB stores it: `2026-11-20T10:00:00Z`."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class StageClock:
    """Seconds spent per stage, for `--verbose`."""

    seconds: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, stage: str, started: float) -> None:
        # Fetch and embed are charged from the prefetch thread, the rest from the main thread.
        elapsed = time.monotonic() - started
        with self._lock:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + elapsed

    def describe(self, wall: float) -> str:
        """One line for `--verbose`: the prefetch thread's stages, then where the main thread waited."""
        s = self.seconds
        return (f"fetch {s.get('fetch', 0.0):.1f} s, embed {s.get('embed', 0.0):.1f} s (prefetch thread, "
                f"overlapped); main thread: waiting for tickets {s.get('ticket wait', 0.0):.1f} s, "
                f"waiting for the model {s.get('classify', 0.0):.1f} s, apply and write {s.get('write', 0.0):.1f} s; "
                f"wall {wall:.1f} s")

    def timed(self, stage: str, items: Iterable[T]) -> Iterator[T]:
        """Yield from `items`, charging the time spent waiting for each to `stage`."""
        iterator = iter(items)
        while True:
            started = time.monotonic()
            try:
                item = next(iterator)
            except StopIteration:
                self.add(stage, started)
                return
            self.add(stage, started)
            yield item
