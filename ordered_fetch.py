"""Tickets in a given order: threads fetched by a pool of workers, tickets fetched by id."""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Container, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol, TypeVar


class _Listed(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def status(self) -> object: ...


Ref = TypeVar("Ref", bound=_Listed)
Thread = TypeVar("Thread")
RefIn = TypeVar("RefIn", bound=_Listed, contravariant=True)
ThreadOut = TypeVar("ThreadOut", covariant=True)


class ThreadClient(Protocol[RefIn, ThreadOut]):
    """A helpdesk client that fetches one listed ticket's thread; `ticket_not_found` when it is gone."""

    thread_name: str  # names the worker threads
    ticket_not_found: type[Exception]
    log: logging.Logger

    def fetch_thread(self, ref: RefIn) -> ThreadOut: ...


def fetch_threads(
    client: ThreadClient[Ref, Thread],
    refs: Iterable[Ref],
    *,
    batch_size: int,
    is_cached: Callable[[Ref], bool],
) -> Iterator[tuple[Ref, Thread | None]]:
    """Fetch threads with `batch_size` workers, yielding in the order of `refs`.

    Cached refs yield (ref, None) with no request; tickets gone (404) are skipped. `refs` is consumed
    lazily with a bounded look-ahead, so the first results arrive before the listing ends."""
    return fetch_in_order(
        refs, client.fetch_thread, batch_size=batch_size, is_cached=is_cached,
        missing=client.ticket_not_found, log=client.log, thread_name_prefix=client.thread_name,
    )


def fetch_in_order(
    refs: Iterable[Ref],
    fetch: Callable[[Ref], Thread],
    *,
    batch_size: int,
    is_cached: Callable[[Ref], bool],
    missing: type[Exception],
    log: logging.Logger,
    thread_name_prefix: str,
) -> Iterator[tuple[Ref, Thread | None]]:
    """`fetch` each ref with `batch_size` workers, yielding (ref, thread) in the order of `refs`.

    Cached refs yield (ref, None) with no request; a ref whose fetch raises `missing` (gone since it
    was listed) is skipped with a warning. `refs` is consumed lazily with a bounded look-ahead, so the
    first results arrive before the listing ends."""

    def fetch_one(ref: Ref) -> Thread | None:
        try:
            return fetch(ref)
        except missing:
            log.warning("ticket %s not found (404: deleted since it was listed); skipped", ref.id)
            return None

    look_ahead = 4 * max(1, batch_size)
    pending: collections.deque[tuple[Ref, Future[Thread | None] | None]] = collections.deque()
    source = iter(refs)
    exhausted = False
    executor = ThreadPoolExecutor(max_workers=max(1, batch_size), thread_name_prefix=thread_name_prefix)
    try:
        while True:
            while not exhausted and len(pending) < look_ahead:
                ref = next(source, None)
                if ref is None:
                    exhausted = True
                    break
                future = None if is_cached(ref) else executor.submit(fetch_one, ref)
                pending.append((ref, future))
            if not pending:
                return
            ref, future = pending.popleft()
            if future is None:
                yield ref, None
                continue
            thread = future.result()
            if thread is not None:
                yield ref, thread
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def listed_by_id(
    ids: Iterable[int],
    get: Callable[[int], Ref],
    *,
    missing: type[Exception],
    kept: Container[object],
    kept_words: str,
    log: logging.Logger,
) -> Iterator[Ref]:
    """`get` each id in the given order; missing ones are skipped, those not in `kept` warned about."""
    for ticket_id in ids:
        try:
            ref = get(ticket_id)
        except missing:
            log.warning("ticket %s not found (404: deleted or never existed); skipped", ticket_id)
            continue
        if ref.status not in kept:
            log.warning("ticket %s has status %s (not %s); processing it as asked", ref.id, ref.status, kept_words)
        yield ref
