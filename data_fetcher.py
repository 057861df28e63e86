"""Freshdesk API v2 client: search, list and ticket threads, paced by the rate-limit headers.

Credits per ticket (Freshdesk charges 1 per call, +2 per `include` on the list endpoint):
- `--pages`: search (1 credit / 30 tickets, no description) + GET ticket + conversations = ~2.03.
- `--since`: list with include=description (3 credits / 100 tickets) + conversations = ~1.03.
`?include=conversations` is not used: it costs 2 credits and stops at 10 conversations.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from urllib.parse import quote, urlencode, urlsplit

import requests
from requests.adapters import HTTPAdapter

from errors import (
    FreshdeskAuthError,
    FreshdeskError,
    FreshdeskQueryError,
    FreshdeskUnreachableError,
    QueryTooLongError,
    SearchPagesError,
    UsageError,
)
from helpdesk_http import Helpdesk, HelpdeskClient, RetryingGetter, header_number, listed_ticket_fields, same_origin
from ordered_fetch import fetch_threads as fetch_threads  # re-exported: the Freshdesk source's fetch
from ordered_fetch import listed_by_id
from records import JSONValue
from window_budget import WindowBudget

log = logging.getLogger(__name__)

RESOLVED_STATUSES = (4, 5)
RESOLVED_QUERY = "status:4 OR status:5"
MAX_QUERY_CHARS = 512
SEARCH_PAGE_SIZE = 30
MAX_SEARCH_PAGES = 10
LIST_PER_PAGE = 100
LIST_PAGE_CAP = 300
CONVERSATIONS_PER_PAGE = 100
# Credits Freshdesk charges, used to pace before the answer tells us.
_COST_LIST_WITH_DESCRIPTION = 3.0
# A 429 storm from a misbehaving server must end; each wait honours Retry-After.
_MAX_THROTTLE_WAITS = 20


@dataclass(frozen=True)
class TicketRef:
    """One listed ticket (search, list or view result), typed at the boundary."""

    id: int
    status: int
    updated_at: str
    subject: str
    created_at: str
    raw: dict

    @classmethod
    def from_api(cls, item: JSONValue, where: str) -> TicketRef:
        ticket_id, status, updated_at, subject, created_at = listed_ticket_fields(item, where, FRESHDESK, int)
        return cls(ticket_id, status, updated_at, subject, created_at, raw=item)


@dataclass(frozen=True)
class RawThread:
    """Everything fetched for one ticket, as the API returned it."""

    ticket: dict
    conversations: list[dict]


class TicketNotFoundError(FreshdeskError):
    """The ticket does not exist (deleted or never created): callers skip it."""


class RatePacer(WindowBudget):
    """Freshdesk's credits per minute, paced by X-RateLimit-Total/Remaining (see WindowBudget).

    A request reserves its credit cost (3 for a list page with descriptions); answers report the
    credits left, and the window end is estimated, as Freshdesk sends no reset time."""


def _error_details(response: requests.Response) -> str:
    """Freshdesk's validation messages ("field: message; ..."), or the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip()
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            return "; ".join(
                f"{e.get('field', '')}: {e.get('message', '')}".strip(": ")
                for e in errors
                if isinstance(e, dict)
            )
        return str(body.get("description") or body.get("message") or "")
    return ""


FRESHDESK = Helpdesk(name="Freshdesk", host_setting="FRESHDESK_DOMAIN", error=FreshdeskError,
                     unreachable=FreshdeskUnreachableError, not_found=TicketNotFoundError, error_details=_error_details)


@dataclass(frozen=True)
class _CostedPacing:
    """The pacer as one request of `cost` credits draws on it."""

    pacer: RatePacer
    cost: float

    def reserve(self) -> float:
        return self.pacer.reserve(self.cost)

    def release(self) -> None:
        self.pacer.release(self.cost)

    def throttled(self, retry_after: float) -> None:
        self.pacer.throttled(retry_after, self.cost)


class FreshdeskClient(HelpdeskClient):
    """One requests.Session to one Freshdesk account; safe to share between worker threads."""

    thread_name = "freshdesk"
    ticket_not_found = TicketNotFoundError
    log = log

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        max_tries: int = 6,
        pool_size: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        window_seconds: float = 60.0,
        backoff_factor: float = 1.0,
        backoff_max: float = 60.0,
    ):
        base = base_url.rstrip("/")
        self._origin = base
        self._api = base if base.endswith("/api/v2") else f"{base}/api/v2"
        self._session = requests.Session()
        self._session.auth = (api_key, "X")
        self._session.headers.update({"Accept": "application/json", "User-Agent": "silo-issues/0.1"})
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(1, pool_size), max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        # `clock` with `sleep` lets tests run rate limits on a virtual clock.
        self._pacer = RatePacer(window_seconds, reserve=max(1, pool_size), clock=clock)
        self._getter = RetryingGetter(
            FRESHDESK, self._session, base, log=log, timeout=timeout, max_tries=max_tries,
            max_throttle_waits=_MAX_THROTTLE_WAITS, window_seconds=window_seconds, sleep=sleep, clock=clock,
            backoff_factor=backoff_factor, backoff_max=backoff_max,
        )
        self._lock = threading.Lock()
        self.credits_used = 0.0
        self.throttled = 0

    # ----- transport
    def _get(self, url: str, *, cost: float = 1.0) -> requests.Response:
        """GET with pacing, Retry-After on 429 and jittered exponential backoff; raises typed errors."""
        path = urlsplit(url).path
        response = self._getter.get(
            url, _CostedPacing(self._pacer, cost), lambda answer, sent_at: self._count(answer, path, cost, sent_at)
        )
        if response.status_code in (401, 403):
            raise FreshdeskAuthError(
                f"Freshdesk rejected FRESHDESK_API_KEY ({response.status_code}) on GET {path}: check the "
                "key in .env (Profile settings > API key) and that the agent may view tickets"
            )
        return response

    def _count(self, response: requests.Response, path: str, cost: float, sent_at: float) -> None:
        """Credits and throttles of one answer; the pacer learns the remaining credits from it."""
        headers = response.headers
        used = header_number(headers, "X-RateLimit-Used-CurrentRequest") or 0.0
        if response.status_code != 429:
            self._pacer.observe(
                header_number(headers, "X-RateLimit-Total"),
                header_number(headers, "X-RateLimit-Remaining"),
                cost,
                sent_at,
            )
        with self._lock:
            self.credits_used += used
            if response.status_code == 429:
                self.throttled += 1
        log.debug("GET %s -> %d (credits %g, remaining %s)", path, response.status_code, used,
                  headers.get("X-RateLimit-Remaining", "?"))

    def _expect_ok(self, response: requests.Response, path: str, ticket_id: int | None = None) -> JSONValue:
        return self._getter.expect_ok(response, path, ticket_id)

    def _url(self, path: str, params: Mapping[str, str | int] | None = None) -> str:
        query = f"?{urlencode(params, quote_via=quote)}" if params else ""
        return f"{self._api}{path}{query}"

    # ----- endpoints
    def search_page(self, query: str, page: int) -> tuple[list[TicketRef], int]:
        """One page of ticket search (30 results, no description) and the total match count."""
        if len(query) > MAX_QUERY_CHARS:
            raise QueryTooLongError(
                f"the search query is {len(query)} characters; Freshdesk allows {MAX_QUERY_CHARS}",
                "shorten the extra search terms",
            )
        if not 1 <= page <= MAX_SEARCH_PAGES:
            raise UsageError(
                f"search page {page} is out of range: Freshdesk serves pages 1 to {MAX_SEARCH_PAGES}"
            )
        path = "/search/tickets"
        response = self._get(self._url(path, {"query": f'"{query}"', "page": page}))
        if response.status_code == 400:
            raise FreshdeskQueryError(
                f"Freshdesk refused the search query \"{query}\": {_error_details(response)}",
                "check the syntax of the extra search terms (e.g. group_id:12 AND tag:billing)",
            )
        body = self._expect_ok(response, self._api + path)
        if not isinstance(body, dict) or not isinstance(body.get("results"), list):
            raise FreshdeskError(
                f"GET {self._api}{path} answered without a results list: check FRESHDESK_DOMAIN"
            )
        refs = [TicketRef.from_api(item, "search") for item in body["results"]]
        total = body.get("total")
        return refs, int(total) if isinstance(total, (int, float)) else len(refs)

    def list_page(self, updated_since: str, page: int) -> list[TicketRef]:
        """One page (100) of tickets updated since `updated_since`, oldest update first, with descriptions."""
        params = {
            "updated_since": updated_since,
            "order_by": "updated_at",
            "order_type": "asc",
            "per_page": LIST_PER_PAGE,
            "page": page,
            "include": "description",
        }
        response = self._get(self._url("/tickets", params), cost=_COST_LIST_WITH_DESCRIPTION)
        body = self._expect_ok(response, f"{self._api}/tickets")
        if not isinstance(body, list):
            raise FreshdeskError(
                f"GET {self._api}/tickets answered without a ticket list: check FRESHDESK_DOMAIN"
            )
        return [TicketRef.from_api(item, "the ticket list") for item in body]

    def get_ticket(self, ticket_id: int) -> dict:
        """The ticket with its description; TicketNotFoundError on 404."""
        path = f"/tickets/{int(ticket_id)}"
        body = self._expect_ok(self._get(self._url(path)), self._api + path, ticket_id)
        if not isinstance(body, dict):
            raise FreshdeskError(f"GET {self._api}{path} answered without a ticket: check FRESHDESK_DOMAIN")
        return body

    def get_conversations(self, ticket_id: int) -> list[dict]:
        """Every conversation of a ticket in API order, following Link rel="next".

        Raises TicketNotFoundError on 404."""
        path = f"/tickets/{int(ticket_id)}/conversations"
        url: str | None = self._url(path, {"per_page": CONVERSATIONS_PER_PAGE})
        conversations: list[dict] = []
        pages = 0
        while url:
            response = self._get(url)
            body = self._expect_ok(response, self._api + path, ticket_id)
            if not isinstance(body, list):
                raise FreshdeskError(f"GET {self._api}{path} answered without a list: check FRESHDESK_DOMAIN")
            conversations.extend(body)
            pages += 1
            url = response.links.get("next", {}).get("url")
            if url and not self._same_origin(url):
                # The Basic-auth header must never follow a link to another host.
                raise FreshdeskError(f"GET {self._api}{path}: the next-page link leaves {self._origin}")
            if pages > 1000:
                raise FreshdeskError(f"GET {self._api}{path}: more than 1000 pages of conversations")
        return conversations

    def fetch_thread(self, ref: TicketRef) -> RawThread:
        """A listed ticket with its description and every conversation; TicketNotFoundError when gone."""
        ticket = ref.raw if "description" in ref.raw else self.get_ticket(ref.id)
        return RawThread(ticket=ticket, conversations=self.get_conversations(ref.id))

    def _same_origin(self, url: str) -> bool:
        return same_origin(self._origin, url)


def ticket_page_url(base_url: str, ticket_id: int) -> str:
    """A ticket's page for people: `<base URL>/a/tickets/<id>` (SPEC: Freshdesk facts)."""
    return f"{base_url.rstrip('/')}/a/tickets/{int(ticket_id)}"


def search_query(extra: str | None = None) -> str:
    """The resolved/closed filter, ANDed with an extra clause; UsageError when over 512 characters."""
    extra = (extra or "").strip()
    query = f"({RESOLVED_QUERY}) AND ({extra})" if extra else RESOLVED_QUERY
    if len(query) > MAX_QUERY_CHARS:
        raise QueryTooLongError(
            f"the extra search terms make the search {len(query)} characters; Freshdesk allows "
            f"{MAX_QUERY_CHARS} inside the quotes, which leaves {MAX_QUERY_CHARS - len(query) + len(extra)} "
            "for the terms",
            "shorten them",
        )
    return query


def iter_search(client: FreshdeskClient, pages: int, extra_query: str | None = None,
                on_total: Callable[[int], None] | None = None) -> Iterator[TicketRef]:
    """Resolved/closed tickets from search pages 1..`pages`, in Freshdesk's order; stops at a short page.

    `on_total` hears how many tickets the pages will hold, once the first page tells the match count."""
    if not 1 <= pages <= MAX_SEARCH_PAGES:
        raise SearchPagesError(
            f"{pages} search pages is out of range: Freshdesk search serves pages 1 to {MAX_SEARCH_PAGES} "
            f"({SEARCH_PAGE_SIZE} tickets each)",
            "ask for fewer, or list the tickets updated since a date for more",
        )
    query = search_query(extra_query)
    seen = 0
    for page in range(1, pages + 1):
        refs, total = client.search_page(query, page)
        if page == 1 and on_total is not None:
            on_total(min(total, pages * SEARCH_PAGE_SIZE))
        yield from refs
        seen += len(refs)
        if len(refs) < SEARCH_PAGE_SIZE or seen >= total:
            return


def _as_updated_since(since: str) -> str:
    return f"{since}T00:00:00Z" if len(since) == 10 else since


def _one_second_later(stamp: str) -> str:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")) + timedelta(seconds=1)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iter_updated_since(
    client: FreshdeskClient, since: str, *, page_cap: int = LIST_PAGE_CAP
) -> Iterator[TicketRef]:
    """Resolved/closed tickets updated since `since`, oldest update first, past the list's page cap."""
    cursor = _as_updated_since(since)
    seen: set[int] = set()
    while True:
        last_updated = None
        for page in range(1, page_cap + 1):
            refs = client.list_page(cursor, page)
            for ref in refs:
                last_updated = ref.updated_at
                if ref.id in seen:
                    continue
                seen.add(ref.id)
                if ref.status in RESOLVED_STATUSES:
                    yield ref
            if len(refs) < LIST_PER_PAGE:
                return
        if last_updated is None:
            return
        if last_updated == cursor:
            # More than page_cap pages share one timestamp; step past it rather than loop forever.
            log.warning("more than %d tickets were updated at %s; some of them may be missed",
                        page_cap * LIST_PER_PAGE, cursor)
            last_updated = _one_second_later(cursor)
        log.info("list endpoint page cap (%d) reached; restarting from updated_at %s", page_cap, last_updated)
        cursor = last_updated


_SEARCH_CAP = SEARCH_PAGE_SIZE * MAX_SEARCH_PAGES
_LONGEST_DATES = "updated_at:>'2000-01-01' AND updated_at:<'2000-01-01'"


def _window_query(extra: str, start: date, end: date | None) -> str:
    dates = f"updated_at:>'{start.isoformat()}'"
    if end is not None:
        dates += f" AND updated_at:<'{end.isoformat()}'"
    return search_query(f"({extra}) AND {dates}" if extra else dates)


def iter_search_since(
    client: FreshdeskClient, since: str, extra_query: str | None, *, today: date | None = None
) -> Iterator[TicketRef]:
    """Resolved/closed tickets matching `extra_query` updated since `since`, oldest update first.

    One search reaches 300 tickets, so the days from `since` on are searched in date windows
    (date terms are whole days, both ends inclusive), halving a window while its total exceeds 300.
    """
    extra = (extra_query or "").strip()
    room = MAX_QUERY_CHARS - len(search_query(f"() AND {_LONGEST_DATES}"))
    if len(extra) > room:
        raise QueryTooLongError(
            f"the extra search terms are {len(extra)} characters; with the status filter and a date window "
            f"Freshdesk allows {room}",
            "shorten them",
        )
    cutoff = _parse_stamp(_as_updated_since(since))
    # A day ahead of UTC today, so accounts in any time zone cannot lose today's tickets in a split.
    horizon = (today or datetime.now(timezone.utc).date()) + timedelta(days=1)
    windows: collections.deque[tuple[date, date | None]] = collections.deque([(cutoff.date(), None)])
    seen: set[int] = set()
    while windows:
        start, end = windows.popleft()
        query = _window_query(extra, start, end)
        refs, total = client.search_page(query, 1)
        last = end if end is not None else max(horizon, start)
        if total > _SEARCH_CAP and start < last:
            middle = start + (last - start) // 2
            windows.extendleft([(middle + timedelta(days=1), end), (start, middle)])
            log.debug("search window %s..%s holds %d tickets; splitting it", start, end or "", total)
            continue
        if total > _SEARCH_CAP:
            log.warning("%d tickets match on %s alone, and one search reaches %d: some may be missed; "
                        "narrow --query to fetch them all", total, start, _SEARCH_CAP)
        found = list(refs)
        page = 1
        while len(refs) == SEARCH_PAGE_SIZE and len(found) < total and page < MAX_SEARCH_PAGES:
            page += 1
            refs, _ = client.search_page(query, page)
            found.extend(refs)
        found.sort(key=lambda ref: (_parse_stamp(ref.updated_at), ref.id))
        for ref in found:
            if ref.id in seen or _parse_stamp(ref.updated_at) < cutoff:
                continue
            seen.add(ref.id)
            yield ref


def _parse_stamp(stamp: str) -> datetime:
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        raise FreshdeskError(f"Freshdesk sent an unreadable updated_at {stamp!r}: check FRESHDESK_DOMAIN") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def iter_ticket_ids(client: FreshdeskClient, ids: Sequence[int]) -> Iterator[TicketRef]:
    """The given tickets in the given order; missing ones are skipped, unresolved ones warned about."""
    return listed_by_id(
        ids, lambda ticket_id: TicketRef.from_api(client.get_ticket(ticket_id), f"ticket {ticket_id}"),
        missing=TicketNotFoundError, kept=RESOLVED_STATUSES, kept_words="resolved/closed", log=log,
    )
