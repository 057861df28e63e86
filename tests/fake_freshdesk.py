"""A Freshdesk-compatible HTTP server on 127.0.0.1 for tests and benchmarks, and a realistic desk generator.

The server speaks the parts of API v2 the client uses (search, list, view ticket, conversations) with
Freshdesk's rules: Basic auth, quoted search queries, 30 results a page and pages 1..10, per_page <= 100,
the 30-day default window of the list endpoint and its page cap, Link pagination of conversations,
X-RateLimit-* headers, a per-window credit limit answered with 429 + Retry-After, and optional
seeded 5xx answers, dropped connections and latency.

A desk is a list of threads ``{"ticket": {...}, "conversations": [...]}`` (the raw shape the fetch
stage stores). Every message carries one distinctive new sentence, ``marker-<ticket id>-<n>``
(n = 0 for the description, 1.. for conversations), and replies quote the previous message, so a
test can check that every new sentence survives cleaning and no quoted marker leaks.
"""

from __future__ import annotations

import base64
import collections
import html
import json
import math
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

SEARCH_PAGE_SIZE = 30
SEARCH_MAX_PAGE = 10
SEARCH_MAX_QUERY = 512
LIST_MAX_PER_PAGE = 100
LIST_PAGE_CAP = 300
DEFAULT_WINDOW_DAYS = 30
INCLUDED_CONVERSATIONS = 10

Thread = dict[str, Any]


# --------------------------------------------------------------------------- desk generator

_TOPICS = [
    ("Cannot log in after password reset",
     "After resetting my password the login page says the link expired and sends me back.",
     "The reset token was invalidated by a second request; I issued a fresh link that works once."),
    ("Invoice shows the wrong VAT rate",
     "Our March invoice charges 21% VAT although we are registered in Germany at 19%.",
     "The billing country on your account was set to the Netherlands; I corrected it and re-issued "
     "the invoice."),
    ("CSV export times out",
     "Exporting the contacts list to CSV spins for minutes and then shows a gateway timeout.",
     "Exports above 50,000 rows now run in the background and arrive by e-mail."),
    ("Mobile app crashes on start",
     "Since the last update the Android app closes right after the splash screen.",
     "Clearing the app cache fixes the crash; version 4.2.1 removes the faulty migration."),
    ("Webhook deliveries failing",
     "Our endpoint stopped receiving webhooks yesterday; the log shows TLS handshake errors.",
     "Your certificate chain lacked the intermediate certificate; after adding it deliveries resumed."),
    ("Two-factor codes not accepted",
     "The authenticator codes are rejected every time, even right after they refresh.",
     "The phone clock was 3 minutes off; enabling automatic time sync solved it."),
    ("Duplicate charges on credit card",
     "We were charged twice for the annual plan on the same day & need a refund.",
     "The payment retry created a second charge; the duplicate has been refunded."),
    ("API returns 429 too many requests",
     "Our integration gets 429 responses although we send only a few calls a minute.",
     "A second integration shared the same key; splitting keys keeps both under the limit."),
    ("Calendar sync misses events",
     "Events created in Outlook do not show up in the shared calendar until the next day.",
     "The sync subscription had expired; re-authorising the connector restored live sync."),
    ("Cannot upload attachments larger than 10 MB",
     "Uploading a 12 MB PDF fails with an unexplained error in the ticket form.",
     "The portal limit is 10 MB; we raised it to 25 MB for your account."),
]
_CUSTOMERS = [("Jana Novak", "jana@example.org"), ("Tom Becker", "tom@example.net"),
              ("Aiko Tanaka", "aiko@example.com"), ("Luis Ortega", "luis@example.org")]
_AGENTS = ["Maria", "Sven", "Priya"]
_TAGS = ["billing", "login", "export", "api", "mobile", "sync"]
_FOLLOW_UPS = [
    "I tried that but the problem is still there.",
    "Thanks, that helped partly; one more question below.",
    "Here is a screenshot of the error as requested.",
    "Could you check again? It happened once more this morning.",
]
_AGENT_NOTES = [
    "Checked the logs; the error matches the known pattern.",
    "Escalated to engineering for a second look.",
    "Customer is on the enterprise plan, priority handling.",
]


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _marker(ticket_id: int, n: int) -> str:
    return f"marker-{ticket_id}-{n}"


def _text_of(body_html: str) -> str:
    text = re.sub(r"<br\s*/?>|</div>|</p>|</blockquote>", "\n", body_html)
    text = re.sub(r"<[^>]+>", "", text)
    return html.unescape(re.sub(r"\n{2,}", "\n", text)).strip()


def _quote_block(style: int, who: str, when: datetime, quoted_html: str) -> str:
    stamp = when.strftime("%a, %b %d, %Y at %I:%M %p")
    who = html.escape(who)
    if style == 0:
        return (f'<div class="freshdesk_quote"><blockquote class="freshdesk_quote">On {stamp}, {who} '
                f"wrote:<br>{quoted_html}</blockquote></div>")
    if style == 1:
        return (f'<div class="gmail_quote"><div class="gmail_attr">On {stamp} {who} wrote:</div>'
                f'<blockquote class="gmail_quote">{quoted_html}</blockquote></div>')
    quoted = "<br>".join(f"&gt; {html.escape(line)}" for line in _text_of(quoted_html).splitlines())
    return f"<div>On {stamp}, {who} wrote:<br>{quoted}</div>"


def make_thread(
    ticket_id: int,
    n_conversations: int,
    *,
    rng: random.Random | None = None,
    created_at: datetime | None = None,
    status: int = 4,
    topic: int | None = None,
    latest: datetime | None = None,
) -> Thread:
    """One ticket with `n_conversations` conversations: replies quote history, agents sign, notes are
    private; every message ends up by `latest` when given."""
    rng = rng or random.Random(ticket_id)
    created = created_at or datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
    subject, problem, answer = _TOPICS[topic if topic is not None else rng.randrange(len(_TOPICS))]
    customer, email = rng.choice(_CUSTOMERS)
    agent = rng.choice(_AGENTS)
    requester_id, responder_id = 5000 + ticket_id % 97, 900 + _AGENTS.index(agent)
    description = (f"<div>Hi team,</div><div>{html.escape(problem)} Ticket note {_marker(ticket_id, 0)} "
                   f"applies here.</div><div>--<br>{customer}</div>")
    # Space the messages so the whole thread ends by `latest` (the desk's "now").
    room = ((latest - created).total_seconds() / 60 / (n_conversations + 2)) if latest else 1800
    max_step = max(2, min(1800, int(room)))
    moment = created
    conversations: list[dict[str, Any]] = []
    last_public = (customer, created, description)
    customer_turn = False
    for n in range(1, n_conversations + 1):
        moment = moment + timedelta(minutes=rng.randint(1, max_step))
        private = not customer_turn and n > 1 and rng.random() < 0.2
        new_sentence = f"Update {_marker(ticket_id, n)} recorded."
        if private:
            body = f"<div>{html.escape(rng.choice(_AGENT_NOTES))} {new_sentence}</div>"
            incoming, source, user_id = False, 2, responder_id
        elif customer_turn:
            quote = _quote_block(rng.choice((1, 2)), f"{agent} (Acme Support)", *last_public[1:])
            signature = rng.choice([f"<div>--<br>{customer}<br>{email}</div>",
                                    "<div>Sent from my iPhone</div>"])
            body = f"<div>{html.escape(rng.choice(_FOLLOW_UPS))} {new_sentence}</div>{signature}{quote}"
            incoming, source, user_id = True, 0, requester_id
        else:
            quote = _quote_block(0, f"{customer} <{email}>", last_public[1], last_public[2])
            final = n == n_conversations or rng.random() < 0.3
            text = answer if final else "Thanks for the details, looking into it."
            body = (f"<div>Hello {customer.split()[0]},</div><div>{html.escape(text)} {new_sentence}</div>"
                    f"<div>Kind regards,<br>{agent}<br>Acme Support</div>{quote}")
            incoming, source, user_id = False, 0, responder_id
        conversations.append({
            "id": ticket_id * 1000 + n,
            "ticket_id": ticket_id,
            "body": body,
            "body_text": _text_of(body),
            "incoming": incoming,
            "private": private,
            "source": source,
            "user_id": user_id,
            "support_email": None if incoming else "support@acme.test",
            "to_emails": [] if private else [email],
            "from_email": None,
            "cc_emails": [],
            "bcc_emails": [],
            "attachments": [],
            "created_at": _iso(moment),
            "updated_at": _iso(moment),
        })
        if not private:
            last_public = (customer if incoming else agent, moment, body)
            customer_turn = not customer_turn
    updated = moment + timedelta(minutes=rng.randint(1, max_step))
    if latest and updated > latest:
        updated = latest
    ticket = {
        "id": ticket_id,
        "subject": subject,
        "status": status,
        "priority": rng.randint(1, 4),
        "source": rng.choice((1, 2, 3)),
        "type": "Problem",
        "group_id": rng.choice((11, 12, 13)),
        "tags": rng.sample(_TAGS, rng.randint(0, 2)),
        "requester_id": requester_id,
        "responder_id": responder_id,
        "company_id": None,
        "spam": False,
        "is_escalated": False,
        "fr_escalated": False,
        "custom_fields": {},
        "cc_emails": [],
        "fwd_emails": [],
        "reply_cc_emails": [],
        "to_emails": None,
        "created_at": _iso(created),
        "updated_at": _iso(updated),
        "due_by": _iso(created + timedelta(days=3)),
        "fr_due_by": _iso(created + timedelta(days=1)),
        "description": description,
        "description_text": _text_of(description),
        "attachments": [],
    }
    return {"ticket": ticket, "conversations": conversations}


def make_desk(
    n: int = 1000,
    seed: int = 0,
    open_fraction: float = 0.15,
    long_threads: float = 0.05,
    *,
    end: datetime | None = None,
    days: int = 180,
    first_id: int = 1,
) -> list[Thread]:
    """`n` tickets over `days` days before `end` (default: now): exactly round(n*open_fraction) open or
    pending, the rest resolved or closed; a `long_threads` fraction has 12-26 conversations."""
    rng = random.Random(seed)
    end = end or datetime.now(timezone.utc).replace(microsecond=0)
    open_ids = set(rng.sample(range(n), round(n * open_fraction)))
    long_ids = set(rng.sample(range(n), round(n * long_threads)))
    offsets = sorted((rng.uniform(0.5, days) for _ in range(n)), reverse=True)
    desk = []
    for index, days_ago in enumerate(offsets):
        created = (end - timedelta(days=days_ago)).replace(microsecond=0)
        status = rng.choice((2, 3)) if index in open_ids else rng.choice((4, 5))
        count = rng.randint(12, 26) if index in long_ids else rng.randint(0, 6)
        thread = make_thread(first_id + index, count, rng=rng, created_at=created, status=status, latest=end)
        desk.append(thread)
    return desk


# --------------------------------------------------------------------------- search query language

class _QueryError(ValueError):
    pass


_TOKEN = re.compile(r"\s*(?:(?P<paren>[()])|(?P<op>AND|OR)(?=[\s(]|$)|"
                    r"(?P<field>[a-z_]+):(?P<cmp>[<>])?(?P<value>'[^']*'|[^\s()']+))")
_SEARCH_FIELDS = {"status", "priority", "group_id", "tag", "type", "updated_at", "created_at"}


def _parse_date(text: str) -> datetime:
    try:
        if len(text) == 10:
            return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)
    except ValueError as exc:
        raise _QueryError(f"invalid date {text!r}") from exc


def _clause(field: str, cmp: str | None, raw: str) -> Callable[[dict], bool]:
    if field not in _SEARCH_FIELDS:
        raise _QueryError(f"{field} is not a searchable field")
    value = raw[1:-1] if raw.startswith("'") else raw
    if field in ("updated_at", "created_at"):
        day = _parse_date(value).date()

        def by_date(ticket: dict) -> bool:
            own = _parse_date(ticket[field]).date()
            return own >= day if cmp == ">" else own <= day if cmp == "<" else own == day

        return by_date
    if cmp:
        raise _QueryError(f"{field} does not support < or >")
    if field == "tag":
        return lambda ticket: value in ticket.get("tags", [])
    if field == "type":
        return lambda ticket: ticket.get("type") == value
    if not value.isdigit():
        raise _QueryError(f"{field} needs a number, got {value!r}")
    return lambda ticket: ticket.get(field) == int(value)


def parse_search_query(query: str) -> Callable[[dict], bool]:
    """A predicate for a Freshdesk search query (inside the quotes): clauses, AND, OR, parentheses."""
    tokens: list[tuple[str, Any]] = []
    position = 0
    query = query.strip()
    while position < len(query):
        match = _TOKEN.match(query, position)
        if not match or match.end() == position:
            raise _QueryError(f"cannot parse the query at {query[position:position + 20]!r}")
        position = match.end()
        if match["paren"]:
            tokens.append(("paren", match["paren"]))
        elif match["op"]:
            tokens.append(("op", match["op"]))
        else:
            tokens.append(("clause", _clause(match["field"], match["cmp"], match["value"])))
    index = 0

    def peek() -> tuple[str, Any] | None:
        return tokens[index] if index < len(tokens) else None

    def atom() -> Callable[[dict], bool]:
        nonlocal index
        token = peek()
        if token is None:
            raise _QueryError("the query ends too early")
        index += 1
        if token == ("paren", "("):
            inner = disjunction()
            if peek() != ("paren", ")"):
                raise _QueryError("a parenthesis is not closed")
            index += 1
            return inner
        if token[0] != "clause":
            raise _QueryError(f"unexpected {token[1]!r}")
        return token[1]

    def conjunction() -> Callable[[dict], bool]:
        nonlocal index
        parts = [atom()]
        while peek() == ("op", "AND"):
            index += 1
            parts.append(atom())
        return lambda ticket: all(part(ticket) for part in parts)

    def disjunction() -> Callable[[dict], bool]:
        nonlocal index
        parts = [conjunction()]
        while peek() == ("op", "OR"):
            index += 1
            parts.append(conjunction())
        return lambda ticket: any(part(ticket) for part in parts)

    predicate = disjunction()
    if index != len(tokens):
        raise _QueryError("unexpected text after the query")
    return predicate


# --------------------------------------------------------------------------- the server

class _Answer(Exception):
    """Raised inside a route to answer with an error status."""

    def __init__(self, status: int, body: Any, cost: float = 1.0, headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status, self.body, self.cost, self.headers = status, body, cost, headers or {}


def _validation(field: str, message: str, code: str = "invalid_value") -> _Answer:
    return _Answer(400, {"description": "Validation failed",
                         "errors": [{"field": field, "message": message, "code": code}]})


class VirtualClock:
    """Test time for the fake and the client: reading it costs nothing and sleeping moves it on at once.

    A sleep ends at the sleeper's last reading plus the seconds asked (never before now), so threads
    waiting side by side move time to the latest of their ends, not to the sum of their waits.
    """

    def __init__(self, start: float = 1000.0):
        self._now = start
        self._lock = threading.Lock()
        self._read = threading.local()
        self.waits: list[float] = []

    def __call__(self) -> float:
        with self._lock:
            self._read.at = self._now
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)
            start = getattr(self._read, "at", self._now)
            self._now = max(self._now, start + max(0.0, seconds))
            self._read.at = self._now


class FakeFreshdesk:
    """A Freshdesk API v2 look-alike on 127.0.0.1 with an ephemeral port; use as a context manager."""

    def __init__(
        self,
        tickets: Iterable[Thread] = (),
        *,
        api_key: str = "test-key",
        rate_limit: float = 100_000,
        window_seconds: float = 60.0,
        fail_rate: float = 0.0,
        drop_rate: float = 0.0,
        latency: float = 0.0,
        seed: int = 0,
        now: datetime | None = None,
        list_page_cap: int = LIST_PAGE_CAP,
        conversation_page_size: int | None = None,
        rate_limit_headers: bool = True,
        credit_unit: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        link_base: str | None = None,
        on_request: Callable[[str], None] | None = None,
    ):
        self.api_key = api_key
        self.rate_limit = rate_limit
        self.window_seconds = window_seconds
        self.fail_rate = fail_rate
        self.drop_rate = drop_rate
        self.latency = latency
        self.now = now
        self.list_page_cap = list_page_cap
        # Serve fewer conversations per page than asked, so Link pagination shows on short threads.
        self.conversation_page_size = conversation_page_size
        self.rate_limit_headers = rate_limit_headers
        # Scales every charge, e.g. 0.5 to exercise decimal X-RateLimit-* values.
        self.credit_unit = credit_unit
        # Rate-limit windows run on this clock (a VirtualClock shared with the client: no real waiting).
        self.clock = clock
        # Where Link next-page URLs point; another server's URL makes a cross-origin link.
        self.link_base = link_base
        # Called with each request's path before it is answered, on the handler's thread (tests hold
        # requests with it to force an order of events).
        self.on_request = on_request
        self._threads: dict[int, Thread] = {t["ticket"]["id"]: t for t in tickets}
        self.seed = seed
        self._attempts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._window_origin: float | None = None
        self._window_index = -1
        self._window_used = 0.0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset_counters()

    # ----- lifecycle
    def start(self) -> FakeFreshdesk:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # One buffered write per answer, sent at once: no Nagle/delayed-ACK stalls between requests.
            wbufsize = -1
            disable_nagle_algorithm = True

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeFreshdesk:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # ----- state and counters
    def reset_counters(self) -> None:
        self.hits: collections.Counter[str] = collections.Counter()
        self.credits_charged = 0.0
        self.throttled = 0
        self.failed = 0
        self.dropped = 0
        self.unauthorized = 0
        self.paths: list[str] = []
        self.auth_headers: list[str] = []  # every Authorization header received

    @property
    def requests_total(self) -> int:
        return sum(self.hits.values())

    def delete_ticket(self, ticket_id: int) -> None:
        """Remove a ticket, as an agent deleting it mid-run would (later requests get 404)."""
        with self._lock:
            self._threads.pop(ticket_id, None)

    def update_ticket(self, ticket_id: int, **fields: Any) -> None:
        with self._lock:
            self._threads[ticket_id]["ticket"].update(fields)

    def resolved_ids(self) -> list[int]:
        return sorted(i for i, t in self._threads.items() if t["ticket"]["status"] in (4, 5))

    def _now(self) -> datetime:
        return self.now or datetime.now(timezone.utc)

    # ----- request handling
    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        if self.latency:
            time.sleep(self.latency)
        parts = urlsplit(request.path)
        params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        endpoint, route = self._route(parts.path)
        with self._lock:
            self.paths.append(request.path)
            if "Authorization" in request.headers:
                self.auth_headers.append(request.headers["Authorization"])
            self.hits[endpoint] += 1
            self._attempts[request.path] += 1
            attempt = self._attempts[request.path]
        if self.on_request is not None:
            self.on_request(request.path)
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
            self._send(request, 503, {"description": "Service temporarily unavailable"}, {})
            return
        if not self._authorized(request.headers.get("Authorization", "")):
            with self._lock:
                self.unauthorized += 1
            self._send(request, 401, {"code": "invalid_credentials",
                                      "message": "You have to be logged in to perform this action."}, {})
            return
        try:
            cost, body, headers = route(params) if route else self._not_found()
            status = 200
        except _Answer as answer:
            cost, body, headers, status = answer.cost, answer.body, answer.headers, answer.status
        limit_headers = self._charge(cost * self.credit_unit)
        if limit_headers is None:
            retry_after = self._retry_after()
            self._send(request, 429, {"description": "You have exceeded the limit of requests per minute"},
                       {"Retry-After": str(retry_after), **self._limit_headers(0.0)})
            return
        self._send(request, status, body, {**limit_headers, **headers})

    def _route(self, path: str) -> tuple[str, Callable[[dict], tuple[float, Any, dict]] | None]:
        if path == "/api/v2/search/tickets":
            return "search", self._search
        if path == "/api/v2/tickets":
            return "list", self._list
        match = re.fullmatch(r"/api/v2/tickets/(\d+)(/conversations)?", path)
        if match and match[2]:
            return "conversations", lambda params: self._conversations(int(match[1]), params)
        if match:
            return "ticket", lambda params: self._ticket(int(match[1]), params)
        return "other", None

    def _authorized(self, header: str) -> bool:
        if not header.startswith("Basic "):
            return False
        try:
            user, _, _password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return user == self.api_key

    def _charge(self, cost: float) -> dict[str, str] | None:
        """Charge `cost` credits in the current window; None when the window is spent (429)."""
        with self._lock:
            moment = self.clock()
            if self._window_origin is None:
                self._window_origin = moment
            index = int((moment - self._window_origin) // self.window_seconds)
            if index != self._window_index:
                self._window_index, self._window_used = index, 0.0
            if self._window_used >= self.rate_limit:
                self.throttled += 1
                return None
            self._window_used += cost
            self.credits_charged += cost
            return self._limit_headers(cost)

    def _limit_headers(self, cost: float) -> dict[str, str]:
        if not self.rate_limit_headers:
            return {}
        return {
            "X-RateLimit-Total": f"{self.rate_limit:g}",
            "X-RateLimit-Remaining": f"{max(0.0, self.rate_limit - self._window_used):g}",
            "X-RateLimit-Used-CurrentRequest": f"{cost:g}",
        }

    def _retry_after(self) -> int:
        # Freshdesk sends whole seconds until the window resets.
        with self._lock:
            now = self.clock()
            origin = self._window_origin or now
            end = origin + (self._window_index + 1) * self.window_seconds
            return max(1, math.ceil(end - now))

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str]) -> None:
        data = b"" if body is None else json.dumps(body).encode("utf-8")
        request.send_response(status)
        request.send_header("Content-Type", "application/json; charset=utf-8")
        request.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(data)

    # ----- endpoints: each returns (credits, body, extra headers) or raises _Answer
    @staticmethod
    def _not_found() -> tuple[float, Any, dict]:
        raise _Answer(404, {"description": "Resource not found", "errors": []})

    @staticmethod
    def _int_param(params: dict, name: str, default: int, low: int, high: int) -> int:
        raw = params.get(name)
        if raw is None:
            return default
        if not raw.isdigit() or not low <= int(raw) <= high:
            raise _validation(name, f"It should be a Positive Number less than or equal to {high}")
        return int(raw)

    def _search(self, params: dict) -> tuple[float, Any, dict]:
        raw = params.get("query", "")
        if len(raw) < 2 or not (raw.startswith('"') and raw.endswith('"')):
            raise _validation("query", "Query should be enclosed in double quotes", "invalid_value")
        if len(raw) - 2 > SEARCH_MAX_QUERY:
            raise _validation("query", f"Query length should not exceed {SEARCH_MAX_QUERY} characters")
        page = self._int_param(params, "page", 1, 1, SEARCH_MAX_PAGE)
        try:
            predicate = parse_search_query(raw[1:-1])
        except _QueryError as exc:
            raise _validation("query", str(exc), "invalid_field") from exc
        with self._lock:
            matches = [t["ticket"] for t in self._threads.values() if predicate(t["ticket"])]
        matches.sort(key=lambda t: (t["created_at"], t["id"]), reverse=True)
        start = (page - 1) * SEARCH_PAGE_SIZE
        results = [
            {k: v for k, v in t.items() if k not in ("description", "description_text")}
            for t in matches[start:start + SEARCH_PAGE_SIZE]
        ]
        return 1.0, {"results": results, "total": len(matches)}, {}

    def _list(self, params: dict) -> tuple[float, Any, dict]:
        per_page = self._int_param(params, "per_page", 30, 1, LIST_MAX_PER_PAGE)
        page = self._int_param(params, "page", 1, 1, self.list_page_cap)
        includes = [i for i in params.get("include", "").split(",") if i]
        if any(i not in ("description", "stats", "requester") for i in includes):
            raise _validation("include", "It should be one of these values: 'description,requester,stats'")
        order_by = params.get("order_by", "created_at")
        if order_by not in ("created_at", "due_by", "updated_at", "status"):
            raise _validation("order_by", "It should be one of these values: "
                                          "'created_at,due_by,updated_at,status'")
        order_type = params.get("order_type", "desc")
        if order_type not in ("asc", "desc"):
            raise _validation("order_type", "It should be one of these values: 'asc,desc'")
        if "updated_since" in params:
            try:
                since = _parse_date(params["updated_since"])
            except _QueryError as exc:
                raise _validation("updated_since", "It should be in the 'valid date' format") from exc

            def keep(ticket: dict) -> bool:
                return _parse_date(ticket["updated_at"]) >= since
        else:
            # Freshdesk's default: only tickets created in the last 30 days.
            cutoff = self._now() - timedelta(days=DEFAULT_WINDOW_DAYS)

            def keep(ticket: dict) -> bool:
                return _parse_date(ticket["created_at"]) >= cutoff

        with self._lock:
            matches = [t["ticket"] for t in self._threads.values() if keep(t["ticket"])]
        matches.sort(key=lambda t: (t[order_by], t["id"]), reverse=order_type == "desc")
        chosen = matches[(page - 1) * per_page: page * per_page]
        if "description" not in includes:
            chosen = [{k: v for k, v in t.items() if k not in ("description", "description_text")}
                      for t in chosen]
        return 1.0 + 2.0 * len(includes), [dict(t) for t in chosen], {}

    def _thread_for(self, ticket_id: int) -> Thread:
        with self._lock:
            thread = self._threads.get(ticket_id)
        if thread is None:
            raise _Answer(404, None)
        return thread

    def _ticket(self, ticket_id: int, params: dict) -> tuple[float, Any, dict]:
        thread = self._thread_for(ticket_id)
        includes = [i for i in params.get("include", "").split(",") if i]
        if any(i not in ("conversations", "requester", "company", "stats") for i in includes):
            raise _validation("include", "It should be one of these values: "
                                         "'conversations,requester,company,stats'")
        body = dict(thread["ticket"])
        if "conversations" in includes:
            body["conversations"] = thread["conversations"][:INCLUDED_CONVERSATIONS]
        return 1.0 + len(includes), body, {}

    def _conversations(self, ticket_id: int, params: dict) -> tuple[float, Any, dict]:
        thread = self._thread_for(ticket_id)
        per_page = self._int_param(params, "per_page", 30, 1, LIST_MAX_PER_PAGE)
        page = self._int_param(params, "page", 1, 1, 10_000)
        size = self.conversation_page_size or per_page
        items = thread["conversations"][(page - 1) * size: page * size]
        headers = {}
        if page * size < len(thread["conversations"]):
            headers["Link"] = (f'<{self.link_base or self.url}/api/v2/tickets/{ticket_id}/conversations'
                               f'?per_page={per_page}&page={page + 1}>; rel="next"')
        return 1.0, items, headers
