"""The one progress line of a run: tickets decided against the total once a source knows it, with an ETA,
and what fetching has done so far on the same line. Off when stderr is not a terminal or with --quiet.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, TextIO, TypeVar

if TYPE_CHECKING:
    from tqdm import tqdm

    from records import SourceStats

T = TypeVar("T")


class RunProgress:
    """A context manager around one tqdm bar; log lines go above it, and it is closed (own line) on exit.

    `decided` is called from the thread that applies decisions; `fetching` wraps the source's stream,
    which a prefetch thread may read, so both only touch the bar under one lock.
    """

    def __init__(self, stats: SourceStats, *, enabled: bool, label: str = "decided",
                 stream: TextIO | None = None) -> None:
        self.stats = stats
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self._bar: tqdm | None = None
        self._lock = threading.Lock()
        self._stack = contextlib.ExitStack()

    @classmethod
    def for_terminal(cls, stats: SourceStats, *, quiet: bool, label: str = "decided") -> RunProgress:
        return cls(stats, enabled=not quiet and sys.stderr.isatty(), label=label)

    def __enter__(self) -> RunProgress:
        if self.enabled:
            from tqdm import tqdm
            from tqdm.contrib.logging import logging_redirect_tqdm

            self._bar = self._stack.enter_context(
                tqdm(total=None, desc=f"tickets {self.label}", unit="ticket", file=self.stream, dynamic_ncols=True))
            self._stack.enter_context(logging_redirect_tqdm())
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._stack.close()  # the bar ends its line before any error is printed
            self._bar = None

    def decided(self, count: int = 1) -> None:
        """`count` more tickets decided (or skipped as decided before)."""
        with self._lock:
            if self._bar is not None:
                self._sync_total()
                self._bar.set_postfix_str(self._fetch_text(), refresh=False)
                self._bar.update(count)

    def fetching(self, items: Iterable[T]) -> Iterator[T]:
        """The source's stream, unchanged; each item refreshes the fetch counts and the known total."""
        for item in items:
            with self._lock:
                if self._bar is not None:
                    self._sync_total()
                    self._bar.set_postfix_str(self._fetch_text(), refresh=False)
                    self._bar.update(0)  # redraws at most every tqdm.mininterval
            yield item

    def _sync_total(self) -> None:
        expected = self.stats.expected
        if expected is not None and self._bar is not None and self._bar.total != expected:
            self._bar.total = expected
            self._bar.refresh()

    def _fetch_text(self) -> str:
        stats = self.stats
        return f"fetched {stats.fetched}, cached {stats.cached}, listed {stats.listed}"


def tracked(items: Iterable[T], progress: RunProgress) -> Iterator[T]:
    """For commands without a decide step (--fetch-only, --prompt-debug): each item counts as done."""
    for item in progress.fetching(items):
        progress.decided()
        yield item
