"""A Zendesk-compatible HTTP server on 127.0.0.1 for tests, enforcing the API's limits, and a shared virtual clock.

The server speaks the parts of Support API v2 the client uses, with Zendesk's rules:
- Basic auth as "{email}/token" with the API token as password (401 otherwise; 403 on the export for a
  non-admin);
- GET /api/v2/incremental/tickets/cursor.json: start_time (Unix seconds) or cursor; tickets changed at or
  after start_time, oldest change first, per_page 1..1000 (default 1000); after_cursor, after_url,
  end_of_stream; deleted tickets included with status "deleted"; changes of the last minute left out; a
  start_time within the last minute is a 400; 10 requests a window, then 429 + Retry-After;
- GET /api/v2/search.json: 100 results a page at most, 1,000 a query (a later page is a 422);
- GET /api/v2/tickets/{id}.json and /comments.json (cursor pagination: page[size] 1..100, meta.has_more,
  links.next; offset pages of 100 without page[size]); 404 for deleted or unknown tickets;
- a per-window request budget for the other endpoints with X-Rate-Limit(-Remaining) and
  ratelimit-limit/-remaining/-reset headers, 429 + Retry-After beyond it;
- optional seeded 503 answers and dropped connections.

The desk is built from tests/fake_freshdesk.py threads (the description becomes the first comment,
conversations become comments), so every message keeps its distinctive `marker-<id>-<n>` sentence.
Time comes from `clock` (Unix seconds); pass a VirtualClock shared with the client to let minutes of
rate limiting pass without waiting.
"""

from __future__ import annotations

import base64
import collections
import json
import math
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

EXPORT_MAX_PER_PAGE = 1000
EXPORT_LAG_SECONDS = 60
SEARCH_MAX_PER_PAGE = 100
SEARCH_MAX_RESULTS = 1000
COMMENTS_MAX_PAGE_SIZE = 100
STATUS_WORDS = {2: "open", 3: "pending", 4: "solved", 5: "closed"}
_STATUS_ORDER = ["new", "open", "pending", "hold", "solved", "closed"]


class VirtualClock:
    """Shared virtual time in Unix seconds: sleep() returns at once and moves time to the sleeper's wake-up.

    The wake-up is the calling thread's last reading plus the wait, and time never goes back, so a pool of
    workers that each wait for their own slot ends at the latest slot, as it would in real time."""

    def __init__(self, start: float):
        self._now = float(start)
        self._lock = threading.Lock()
        self._local = threading.local()
        self.slept = 0.0

    def __call__(self) -> float:
        with self._lock:
            self._local.last = self._now
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            wake = getattr(self._local, "last", self._now) + max(0.0, seconds)
            self.slept += max(0.0, seconds)
            self._now = max(self._now, wake)
            self._local.last = self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


def unix(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())


def to_zendesk(thread: dict) -> tuple[dict, list[dict]]:
    """A fake_freshdesk thread as a Zendesk ticket and its comments (the description is the first comment)."""
    t = thread["ticket"]
    requester = t["requester_id"]
    comments = [{
        "id": t["id"] * 1000, "type": "Comment", "author_id": requester, "public": True,
        "body": t["description_text"], "plain_body": t["description_text"], "html_body": t["description"],
        "created_at": t["created_at"], "attachments": [], "via": {"channel": "email"}, "metadata": {},
    }]
    for c in thread["conversations"]:
        comments.append({
            "id": c["id"], "type": "Comment", "author_id": requester if c["incoming"] else c["user_id"],
            "public": not c["private"], "body": c["body_text"], "plain_body": c["body_text"],
            "html_body": c["body"], "created_at": c["created_at"], "attachments": [],
            "via": {"channel": "email" if c["incoming"] else "web"}, "metadata": {},
        })
    ticket = {
        "id": t["id"], "subject": t["subject"], "raw_subject": t["subject"], "description": t["description_text"],
        "status": STATUS_WORDS[t["status"]], "priority": "normal", "type": "problem",
        "requester_id": requester, "submitter_id": requester, "assignee_id": t.get("responder_id"),
        "group_id": t.get("group_id"), "tags": list(t.get("tags", [])), "created_at": t["created_at"],
        "updated_at": t["updated_at"], "via": {"channel": "email"}, "custom_fields": [],
        "generated_timestamp": unix(t["updated_at"]),
    }
    return ticket, comments


def export_records(desk: Iterable[dict]) -> list[dict]:
    """The desk as Zendesk's account JSON export writes it: one ticket per record, with its comments."""
    records = []
    for thread in desk:
        ticket, comments = to_zendesk(thread)
        records.append({**ticket, "comments": comments})
    return records


class _Answer(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


class _Window:
    """A fixed per-window request budget, windows anchored at the first request."""

    def __init__(self, limit: float, seconds: float):
        self.limit, self.seconds = limit, seconds
        self.origin: float | None = None
        self.index = -1
        self.used = 0

    def take(self, now: float) -> tuple[bool, float, float]:
        """Charge one request: (allowed, remaining, seconds until the window resets)."""
        if self.origin is None:
            self.origin = now
        index = int((now - self.origin) // self.seconds)
        if index != self.index:
            self.index, self.used = index, 0
        reset_in = self.origin + (index + 1) * self.seconds - now
        if self.used >= self.limit:
            return False, 0.0, reset_in
        self.used += 1
        return True, self.limit - self.used, reset_in


class FakeZendesk:
    """A Zendesk Support API v2 look-alike on 127.0.0.1 with an ephemeral port; use as a context manager."""

    def __init__(
        self,
        desk: Iterable[dict] = (),
        *,
        email: str = "agent@acme.test",
        token: str = "test-token",
        rate_limit: float = 700,
        export_limit: float = 10,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
        admin: bool = True,
        fail_rate: float = 0.0,
        drop_rate: float = 0.0,
        latency: float = 0.0,
        seed: int = 0,
        comment_page_cap: int | None = None,
    ):
        self.email, self.token, self.admin = email, token, admin
        self.clock = clock
        self.fail_rate, self.drop_rate, self.latency, self.seed = fail_rate, drop_rate, latency, seed
        self.comment_page_cap = comment_page_cap
        self._lock = threading.Lock()
        self._windows = {"export": _Window(export_limit, window_seconds), "api": _Window(rate_limit, window_seconds)}
        self._tickets: dict[int, dict] = {}
        self._comments: dict[int, list[dict]] = {}
        for thread in desk:
            ticket, comments = to_zendesk(thread)
            self._tickets[ticket["id"]] = ticket
            self._comments[ticket["id"]] = comments
        self._attempts: collections.Counter[str] = collections.Counter()
        self._server: ThreadingHTTPServer | None = None
        self._url = ""
        self.reset_counters()

    # ----- lifecycle
    def start(self) -> FakeZendesk:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = -1
            disable_nagle_algorithm = True

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self._url = f"http://{host}:{port}"  # kept after stop() for handlers still answering
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeZendesk:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._url, "start the fake first"
        return self._url

    # ----- state and counters
    def reset_counters(self) -> None:
        self.hits: collections.Counter[str] = collections.Counter()
        self.throttled: collections.Counter[str] = collections.Counter()
        self.failed = 0
        self.dropped = 0
        self.unauthorized = 0
        self.paths: list[str] = []
        self.auth_headers: list[str] = []

    @property
    def requests_total(self) -> int:
        return sum(self.hits.values())

    def stats(self) -> dict[str, Any]:
        return {"requests": dict(self.hits), "429": dict(self.throttled), "503": self.failed,
                "dropped": self.dropped, "401": self.unauthorized}

    def ticket(self, ticket_id: int) -> dict:
        return self._tickets[ticket_id]

    def comments(self, ticket_id: int) -> list[dict]:
        return self._comments[ticket_id]

    def kept_ids(self) -> set[int]:
        return {i for i, t in self._tickets.items() if t["status"] in ("solved", "closed")}

    def _stamp(self) -> str:
        return datetime.fromtimestamp(int(self.clock()), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def delete_ticket(self, ticket_id: int) -> None:
        """An agent deletes the ticket: it stays in the export as "deleted"; show and comments answer 404."""
        with self._lock:
            ticket = self._tickets[ticket_id]
            ticket.update(status="deleted", updated_at=self._stamp(), generated_timestamp=int(self.clock()))

    def update_ticket(self, ticket_id: int, **fields: Any) -> None:
        """Change a ticket now: its updated_at and export position move to the current time."""
        with self._lock:
            ticket = self._tickets[ticket_id]
            ticket.update(fields, updated_at=self._stamp(), generated_timestamp=int(self.clock()))

    # ----- request handling
    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        if self.latency:
            time.sleep(self.latency)
        parts = urlsplit(request.path)
        params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        endpoint, route = self._route(parts.path)
        header = request.headers.get("Authorization", "")
        with self._lock:
            self.paths.append(request.path)
            self.auth_headers.append(header)
            self._attempts[request.path] += 1
            attempt = self._attempts[request.path]
        if not self._authorized(header):
            with self._lock:
                self.unauthorized += 1
            self._send(request, 401, {"error": "Couldn't authenticate you"}, {})
            return
        kind = "export" if endpoint == "export" else "api"
        with self._lock:
            now = self.clock()
            allowed, remaining, reset_in = self._windows[kind].take(now)
            api = self._windows["api"]
            limit_headers = {
                "X-Rate-Limit": f"{api.limit:g}", "ratelimit-limit": f"{api.limit:g}",
                "X-Rate-Limit-Remaining": f"{(remaining if kind == 'api' else api.limit - api.used):g}",
                "ratelimit-remaining": f"{(remaining if kind == 'api' else api.limit - api.used):g}",
                "ratelimit-reset": str(max(1, math.ceil(reset_in))) if kind == "api" else "60",
            }
            if not allowed:
                self.throttled[endpoint] += 1
        if not allowed:
            self._send(request, 429, {"error": "APIRateLimitExceeded",
                                      "description": "Number of allowed API requests per minute exceeded"},
                       {**limit_headers, "Retry-After": str(max(1, math.ceil(reset_in)))})
            return
        with self._lock:
            self.hits[endpoint] += 1
        # Faults depend on (seed, request, attempt), not on thread timing, so fault tests cannot flake.
        roll = random.Random(f"{self.seed}:{request.path}:{attempt}").random()
        if roll < self.drop_rate:
            with self._lock:
                self.dropped += 1
            request.close_connection = True
            return
        if roll < self.drop_rate + self.fail_rate:
            with self._lock:
                self.failed += 1
            self._send(request, 503, {"error": "ServiceUnavailable"}, limit_headers)
            return
        try:
            body = route(params, parts.path) if route else self._raise(404, {"error": "InvalidEndpoint"})
            status = 200
        except _Answer as answer:
            body, status = answer.body, answer.status
        self._send(request, status, body, limit_headers)

    @staticmethod
    def _raise(status: int, body: Any) -> Any:
        raise _Answer(status, body)

    def _route(self, path: str) -> tuple[str, Callable[[dict, str], Any] | None]:
        if path in ("/api/v2/incremental/tickets/cursor.json", "/api/v2/incremental/tickets/cursor"):
            return "export", self._export
        if path in ("/api/v2/search.json", "/api/v2/search"):
            return "search", self._search
        match = re.fullmatch(r"/api/v2/tickets/(\d+)(/comments)?(?:\.json)?", path)
        if match and match[2]:
            return "comments", lambda params, p: self._list_comments(int(match[1]), params, p)
        if match:
            return "ticket", lambda params, p: self._show(int(match[1]))
        return "other", None

    def _authorized(self, header: str) -> bool:
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return user == f"{self.email}/token" and password == self.token

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str]) -> None:
        data = json.dumps(body).encode("utf-8")
        request.send_response(status)
        request.send_header("Content-Type", "application/json; charset=utf-8")
        request.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(data)

    def _with_url(self, ticket: dict) -> dict:
        return {**ticket, "url": f"{self.url}/api/v2/tickets/{ticket['id']}.json"}

    # ----- endpoints
    def _export(self, params: dict, path: str) -> Any:
        if not self.admin:
            raise _Answer(403, {"error": "Forbidden", "description": "You do not have access to this page. "
                                "Please contact the account owner of this help desk for further help."})
        raw_per_page = params.get("per_page", str(EXPORT_MAX_PER_PAGE))
        if not raw_per_page.isdigit() or not 1 <= int(raw_per_page) <= EXPORT_MAX_PER_PAGE:
            raise _Answer(400, {"error": "InvalidPaginationParameter",
                                "description": f"per_page must be between 1 and {EXPORT_MAX_PER_PAGE}"})
        per_page = int(raw_per_page)
        now = self.clock()
        # Changes of the last minute are left out, so a later export cannot miss them.
        with self._lock:
            visible = sorted(
                (t for t in self._tickets.values() if t["generated_timestamp"] <= now - EXPORT_LAG_SECONDS),
                key=lambda t: (t["generated_timestamp"], t["id"]),
            )
        if "cursor" in params:
            try:
                stamp, _, last_id = base64.urlsafe_b64decode(params["cursor"].encode()).decode().partition(":")
                after = (int(stamp), int(last_id))
            except (ValueError, UnicodeDecodeError):
                raise _Answer(400, {"error": "InvalidCursor", "description": "Invalid cursor"}) from None
            rest = [t for t in visible if (t["generated_timestamp"], t["id"]) > after]
        else:
            raw = params.get("start_time", "")
            if not raw.lstrip("-").isdigit():
                raise _Answer(400, {"error": "InvalidValue", "description": "start_time is required"})
            if int(raw) > now - EXPORT_LAG_SECONDS:
                raise _Answer(400, {"error": "InvalidValue",
                                    "description": "Too recent start_time. Use a start_time older than 1 minute"})
            rest = [t for t in visible if t["generated_timestamp"] >= int(raw)]
        chunk = rest[:per_page]
        if chunk:
            last = chunk[-1]
            cursor = base64.urlsafe_b64encode(f"{last['generated_timestamp']}:{last['id']}".encode()).decode()
        else:
            origin = f"{int(now) - EXPORT_LAG_SECONDS}:0"
            cursor = params.get("cursor") or base64.urlsafe_b64encode(origin.encode()).decode()
        return {
            "tickets": [self._with_url(t) for t in chunk],
            "after_cursor": cursor,
            "after_url": f"{self.url}/api/v2/incremental/tickets/cursor.json?cursor={cursor}",
            "before_cursor": None, "before_url": None,
            "end_of_stream": len(rest) <= per_page,
        }

    def _search(self, params: dict, path: str) -> Any:
        query = params.get("query", "")
        try:
            page = int(params.get("page", "1"))
            per_page = min(SEARCH_MAX_PER_PAGE, int(params.get("per_page", str(SEARCH_MAX_PER_PAGE))))
        except ValueError:
            raise _Answer(400, {"error": "InvalidPaginationParameter"}) from None
        if page < 1 or per_page < 1:
            raise _Answer(400, {"error": "InvalidPaginationParameter"})
        if page * per_page > SEARCH_MAX_RESULTS:
            raise _Answer(422, {"error": "InvalidPaginationParameter",
                                "description": "Search results are limited to 1,000"})
        statuses: set[str] = set()
        tags: list[str] = []
        words: list[str] = []
        for term in query.split():
            status = re.fullmatch(r"status(:|>=|<=|>|<)(\w+)", term)
            if status:
                op, value = status.groups()
                if value not in _STATUS_ORDER:
                    raise _Answer(400, {"error": "InvalidQuery", "description": f"unknown status {value}"})
                i = _STATUS_ORDER.index(value)
                statuses |= set({":": _STATUS_ORDER[i:i + 1], ">=": _STATUS_ORDER[i:], ">": _STATUS_ORDER[i + 1:],
                                 "<=": _STATUS_ORDER[:i + 1], "<": _STATUS_ORDER[:i]}[op])
            elif term.startswith(("tag:", "tags:")):
                tags.append(term.split(":", 1)[1])
            elif term != "type:ticket":
                words.append(term.lower())
        with self._lock:
            hits = [t for t in self._tickets.values() if t["status"] != "deleted"
                    and (not statuses or t["status"] in statuses) and all(tag in t["tags"] for tag in tags)
                    and all(w in (t["subject"] + " " + t["description"]).lower() for w in words)]
        key = params.get("sort_by", "created_at")
        key = "updated_at" if key == "updated_at" else "created_at"
        hits.sort(key=lambda t: (t[key], t["id"]), reverse=params.get("sort_order", "desc") != "asc")
        chunk = hits[(page - 1) * per_page: page * per_page]
        more = page * per_page < min(len(hits), SEARCH_MAX_RESULTS)
        next_params = dict(params, page=str(page + 1))
        return {
            "results": [dict(self._with_url(t), result_type="ticket") for t in chunk],
            "count": len(hits), "facets": None,
            "next_page": f"{self.url}{path}?{urlencode(next_params)}" if more else None,
            "previous_page": None,
        }

    def _live(self, ticket_id: int) -> dict:
        with self._lock:
            ticket = self._tickets.get(ticket_id)
        if ticket is None or ticket["status"] == "deleted":
            raise _Answer(404, {"error": "RecordNotFound", "description": "Not found"})
        return ticket

    def _show(self, ticket_id: int) -> Any:
        return {"ticket": self._with_url(self._live(ticket_id))}

    def _list_comments(self, ticket_id: int, params: dict, path: str) -> Any:
        self._live(ticket_id)
        items = self._comments[ticket_id]
        if "page[size]" not in params:
            page = int(params.get("page", "1") or 1)
            chunk = items[(page - 1) * 100: page * 100]
            more = page * 100 < len(items)
            return {"comments": chunk, "count": len(items),
                    "next_page": f"{self.url}{path}?page={page + 1}" if more else None, "previous_page": None}
        raw = params["page[size]"]
        if not raw.isdigit() or not 1 <= int(raw) <= COMMENTS_MAX_PAGE_SIZE:
            raise _Answer(400, {"error": "InvalidPaginationParameter",
                                "description": f"page[size] must be between 1 and {COMMENTS_MAX_PAGE_SIZE}"})
        size = min(int(raw), self.comment_page_cap or int(raw))
        try:
            after_cursor = params.get("page[after]")
            start = int(base64.urlsafe_b64decode(after_cursor.encode()).decode()) if after_cursor else 0
        except (ValueError, UnicodeDecodeError):
            raise _Answer(400, {"error": "InvalidPaginationParameter", "description": "Invalid cursor"}) from None
        chunk = items[start:start + size]
        more = start + size < len(items)
        after = base64.urlsafe_b64encode(str(start + size).encode()).decode() if more else None
        next_link = f"{self.url}{path}?{urlencode({'page[size]': raw, 'page[after]': after})}" if more else None
        return {"comments": chunk, "meta": {"has_more": more, "after_cursor": after, "before_cursor": None},
                "links": {"next": next_link, "prev": None}}
