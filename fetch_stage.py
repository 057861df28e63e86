"""Where conversations come from: Freshdesk (fetched, cleaned, stored), the local cache, or the demo desk."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from conversation_utils import ConversationStore, clean_conversation
from data_fetcher import FreshdeskClient, TicketRef, fetch_threads
from errors import DatabaseError, UsageError
from records import Conversation

log = logging.getLogger(__name__)

DEMO_TICKETS = Path(__file__).resolve().parent / "demo_data" / "tickets.json"


@dataclass
class FetchStats:
    listed: int = 0
    fetched: int = 0
    cached: int = 0
    unreadable: int = 0


def freshdesk_conversations(
    client: FreshdeskClient,
    refs: Iterable[TicketRef],
    store: ConversationStore,
    *,
    batch_size: int,
    ticket_url: Callable[[int], str],
    stats: FetchStats,
    save: bool = True,
) -> Iterator[Conversation]:
    """Fetch what changed since it was stored, clean it, store it; yield every listed conversation."""

    def counted(items: Iterable[TicketRef]) -> Iterator[TicketRef]:
        for ref in items:
            stats.listed += 1
            yield ref

    def is_cached(ref: TicketRef) -> bool:
        return store.is_fresh(ref.id, ref.updated_at)

    for ref, thread in fetch_threads(client, counted(refs), batch_size=batch_size, is_cached=is_cached):
        if thread is None:
            try:
                yield store.load(ref.id)
                stats.cached += 1
                continue
            except DatabaseError as exc:
                # The cached file went bad between the check and the read; fetch it again.
                log.warning("%s", exc)
                retry = fetch_threads(client, [ref], batch_size=1, is_cached=lambda _: False)
                thread = next(iter(retry), (ref, None))[1]
                if thread is None:
                    continue
        conversation = clean_conversation(thread.ticket, thread.conversations, ticket_url(ref.id))
        if save:
            store.save(conversation, {"ticket": thread.ticket, "conversations": thread.conversations})
        stats.fetched += 1
        yield conversation


def cached_conversations(
    store: ConversationStore, stats: FetchStats, ticket_ids: Iterable[int] | None = None
) -> Iterator[Conversation]:
    """The conversations already on disk (all, or the given ids in order); unreadable ones are skipped."""
    ids = list(ticket_ids) if ticket_ids is not None else store.ticket_ids()
    if not ids:
        raise UsageError(
            f"no conversations in {store.root}: fetch some first (python -m main --pages 1 --fetch-only)"
        )
    for ticket_id in ids:
        stats.listed += 1
        try:
            conversation = store.load(ticket_id)
        except FileNotFoundError:
            log.warning("ticket %s has no conversation in %s; skipped", ticket_id, store.root)
            stats.unreadable += 1
            continue
        except DatabaseError as exc:
            log.warning("%s; skipped", exc)
            stats.unreadable += 1
            continue
        stats.cached += 1
        yield conversation


def demo_conversations(
    store: ConversationStore, stats: FetchStats, ticket_url: Callable[[int], str],
    source: Path = DEMO_TICKETS,
) -> Iterator[Conversation]:
    """The bundled demo desk, through the real cleaning path, stored like fetched tickets."""
    try:
        threads = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatabaseError(f"cannot read the demo tickets {source} ({exc}): reinstall the project") from exc
    for thread in threads:
        stats.listed += 1
        ticket = thread["ticket"]
        if store.is_fresh(ticket["id"], ticket["updated_at"]):
            stats.cached += 1
            yield store.load(ticket["id"])
            continue
        conversation = clean_conversation(ticket, thread["conversations"], ticket_url(ticket["id"]))
        store.save(conversation, thread)
        stats.fetched += 1
        yield conversation
