"""Zendesk Support API v2 client: incremental export, search and ticket comments, paced by the rate limits.

Requests per run: `--since` lists up to 1,000 tickets per export request (the export allows 10
requests a minute); `--pages N` lists 100 tickets per search request; `--ticket-ids` costs one GET
per ticket. Every listed ticket then costs one comments request per 100 comments.

Zendesk facts this module depends on (each is named again where the code relies on it):
- Incremental exports: https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/
  and https://developer.zendesk.com/documentation/ticketing/managing-tickets/using-the-incremental-export-api
- Rate limits: https://developer.zendesk.com/api-reference/introduction/rate-limits and
  https://developer.zendesk.com/documentation/api-basics/best-practices/best-practices-for-avoiding-rate-limiting
- Search: https://developer.zendesk.com/api-reference/ticketing/ticket-management/search/
- Pagination: https://developer.zendesk.com/api-reference/introduction/pagination/
- Comments: https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_comments/
- API token auth: https://support.zendesk.com/hc/en-us/articles/4408831452954
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import requests
from requests.adapters import HTTPAdapter

from conversation_utils import SourceMessage, conversation_from_messages
from errors import (
    SearchPagesError,
    StartDateError,
    UsageError,
    ZendeskAuthError,
    ZendeskError,
    ZendeskQueryError,
    ZendeskSearchError,
    ZendeskUnreachableError,
)
from helpdesk_http import Helpdesk, HelpdeskClient, RetryingGetter, header_number, listed_ticket_fields, same_origin
from ordered_fetch import fetch_threads as fetch_threads  # re-exported: the Zendesk source's fetch
from ordered_fetch import listed_by_id
from records import Conversation, JSONObject, JSONValue
from window_budget import WindowBudget

log = logging.getLogger(__name__)

# Statuses kept for issue finding; the others (new, open, pending, hold, deleted) are skipped.
KEPT_STATUSES = ("solved", "closed")
# The conversation JSON keeps Freshdesk's status numbers (4 resolved, 5 closed) so every stage after
# the fetch reads one scheme; a Zendesk ticket's own status word stays in its raw answer.
STATUS_CODES = {"new": 2, "open": 2, "pending": 3, "hold": 3, "solved": 4, "closed": 5}
# Zendesk orders statuses new < open < pending < hold < solved < closed, so "status>hold" is solved
# or closed; the search reference documents ":" "<" and ">" as operators.
SEARCH_STATUS_FILTER = "type:ticket status>hold"
SEARCH_PER_PAGE = 100  # search: at most 100 results a page ...
SEARCH_MAX_RESULTS = 1000  # ... and 1,000 a query; a later page is a 422 (Search API, "Results limit")
EXPORT_PER_PAGE = 1000  # the incremental export's default and largest page
EXPORT_REQUESTS_PER_MINUTE = 10  # Incremental Exports, "Rate limits": 10 requests a minute
# The export leaves out items changed in the minute before the request, and a start_time within that
# minute is refused (Using the Incremental Export API); a few seconds more absorb clock skew.
EXPORT_LAG_SECONDS = 60
_START_TIME_MARGIN = 5
COMMENTS_PAGE_SIZE = 100  # page[size] is at most 100 on most endpoints (Pagination)
_MAX_COMMENT_PAGES = 100  # a ticket holds at most 5,000 comments (Ticket Comments), 50 pages
_MAX_EXPORT_PAGES = 100_000
_USER_AGENT = "silo-issues/0.1"


@dataclass(frozen=True)
class ZendeskTicketRef:
    """One listed ticket (export, search or show result), typed at the boundary."""

    id: int
    status: str  # Zendesk's own word: new, open, pending, hold, solved, closed or deleted
    updated_at: str
    subject: str
    created_at: str
    raw: dict

    @classmethod
    def from_api(cls, item: JSONValue, where: str) -> ZendeskTicketRef:
        ticket_id, status, updated_at, subject, created_at = listed_ticket_fields(
            item, where, ZENDESK, lambda value: str(value).lower()
        )
        return cls(ticket_id, status, updated_at, subject, created_at, raw=item)


@dataclass(frozen=True)
class ZendeskThread:
    """Everything fetched for one ticket, as the API returned it."""

    ticket: dict
    comments: list[dict]

    def raw(self) -> dict:
        """The shape kept in conversations/raw/{id}.json; ticket_import.conversation_from_raw re-cleans it."""
        return raw_thread(self.ticket, self.comments)


def raw_thread(ticket: dict, comments: list[dict]) -> dict:
    """`{"source": "zendesk", "ticket": ..., "comments": [...]}`: the raw answers of one ticket."""
    return {"source": "zendesk", "ticket": ticket, "comments": comments}


class TicketNotFoundError(ZendeskError):
    """The ticket does not exist (deleted or never created): callers skip it."""


class ExportTooRecentError(ZendeskQueryError):
    """Zendesk's clock puts the export's start_time within its last minute ("Too recent start_time")."""


class RateBudget(WindowBudget):
    """Spreads requests over the account's per-minute budget, as Zendesk's answers report it.

    Every Ticketing API answer carries X-Rate-Limit / X-Rate-Limit-Remaining, and list endpoints add
    ratelimit-limit / ratelimit-remaining / ratelimit-reset (seconds until the window resets)
    (Rate limits; Best practices for avoiding rate limiting). Every request costs one; the pacing is
    WindowBudget's, with the window end from ratelimit-reset when an answer carries it.
    """

    def __init__(self, window_seconds: float = 60.0, *, reserve: int = 3,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__(window_seconds, reserve=reserve, clock=clock, roll_from_start=True)

    def observe(self, limit: float | None, remaining: float | None, reset_in: float | None = None,  # type: ignore[override]
                sent_at: float | None = None) -> None:
        """Take in the rate-limit headers of an answer."""
        super().observe(limit, remaining, 1.0, sent_at, reset_in)


class SlidingWindow:
    """At most `limit` requests in any `window_seconds`: the incremental export's own limit.

    The export allows 10 requests a minute whatever the account's plan (Incremental Exports, "Rate
    limits"), and its answers are not a reliable count of that budget, so the client keeps its own.
    `margin` (2% of the window) absorbs the delay between our clock and the server's."""

    def __init__(self, limit: int, window_seconds: float = 60.0, *, clock: Callable[[], float] = time.monotonic):
        self.limit = max(1, limit)
        self.window_seconds = window_seconds
        self._margin = window_seconds * 0.02
        self._clock = clock
        self._lock = threading.Lock()
        self._sent: collections.deque[float] = collections.deque(maxlen=self.limit)
        self._blocked_until = 0.0

    def reserve(self) -> float:
        """Claim a slot for one request; returns the seconds to wait before sending it."""
        with self._lock:
            now = self._clock()
            start = max(now, self._blocked_until, self._sent[-1] if self._sent else now)
            if len(self._sent) == self.limit:
                start = max(start, self._sent[0] + self.window_seconds + self._margin)
            self._sent.append(start)
            return start - now

    def release(self) -> None:
        """A request that got no answer still took its slot: the window counts what was sent."""

    def throttled(self, retry_after: float) -> None:
        """A 429 (another integration may use the export too): wait for Retry-After."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + retry_after)


def _error_details(response: requests.Response) -> str:
    """Zendesk's error text ("error: description"), or the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip()
    if not isinstance(body, dict):
        return ""
    error, description = body.get("error"), body.get("description")
    if isinstance(error, dict):  # {"error": {"title": ..., "message": ...}}
        error, description = error.get("title"), error.get("message") or description
    details = body.get("details")
    parts = [str(p) for p in (error, description) if p]
    if isinstance(details, dict) and details:
        parts.append("; ".join(f"{k}: {v}" for k, v in details.items()))
    return ": ".join(parts)[:300]


def _raise_for_configuration(response: requests.Response, path: str, export: bool) -> None:
    """401, 403 and redirects: the settings are wrong (or the agent lacks a role), exit 2 in one line."""
    status = response.status_code
    if status == 401:
        raise ZendeskAuthError(
            f"Zendesk rejected ZENDESK_EMAIL and ZENDESK_API_TOKEN (401) on GET {path}: check both in "
            ".env (Admin Center > Apps and integrations > APIs > Zendesk API, with token access on)"
        )
    if status == 403:
        # The incremental export is "Allowed for: Admins" (Incremental Exports).
        need = ("the incremental export needs an admin: set ZENDESK_EMAIL and ZENDESK_API_TOKEN in .env "
                "to an admin's" if export else
                "the agent of ZENDESK_EMAIL may not view it: use the token of an agent who may, in .env")
        raise ZendeskAuthError(f"Zendesk refused GET {path} (403): {need}")
    if 300 <= status < 400:
        target = urlsplit(response.headers.get("Location", "")).netloc or "another page"
        raise ZendeskUnreachableError(
            f"GET {path} was redirected to {target}: check ZENDESK_SUBDOMAIN in .env names your account"
        )


ZENDESK = Helpdesk(name="Zendesk", host_setting="ZENDESK_SUBDOMAIN", error=ZendeskError,
                   unreachable=ZendeskUnreachableError, not_found=TicketNotFoundError, error_details=_error_details)


class ZendeskClient(HelpdeskClient):
    """One requests.Session to one Zendesk account; safe to share between worker threads.

    `clock` paces (monotonic seconds); `wall_clock` (Unix seconds) keeps export start times out of the
    last minute; `sleep` waits. Tests inject all three."""

    thread_name = "zendesk"
    ticket_not_found = TicketNotFoundError
    log = log

    def __init__(
        self,
        base_url: str,
        email: str,
        api_token: str,
        *,
        timeout: float = 30.0,
        max_tries: int = 6,
        max_throttle_waits: int = 10,
        pool_size: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        window_seconds: float = 60.0,
        export_requests_per_window: int = EXPORT_REQUESTS_PER_MINUTE,
        backoff_factor: float = 1.0,
        backoff_max: float = 60.0,
    ):
        base = base_url.rstrip("/").removesuffix("/api/v2")
        self.base_url = base
        self._api = f"{base}/api/v2"
        self.wall_clock = wall_clock
        self._session = requests.Session()
        # API token auth: Basic with "{email}/token" as the user and the token as the password.
        self._session.auth = (f"{email}/token", api_token)
        self._session.headers.update({"Accept": "application/json", "User-Agent": _USER_AGENT})
        # One connection more than the workers: the listing runs beside them in the caller's thread.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(1, pool_size) + 1, max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._budget = RateBudget(window_seconds, reserve=max(1, pool_size), clock=clock)
        self._export_window = SlidingWindow(export_requests_per_window, window_seconds, clock=clock)
        self.window_seconds = window_seconds
        # Rate limits: a 429 carries Retry-After, the seconds to wait before retrying. Redirects are
        # answered, not followed: Basic auth must not travel to another host.
        self._getter = RetryingGetter(
            ZENDESK, self._session, base, log=log, timeout=timeout, max_tries=max_tries,
            max_throttle_waits=max(1, max_throttle_waits), window_seconds=window_seconds,
            retry_after_headers=("Retry-After", "ratelimit-reset"), follow_redirects=False, sleep=sleep,
            clock=clock, backoff_factor=backoff_factor, backoff_max=backoff_max,
        )
        self._lock = threading.Lock()
        self.throttled = 0
        self.requests_by_endpoint: collections.Counter[str] = collections.Counter()

    @property
    def credits_used(self) -> float:
        """Requests answered: each one counts once against Zendesk's per-minute limits."""
        return float(sum(self.requests_by_endpoint.values()))

    # ----- transport
    def _get(self, url: str, endpoint: str) -> requests.Response:
        """GET with pacing, Retry-After on 429 and jittered exponential backoff; raises typed errors."""
        path = urlsplit(url).path
        export = endpoint == "export"
        pacing = self._export_window if export else self._budget
        response = self._getter.get(url, pacing, lambda answer, sent_at: self._count(answer, path, endpoint, sent_at))
        _raise_for_configuration(response, path, export)
        return response

    def _count(self, response: requests.Response, path: str, endpoint: str, sent_at: float) -> None:
        """Counts one answer by endpoint; the budget learns the remaining requests from it."""
        headers = response.headers
        if endpoint != "export" and response.status_code != 429:
            # Export answers are left out: the export has its own budget, paced by SlidingWindow.
            self._budget.observe(
                header_number(headers, "X-Rate-Limit", "ratelimit-limit"),
                header_number(headers, "X-Rate-Limit-Remaining", "ratelimit-remaining"),
                header_number(headers, "ratelimit-reset"),
                sent_at,
            )
        with self._lock:
            self.requests_by_endpoint[endpoint] += 1
            if response.status_code == 429:
                self.throttled += 1
        log.debug("GET %s -> %d (remaining %s)", path, response.status_code,
                  headers.get("X-Rate-Limit-Remaining", "?"))

    def _expect_ok(self, response: requests.Response, path: str, ticket_id: int | None = None) -> JSONObject:
        body = self._getter.expect_ok(response, path, ticket_id)
        if not isinstance(body, dict):
            raise ZendeskError(f"GET {path} answered without a JSON object: check ZENDESK_SUBDOMAIN")
        return body

    def url(self, path: str, params: Mapping[str, str | int] | None = None) -> str:
        """An API URL; `path` starts after /api/v2."""
        query = f"?{urlencode(params, quote_via=quote, safe='[]')}" if params else ""
        return f"{self._api}{path}{query}"

    def same_origin(self, url: str) -> bool:
        """True when `url` is on the configured host, so the Basic-auth header may follow it."""
        return same_origin(self.base_url, url)

    def fetch_thread(self, ref: ZendeskTicketRef) -> ZendeskThread:
        """A listed ticket with every comment; TicketNotFoundError when it is gone."""
        return ZendeskThread(ticket=ref.raw, comments=self.get_comments(ref.id))

    def _checked_link(self, url: str, path: str) -> str:
        if not self.same_origin(url):
            # The Basic-auth header must never follow a link to another host.
            raise ZendeskError(f"GET {path}: the next-page link leaves {self.base_url}; not followed")
        return url

    # ----- endpoints
    def export_page(self, url: str) -> tuple[list[ZendeskTicketRef], str | None, bool]:
        """One incremental export page: its tickets, the URL of the next page, and end_of_stream."""
        path = "/api/v2/incremental/tickets/cursor.json"
        response = self._get(url, "export")
        if response.status_code in (400, 422):
            details = _error_details(response) or "no details"
            kind = ExportTooRecentError if "too recent" in details.lower() else ZendeskQueryError
            raise kind(
                f"Zendesk refused the incremental export ({response.status_code}: {details})",
                "check the start time and this machine's clock",
            )
        body = self._expect_ok(response, path)
        refs = [ZendeskTicketRef.from_api(item, "the incremental export") for item in _list_of(body, "tickets", path)]
        end = bool(body.get("end_of_stream"))
        next_url: str | None = None
        if not end:
            # Incremental Exports: the next page is ?cursor=<after_cursor> (after_url holds the same).
            cursor = body.get("after_cursor")
            if cursor:
                params = {"cursor": str(cursor)}
                per_page = _query_value(url, "per_page")
                if per_page:
                    params["per_page"] = per_page
                next_url = self.url("/incremental/tickets/cursor.json", params)
            elif body.get("after_url"):
                next_url = self._checked_link(str(body["after_url"]), path)
            else:
                raise ZendeskError(f"GET {path}: end_of_stream is false but no after_cursor was sent")
        return refs, next_url, end

    def search_page(self, query: str, page: int, per_page: int = SEARCH_PER_PAGE
                    ) -> tuple[list[ZendeskTicketRef], int, bool]:
        """One page of ticket search: the tickets, Zendesk's total count, and whether a next page exists."""
        if not 1 <= per_page <= SEARCH_PER_PAGE or page < 1 or page * per_page > SEARCH_MAX_RESULTS:
            raise UsageError(
                f"search page {page} of {per_page} is out of range: Zendesk search serves at most "
                f"{SEARCH_MAX_RESULTS:,} results, {SEARCH_PER_PAGE} a page"
            )
        path = "/api/v2/search.json"
        # created_at is sortable both as the sort_by parameter and as the order_by keyword (Search), and
        # newest first is the order Freshdesk's search returns too.
        params = {"query": query, "page": page, "per_page": per_page, "sort_by": "created_at",
                  "sort_order": "desc"}
        response = self._get(self.url("/search.json", params), "search")
        if response.status_code in (400, 422):
            raise ZendeskSearchError(
                f"Zendesk refused the search \"{query}\" ({response.status_code}: "
                f"{_error_details(response) or 'no details'})",
                "check the extra search terms",
            )
        body = self._expect_ok(response, path)
        refs = [ZendeskTicketRef.from_api(item, "search") for item in _list_of(body, "results", path)
                if isinstance(item, dict) and item.get("result_type", "ticket") == "ticket"]
        count = body.get("count")
        return refs, int(count) if isinstance(count, (int, float)) else len(refs), bool(body.get("next_page"))

    def get_ticket(self, ticket_id: int) -> dict:
        """The ticket; TicketNotFoundError on 404."""
        path = f"/api/v2/tickets/{int(ticket_id)}.json"
        body = self._expect_ok(self._get(self.url(f"/tickets/{int(ticket_id)}.json"), "ticket"), path, ticket_id)
        ticket = body.get("ticket")
        if not isinstance(ticket, dict):
            raise ZendeskError(f"GET {path} answered without a ticket: check ZENDESK_SUBDOMAIN")
        return ticket

    def get_comments(self, ticket_id: int) -> list[dict]:
        """Every comment of a ticket, oldest first, the description being the first; 404 raises
        TicketNotFoundError.

        Cursor pagination (Pagination): page[size]=100, then links.next while meta.has_more."""
        path = f"/api/v2/tickets/{int(ticket_id)}/comments.json"
        url: str | None = self.url(f"/tickets/{int(ticket_id)}/comments.json", {"page[size]": COMMENTS_PAGE_SIZE})
        comments: list[dict] = []
        pages = 0
        while url:
            body = self._expect_ok(self._get(url, "comments"), path, ticket_id)
            items = _list_of(body, "comments", path)
            comments.extend(item for item in items if isinstance(item, dict))
            pages += 1
            meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
            links = body.get("links") if isinstance(body.get("links"), dict) else {}
            url = None
            if meta.get("has_more"):
                if not links.get("next"):
                    raise ZendeskError(f"GET {path}: meta.has_more is true but links.next is missing")
                url = self._checked_link(str(links["next"]), path)
            if pages >= _MAX_COMMENT_PAGES and url:
                raise ZendeskError(f"GET {path}: more than {_MAX_COMMENT_PAGES} pages of comments")
        return comments


def _list_of(body: JSONObject, key: str, path: str) -> list[JSONValue]:
    """The list an answer carries under `key`; ZendeskError when it carries none."""
    items = body.get(key)
    if not isinstance(items, list):
        raise ZendeskError(f"GET {path} answered without a {key} list: check ZENDESK_SUBDOMAIN")
    return items


def _query_value(url: str, name: str) -> str | None:
    values = parse_qs(urlsplit(url).query).get(name)
    return values[-1] if values else None


# ----------------------------------------------------------------------------- listings


def export_start_time(since: str | int | float, now: float) -> int:
    """The export's start_time for `since` (Unix seconds, YYYY-MM-DD, or an ISO timestamp), kept out of the
    last minute; a clamped start only adds tickets the run already has."""
    if isinstance(since, (int, float)) and not isinstance(since, bool):
        start = int(since)
    else:
        start = int(_parse_since(str(since)).timestamp())
    latest = int(now) - EXPORT_LAG_SECONDS - _START_TIME_MARGIN
    if start > latest:
        log.warning(
            "--since %s is within the last minute (or later); Zendesk's export refuses that and leaves out the "
            "last minute's changes, so the export starts at %s instead", since,
            datetime.fromtimestamp(latest, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        return max(0, latest)
    return max(0, start)


def _parse_since(text: str) -> datetime:
    value = text.strip()
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), timezone.utc)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise StartDateError(
            f"the start date {text!r} is not a date", "give YYYY-MM-DD or an ISO timestamp such as 2026-03-01T12:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def iter_incremental(client: ZendeskClient, since: str | int | float, *, per_page: int = EXPORT_PER_PAGE
                     ) -> Iterator[ZendeskTicketRef]:
    """Solved and closed tickets changed since `since`, through the cursor-based incremental export.

    GET /api/v2/incremental/tickets/cursor.json?start_time=<unix>, then ?cursor=<after_cursor> until
    end_of_stream (Incremental Exports). Tickets come in the export's order (oldest change first);
    deleted tickets, which the export includes, and other statuses are skipped; a ticket that changed
    again during the export is listed once."""
    if not 1 <= per_page <= EXPORT_PER_PAGE:
        raise UsageError(f"export page size {per_page} is out of range: Zendesk serves 1 to {EXPORT_PER_PAGE}")
    start = export_start_time(since, client.wall_clock())
    params: dict[str, str | int] = {"start_time": start}
    if per_page != EXPORT_PER_PAGE:
        params["per_page"] = per_page
    url: str | None = client.url("/incremental/tickets/cursor.json", params)
    seen: set[int] = set()
    skipped: collections.Counter[str] = collections.Counter()
    pages = 0
    while url:
        try:
            refs, url, end = client.export_page(url)
        except ExportTooRecentError:
            if pages:
                raise
            # This machine's clock runs ahead of Zendesk's: by Zendesk's clock the start is within its last
            # minute, whose changes the export leaves out anyway. Nothing is exportable yet; the next run,
            # starting from the same point, picks those changes up.
            log.warning("Zendesk says %s is within its last minute (this machine's clock is ahead of "
                        "Zendesk's): nothing to export yet", datetime.fromtimestamp(start, timezone.utc)
                        .strftime("%Y-%m-%dT%H:%M:%SZ"))
            return
        pages += 1
        for ref in refs:
            if ref.id in seen:
                continue
            seen.add(ref.id)
            if ref.status in KEPT_STATUSES:
                yield ref
            else:
                skipped[ref.status] += 1
        if end:
            break
        if pages >= _MAX_EXPORT_PAGES:
            raise ZendeskError(f"the incremental export sent more than {_MAX_EXPORT_PAGES} pages; stopped")
    if skipped:
        log.info("export: left out %s", ", ".join(f"{n} {status}" for status, n in sorted(skipped.items())))


def search_query(extra: str | None = None) -> str:
    """Solved or closed tickets, with an extra clause (Zendesk ANDs space-separated terms)."""
    extra = (extra or "").strip()
    return f"{SEARCH_STATUS_FILTER} {extra}" if extra else SEARCH_STATUS_FILTER


def iter_search(client: ZendeskClient, pages: int, query: str | None = None, *, per_page: int = SEARCH_PER_PAGE
                ) -> Iterator[ZendeskTicketRef]:
    """Solved and closed tickets from search pages 1..`pages`, newest first.

    A Zendesk page holds 100 tickets, so `--pages N` is up to 100·N tickets, N from 1 to 10: the
    search API's cap of 1,000 results a query (Search, "Results limit"). Use --since for more."""
    max_pages = SEARCH_MAX_RESULTS // max(1, per_page)
    if not 1 <= per_page <= SEARCH_PER_PAGE or not 1 <= pages <= max_pages:
        raise SearchPagesError(
            f"{pages} search pages is out of range: Zendesk search serves pages 1 to {max_pages} "
            f"({per_page} tickets each, {SEARCH_MAX_RESULTS:,} at most)",
            "ask for fewer, or export the tickets changed since a date for more",
        )
    full_query = search_query(query)
    for page in range(1, pages + 1):
        refs, _total, more = client.search_page(full_query, page, per_page)
        # The search index lags by minutes: check the status the ticket has now.
        yield from (ref for ref in refs if ref.status in KEPT_STATUSES)
        if len(refs) < per_page or not more:
            return


def iter_ticket_ids(client: ZendeskClient, ids: Sequence[int]) -> Iterator[ZendeskTicketRef]:
    """The given tickets in the given order; missing ones are skipped, unsolved ones warned about."""
    return listed_by_id(
        ids, lambda ticket_id: ZendeskTicketRef.from_api(client.get_ticket(ticket_id), f"ticket {ticket_id}"),
        missing=TicketNotFoundError, kept=KEPT_STATUSES, kept_words="solved/closed", log=log,
    )


# ----------------------------------------------------------------------------- cleaning


def zendesk_ticket_url(base_url: str, ticket_id: int) -> str:
    """The agent's page for a ticket: https://<subdomain>.zendesk.com/agent/tickets/<id>."""
    return f"{base_url.rstrip('/')}/agent/tickets/{int(ticket_id)}"


def zendesk_conversation(ticket: dict, comments: list[dict], ticket_url: str) -> Conversation:
    """The SPEC's conversation JSON from a Zendesk ticket and its comments, through the project's cleaner.

    The description is the first comment (Ticket Comments). A comment whose author_id is the ticket's
    requester_id is the customer's; anyone else's is an agent's; public false is an internal note.
    Bodies are cleaned from html_body (quotes and signatures stripped), plain_body or body otherwise."""
    requester = ticket.get("requester_id")
    messages: list[SourceMessage] = []
    for comment in comments:
        author = comment.get("author_id")
        messages.append({
            "speaker": "user" if requester is not None and author == requester else "agent",
            "html": comment.get("html_body"),
            "text": comment.get("plain_body") or comment.get("body"),
            "private": comment.get("public") is False,
            "created_at": str(comment.get("created_at") or ""),
        })
    if not comments and ticket.get("description"):
        # No comments fetched (an export file without them): the description is the requester's.
        messages.append({"speaker": "user", "text": str(ticket["description"]), "private": False,
                         "created_at": str(ticket.get("created_at") or "")})
    return conversation_from_messages(
        ticket_id=int(ticket["id"]),
        subject=str(ticket.get("subject") or ticket.get("raw_subject") or ""),
        status=STATUS_CODES.get(str(ticket.get("status") or "").lower(), 0),
        created_at=str(ticket.get("created_at") or ""),
        updated_at=str(ticket.get("updated_at") or ""),
        url=ticket_url,
        messages=messages,
    )
