"""Where conversations come from: Freshdesk (fetched, cleaned, stored), the local cache, or the demo desk.

Every source yields cleaned conversations in the order decisions follow, counts what it did in its
`SourceStats`, and can list its tickets without fetching them (for `--dry-run`). A new helpdesk or
an exported file becomes another `TicketSource` and an entry in `SOURCES`; nothing downstream changes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from conversation_utils import ConversationStore, clean_conversation
from errors import DatabaseError, UsageError
from records import Conversation, Listed, SourceStats

if TYPE_CHECKING:
    from data_fetcher import FreshdeskClient, TicketRef
    from run_context import RunContext

log = logging.getLogger(__name__)

DEMO_TICKETS = Path(__file__).resolve().parent / "demo_data" / "tickets.json"
DEFAULT_PAGES = 5


@dataclass(frozen=True)
class SourceRequest:
    """Which tickets to take: search pages, everything since a date, or given ids (else the default pages)."""

    pages: int | None = None
    since: str | None = None
    ticket_ids: list[int] | None = None
    query: str | None = None
    save: bool = True


class TicketSource(Protocol):
    stats: SourceStats

    def conversations(self) -> Iterator[Conversation]:
        """The cleaned conversations, in the order decisions follow."""
        ...

    def listing(self) -> Iterator[Listed]:
        """The tickets a run would see, without fetching their conversations."""
        ...

    def close(self) -> None: ...


class FreshdeskSource:
    """Resolved/closed tickets from Freshdesk: fetched when changed since stored, cleaned, stored."""

    def __init__(self, client: FreshdeskClient, request: SourceRequest, store: ConversationStore,
                 *, batch_size: int, base_url: str) -> None:
        self.client = client
        self.request = request
        self.store = store
        self.batch_size = batch_size
        self.base_url = base_url
        self.stats = SourceStats()

    def _refs(self) -> Iterator[TicketRef]:
        from data_fetcher import iter_search, iter_search_since, iter_ticket_ids, iter_updated_since

        request = self.request
        if request.ticket_ids:
            refs = iter_ticket_ids(self.client, request.ticket_ids)
        elif request.since and request.query:
            refs = iter_search_since(self.client, request.since, request.query)
        elif request.since:
            refs = iter_updated_since(self.client, request.since)
        else:
            refs = iter_search(self.client, request.pages or DEFAULT_PAGES, request.query)
        for ref in refs:
            self.stats.listed += 1
            self.stats.credits = self.client.credits_used
            yield ref

    def listing(self) -> Iterator[Listed]:
        # Search results lack the description: fetching such a ticket costs one call more.
        for ref in self._refs():
            yield Listed(ref.id, ref.updated_at, 1.0 if "description" in ref.raw else 2.0)

    def conversations(self) -> Iterator[Conversation]:
        from data_fetcher import fetch_threads, ticket_page_url

        store = self.store

        def is_cached(ref: TicketRef) -> bool:
            return store.is_fresh(ref.id, ref.updated_at)

        for ref, thread in fetch_threads(self.client, self._refs(), batch_size=self.batch_size, is_cached=is_cached):
            if thread is None:
                try:
                    yield store.load(ref.id)
                    self.stats.cached += 1
                    continue
                except DatabaseError as exc:
                    # The cached file went bad between the check and the read; fetch it again.
                    log.warning("%s", exc)
                    retry = fetch_threads(self.client, [ref], batch_size=1, is_cached=lambda _: False)
                    thread = next(iter(retry), (ref, None))[1]
                    if thread is None:
                        continue
            url = ticket_page_url(self.base_url, ref.id)
            conversation = clean_conversation(thread.ticket, thread.conversations, url)
            if self.request.save:
                store.save(conversation, {"ticket": thread.ticket, "conversations": thread.conversations})
            self.stats.fetched += 1
            self.stats.credits = self.client.credits_used
            yield conversation

    def close(self) -> None:
        self.stats.credits = self.client.credits_used
        self.client.close()


class CacheSource:
    """The conversations already on disk (all, or the given ids in order); unreadable ones are skipped."""

    def __init__(self, store: ConversationStore, ticket_ids: list[int] | None = None) -> None:
        self.store = store
        self.ticket_ids = ticket_ids
        self.stats = SourceStats()

    def _ids(self) -> list[int]:
        ids = list(self.ticket_ids) if self.ticket_ids is not None else self.store.ticket_ids()
        if not ids:
            raise UsageError(
                f"no conversations in {self.store.root}: fetch some first (python -m main --pages 1 --fetch-only)"
            )
        return ids

    def listing(self) -> Iterator[Listed]:
        for ticket_id in self.store.ticket_ids():
            yield Listed(ticket_id, None, 0.0)

    def conversations(self) -> Iterator[Conversation]:
        for ticket_id in self._ids():
            self.stats.listed += 1
            try:
                conversation = self.store.load(ticket_id)
            except FileNotFoundError:
                log.warning("ticket %s has no conversation in %s; skipped", ticket_id, self.store.root)
                continue
            except DatabaseError as exc:
                log.warning("%s; skipped", exc)
                continue
            self.stats.cached += 1
            yield conversation

    def close(self) -> None:
        """Nothing to release."""


class DemoSource:
    """The bundled demo desk, through the real cleaning path, stored like fetched tickets."""

    def __init__(self, store: ConversationStore, ticket_url: Callable[[int], str], path: Path = DEMO_TICKETS) -> None:
        self.store = store
        self.ticket_url = ticket_url
        self.path = path
        self.stats = SourceStats()

    def _threads(self) -> list[dict]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DatabaseError(f"cannot read the demo tickets {self.path} ({exc}): reinstall the project") from exc

    def listing(self) -> Iterator[Listed]:
        for thread in self._threads():
            yield Listed(int(thread["ticket"]["id"]), str(thread["ticket"]["updated_at"]), 0.0)

    def conversations(self) -> Iterator[Conversation]:
        for thread in self._threads():
            self.stats.listed += 1
            ticket = thread["ticket"]
            if self.store.is_fresh(ticket["id"], ticket["updated_at"]):
                self.stats.cached += 1
                yield self.store.load(ticket["id"])
                continue
            conversation = clean_conversation(ticket, thread["conversations"], self.ticket_url(ticket["id"]))
            self.store.save(conversation, thread)
            self.stats.fetched += 1
            yield conversation

    def close(self) -> None:
        """Nothing to release."""


def _freshdesk(ctx: RunContext, request: SourceRequest) -> TicketSource:
    from data_fetcher import FreshdeskClient

    if ctx.freshdesk is None:
        raise UsageError("the Freshdesk source needs FRESHDESK_DOMAIN and FRESHDESK_API_KEY: set them in .env")
    client = FreshdeskClient(ctx.freshdesk.base_url, ctx.freshdesk.api_key, pool_size=ctx.batch_size)
    return FreshdeskSource(client, request, ctx.store, batch_size=ctx.batch_size, base_url=ctx.freshdesk.base_url)


def _cache(ctx: RunContext, request: SourceRequest) -> TicketSource:
    return CacheSource(ctx.store, request.ticket_ids)


def _demo(ctx: RunContext, request: SourceRequest) -> TicketSource:
    base = ctx.ticket_base_url

    def ticket_url(ticket_id: int) -> str:
        from data_fetcher import ticket_page_url

        return ticket_page_url(base, ticket_id) if base else ""

    return DemoSource(ctx.store, ticket_url)


# How each source is opened from the run context; a new source adds one entry.
SOURCES: dict[str, Callable[[RunContext, SourceRequest], TicketSource]] = {
    "freshdesk": _freshdesk,
    "cache": _cache,
    "demo": _demo,
}


def open_source(ctx: RunContext, request: SourceRequest) -> TicketSource:
    """The source the context names, ready to yield conversations (close it when done)."""
    return SOURCES[ctx.source](ctx, request)
