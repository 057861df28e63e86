"""Where conversations come from: Freshdesk or Zendesk (fetched, cleaned, stored), an export file (read,
cleaned, stored), the local cache, or the demo desk.

Every source yields cleaned conversations in the order decisions follow, counts what it did in its
`SourceStats`, and can list its tickets without fetching them (for `--dry-run`). A new helpdesk
becomes another `TicketSource` and an entry in `SOURCES`; nothing downstream changes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from conversation_utils import ConversationStore, clean_conversation
from errors import ConfigError, DatabaseError, ImportFileError, UsageError
from records import Conversation, Listed, SourceStats

if TYPE_CHECKING:
    from data_fetcher import FreshdeskClient, TicketRef
    from env import Settings
    from run_context import RunContext
    from ticket_import import ImportedTicket
    from zendesk_client import ZendeskClient, ZendeskTicketRef

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
            self.stats.expected = len(request.ticket_ids)
            refs = iter_ticket_ids(self.client, request.ticket_ids)
        elif request.since and request.query:
            refs = iter_search_since(self.client, request.since, request.query)
        elif request.since:
            refs = iter_updated_since(self.client, request.since)
        else:
            refs = iter_search(self.client, request.pages or DEFAULT_PAGES, request.query, on_total=self._expect)
        for ref in refs:
            self.stats.listed += 1
            self.stats.credits = self.client.credits_used
            yield ref
        self.stats.expected = self.stats.listed  # the listing is complete: its length is the total

    def _expect(self, total: int) -> None:
        self.stats.expected = total

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


def _load_cached(store: ConversationStore, ticket_id: int) -> Conversation | None:
    """The stored conversation, or None (logged) when it went missing or bad since it was found fresh."""
    try:
        return store.load(ticket_id)
    except (OSError, DatabaseError) as exc:
        log.warning("%s; reading it again", exc)
        return None


class ZendeskSource:
    """Solved/closed Zendesk tickets: the incremental export (`since`), search pages, or given ids; comments
    fetched only for tickets changed since stored, cleaned, stored with Zendesk's raw answers."""

    def __init__(self, client: ZendeskClient, request: SourceRequest, store: ConversationStore,
                 *, batch_size: int, base_url: str) -> None:
        self.client = client
        self.request = request
        self.store = store
        self.batch_size = batch_size
        self.base_url = base_url
        self.stats = SourceStats()

    def _refs(self) -> Iterator[ZendeskTicketRef]:
        from zendesk_client import iter_incremental, iter_search, iter_ticket_ids

        request = self.request
        if request.ticket_ids:
            self.stats.expected = len(request.ticket_ids)
            refs = iter_ticket_ids(self.client, request.ticket_ids)
        elif request.since:
            refs = iter_incremental(self.client, request.since)
        else:
            refs = iter_search(self.client, request.pages or DEFAULT_PAGES, request.query)
        for ref in refs:
            self.stats.listed += 1
            self.stats.credits = self.client.credits_used
            yield ref
        self.stats.expected = self.stats.listed

    def listing(self) -> Iterator[Listed]:
        # One comments request a ticket; a thread of more than 100 comments costs one more per 100, which
        # no listing tells.
        for ref in self._refs():
            yield Listed(ref.id, ref.updated_at, 1.0)

    def conversations(self) -> Iterator[Conversation]:
        from zendesk_client import fetch_threads, zendesk_conversation, zendesk_ticket_url

        store = self.store

        def is_cached(ref: ZendeskTicketRef) -> bool:
            return store.is_fresh(ref.id, ref.updated_at)

        for ref, thread in fetch_threads(self.client, self._refs(), batch_size=self.batch_size, is_cached=is_cached):
            if thread is None:
                cached = _load_cached(store, ref.id)
                if cached is not None:
                    self.stats.cached += 1
                    yield cached
                    continue
                retry = fetch_threads(self.client, [ref], batch_size=1, is_cached=lambda _: False)
                thread = next(iter(retry), (ref, None))[1]
                if thread is None:
                    continue
            url = zendesk_ticket_url(self.base_url, ref.id)
            conversation = zendesk_conversation(thread.ticket, thread.comments, url)
            if self.request.save:
                store.save(conversation, thread.raw())
            self.stats.fetched += 1
            self.stats.credits = self.client.credits_used
            yield conversation

    def close(self) -> None:
        self.stats.credits = self.client.credits_used
        if self.client.throttled:
            log.info("Zendesk rate-limited %d of %d requests (429); each waited for its Retry-After",
                     self.client.throttled, self.client.requests_made)
        self.client.close()


class FileSource:
    """The resolved/solved/closed tickets of an export file (CSV, JSON or JSONL).

    The whole file is read and checked when the source opens, so a bad file stops a run before anything
    else starts. Tickets follow `updated_at` (the order of a `since` run over a desk), or the given ids;
    they are stored like fetched tickets, so a re-run over the same file stores and decides nothing new
    and a ticket whose `updated_at` changed is stored again."""

    def __init__(self, path: Path, request: SourceRequest, store: ConversationStore, *,
                 mapping: Mapping[str, str], ticket_url: Callable[[int], str]) -> None:
        from ticket_import import ImportStats, by_update, read_export

        self.path = path
        self.request = request
        self.store = store
        self.stats = SourceStats()
        self.found = ImportStats()
        tickets = read_export(path, mapping=mapping, ticket_url=ticket_url, since=request.since, stats=self.found)
        if self.found.records and self.found.skipped == self.found.records:
            raise ImportFileError(f"{path} holds no usable ticket: every record of it was skipped",
                                  "see the warnings above: fix the export, or map its columns to the fields")
        self.tickets = _chosen(path, by_update(tickets), request.ticket_ids)
        self.stats.expected = len(self.tickets)
        log.info("%s: %d tickets to use (%d records; %d skipped, %d not resolved/solved/closed, %d older)",
                 path, len(self.tickets), self.found.records, self.found.skipped, self.found.not_kept,
                 self.found.older)

    def listing(self) -> Iterator[Listed]:
        for ticket in self.tickets:
            self.stats.listed += 1
            yield Listed(ticket.id, ticket.updated_at, 0.0)

    def conversations(self) -> Iterator[Conversation]:
        for ticket in self.tickets:
            self.stats.listed += 1
            if self.store.is_fresh(ticket.id, ticket.updated_at):
                cached = _load_cached(self.store, ticket.id)
                if cached is not None:
                    self.stats.cached += 1
                    yield cached
                    continue
            if self.request.save:
                self.store.save(ticket.conversation, ticket.raw)
            self.stats.fetched += 1
            yield ticket.conversation

    def close(self) -> None:
        """Nothing to release."""


def _chosen(path: Path, tickets: list[ImportedTicket], ids: list[int] | None) -> list[ImportedTicket]:
    """All tickets, or exactly the given ids in their order (those the file lacks are warned about)."""
    if not ids:
        return tickets
    by_id = {ticket.id: ticket for ticket in tickets}
    missing = [str(i) for i in ids if i not in by_id]
    if missing:
        log.warning("%s holds no resolved/solved/closed ticket %s; skipped", path, ", ".join(missing))
    return [by_id[i] for i in ids if i in by_id]


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
        # The same check as a run's, so a dry run and a run agree on an empty cache.
        for ticket_id in self._ids():
            yield Listed(ticket_id, None, 0.0)

    def conversations(self) -> Iterator[Conversation]:
        ids = self._ids()
        self.stats.expected = len(ids)
        for ticket_id in ids:
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
        threads = self._threads()
        self.stats.expected = len(threads)
        for thread in threads:
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


def _zendesk(ctx: RunContext, request: SourceRequest) -> TicketSource:
    from zendesk_client import ZendeskClient

    if ctx.zendesk is None:
        raise UsageError("the Zendesk source needs ZENDESK_SUBDOMAIN, ZENDESK_EMAIL and ZENDESK_API_TOKEN",
                         "set them in .env")
    if request.since and request.query:
        # Incremental Exports take a start time or a cursor, no search terms.
        raise UsageError("Zendesk's incremental export cannot be narrowed by search terms",
                         "search pages take them; or leave the terms out")
    settings = ctx.zendesk
    client = ZendeskClient(settings.base_url, settings.email, settings.api_token, pool_size=ctx.batch_size)
    return ZendeskSource(client, request, ctx.store, batch_size=ctx.batch_size, base_url=settings.base_url)


def _file(ctx: RunContext, request: SourceRequest) -> TicketSource:
    if ctx.export_file is None:
        raise UsageError("the file source needs an export file", "name a CSV, JSON or JSONL export")
    return FileSource(ctx.export_file, request, ctx.store, mapping=ctx.field_map, ticket_url=ticket_link(ctx))


def _cache(ctx: RunContext, request: SourceRequest) -> TicketSource:
    return CacheSource(ctx.store, request.ticket_ids)


def _demo(ctx: RunContext, request: SourceRequest) -> TicketSource:
    return DemoSource(ctx.store, ticket_link(ctx))


# How each source is opened from the run context; a new source adds one entry.
SOURCES: dict[str, Callable[[RunContext, SourceRequest], TicketSource]] = {
    "freshdesk": _freshdesk,
    "zendesk": _zendesk,
    "file": _file,
    "cache": _cache,
    "demo": _demo,
}


def open_source(ctx: RunContext, request: SourceRequest) -> TicketSource:
    """The source the context names, ready to yield conversations (close it when done)."""
    return SOURCES[ctx.source](ctx, request)


# ---- which desk a DB belongs to, and its ticket links -------------------------------------------


def recorded_source(db: Path) -> str | None:
    """The source the DB's last finished run read: freshdesk, zendesk, file or demo ("freshdesk" for runs
    recorded before there were others). None without a DB or a finished run, or when the file cannot be
    read (the command's own load of it says why)."""
    try:
        data = json.loads(db.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    runs = data.get("runs") if isinstance(data, dict) else None
    if not isinstance(runs, list) or not runs or not isinstance(runs[-1], dict):
        return None
    summary = runs[-1].get("summary")
    source = summary.get("source") if isinstance(summary, dict) else None
    return source if isinstance(source, str) and source else "freshdesk"


def ticket_link(ctx: RunContext) -> Callable[[int], str]:
    """The page people open for a ticket of the context's desk; "" when that desk's address is not set.

    An export file's tickets link to the configured desk (TICKET_SOURCE's, else whichever one is set);
    nothing is fetched from it."""
    from data_fetcher import ticket_page_url
    from zendesk_client import zendesk_ticket_url

    desk = _configured_desk(ctx.settings) if ctx.desk == "file" else ctx.desk
    if desk == "zendesk":
        base = ctx.zendesk.base_url if ctx.zendesk is not None else _zendesk_base(ctx.settings)
        make = zendesk_ticket_url
    else:
        base = ctx.ticket_base_url if desk is not None else None
        make = ticket_page_url

    def link(ticket_id: int) -> str:
        return make(base, ticket_id) if base else ""

    return link


def _zendesk_base(settings: Settings) -> str | None:
    from env import zendesk_base_url

    try:
        return zendesk_base_url(settings.zendesk_subdomain) if settings.zendesk_subdomain else None
    except ConfigError:
        return None  # a malformed subdomain only matters to modes that fetch, which check it


def _configured_desk(settings: Settings) -> str | None:
    configured = {"freshdesk": bool(settings.freshdesk_domain), "zendesk": bool(settings.zendesk_subdomain)}
    if configured.get(settings.ticket_source):
        return settings.ticket_source
    return next((desk for desk, present in configured.items() if present), None)
