"""Fetching and embedding ahead of the classify loop, in a background thread."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

from clock import StageClock

T = TypeVar("T")
R = TypeVar("R")


class _Done:
    """The end of the stream, as the thread hands it to the main thread."""


class Prefetch(Generic[T, R]):
    """Pulls items (the fetch stage) and processes them in chunks (the embedder) in a background thread.

    The main thread iterates the processed items in order; a bounded queue keeps memory flat; an error
    in the thread is raised in the main thread at the point it would have occurred.
    """

    def __init__(
        self,
        items: Iterable[T],
        process_chunk: Callable[[list[T]], list[R]],
        batch: int,
        clock: StageClock,
        depth: int = 4,
    ) -> None:
        self._queue: queue.Queue[list[R] | _Done | BaseException] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        # Held while the model runs: onnxruntime aborts the process if the interpreter exits mid-run.
        self._busy = threading.Lock()
        self._clock = clock
        self._thread = threading.Thread(
            target=self._work, args=(items, process_chunk, batch), name="prefetch", daemon=True
        )
        self._thread.start()

    def _work(self, items: Iterable[T], process_chunk: Callable[[list[T]], list[R]], batch: int) -> None:
        try:
            for chunk in _chunks(items, batch):
                with self._busy:
                    if self._stop.is_set():
                        return
                    processed = process_chunk(chunk)
                self._put(processed)
            self._put(_Done())
        except BaseException as exc:  # handed to the main thread and raised there
            self._put(exc)

    def _put(self, item: list[R] | _Done | BaseException) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[R]:
        while True:
            started = time.monotonic()
            item = self._queue.get()
            self._clock.add("ticket wait", started)
            if isinstance(item, _Done):
                return
            if isinstance(item, BaseException):
                raise item
            yield from item

    def close(self) -> None:
        """Stop the thread: wait for a chunk in progress, abandon a fetch in progress."""
        self._stop.set()
        with self._busy:
            pass
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
