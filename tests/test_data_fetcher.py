"""The Freshdesk client against the fake Freshdesk over real sockets on 127.0.0.1."""

from __future__ import annotations

import base64
import logging
import socket
import threading
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from fake_freshdesk import FakeFreshdesk, VirtualClock, make_desk, make_thread

import data_fetcher
from data_fetcher import (
    RESOLVED_QUERY,
    FreshdeskClient,
    RatePacer,
    TicketRef,
    fetch_threads,
    iter_search,
    iter_ticket_ids,
    iter_updated_since,
    search_query,
)
from errors import (
    FreshdeskAuthError,
    FreshdeskError,
    FreshdeskQueryError,
    FreshdeskUnreachableError,
    SiloError,
    UsageError,
    cli_message,
)
from main import CLI_FIXES

KEY = "fd-secret-key-7f3a"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def cli_wording(exc: SiloError) -> str:
    """What the command line prints for `exc`: the library's problem with the CLI's fix."""
    return cli_message(exc, CLI_FIXES)


def client_for(fake: FakeFreshdesk, **kwargs) -> FreshdeskClient:
    """A client on the fake's clock; with a VirtualClock its waits (backoff, pacing, Retry-After) cost no time."""
    clock = fake.clock if isinstance(fake.clock, VirtualClock) else VirtualClock()
    kwargs.setdefault("clock", clock)
    kwargs.setdefault("sleep", clock.sleep)
    kwargs.setdefault("timeout", 5.0)
    return FreshdeskClient(fake.url, KEY, **kwargs)


def query_of(path: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(path).query).items()}


def never_cached(ref: TicketRef) -> bool:
    return False


@pytest.fixture(scope="module")
def desk_1000() -> list[dict]:
    return make_desk(1000, seed=7, end=NOW)


@pytest.fixture
def small_desk() -> list[dict]:
    return make_desk(80, seed=3, end=NOW)


# ----------------------------------------------------------------------------- search


def test_search_query_is_wrapped_in_quotes_and_url_encoded(small_desk):
    with FakeFreshdesk(small_desk, api_key=KEY, now=NOW) as fake:
        refs, total = client_for(fake).search_page(RESOLVED_QUERY, 1)
    raw_query = urlsplit(fake.paths[0]).query
    assert "query=%22status%3A4%20OR%20status%3A5%22" in raw_query
    assert query_of(fake.paths[0])["query"] == '"status:4 OR status:5"'
    resolved = [t["ticket"] for t in small_desk if t["ticket"]["status"] in (4, 5)]
    assert total == len(resolved)
    assert all(ref.status in (4, 5) for ref in refs)
    # Search results lack the description, as on Freshdesk.
    assert all("description" not in ref.raw for ref in refs)


def test_search_query_combines_extra_clause_and_checks_length():
    assert search_query() == "status:4 OR status:5"
    assert search_query("group_id:12 AND tag:billing") == "(status:4 OR status:5) AND (group_id:12 AND tag:billing)"
    with pytest.raises(UsageError, match="make the search 568 characters; Freshdesk allows 512") as caught:
        search_query("tag:x OR " * 60)
    assert "--" not in str(caught.value) and cli_wording(caught.value).endswith(": shorten --query")


def test_extra_query_scopes_the_search(small_desk):
    with FakeFreshdesk(small_desk, api_key=KEY, now=NOW) as fake:
        refs = list(iter_search(client_for(fake), 10, "group_id:12"))
    expected = {t["ticket"]["id"] for t in small_desk
                if t["ticket"]["status"] in (4, 5) and t["ticket"]["group_id"] == 12}
    assert expected and {ref.id for ref in refs} == expected


def test_search_serves_30_a_page_and_pages_1_to_10_only(desk_1000):
    with FakeFreshdesk(desk_1000, api_key=KEY, now=NOW) as fake:
        client = client_for(fake)
        refs, total = client.search_page(RESOLVED_QUERY, 10)
        assert len(refs) == 30 and total == 850
        for bad in (0, 11):
            with pytest.raises(UsageError, match="pages 1 to 10"):
                client.search_page(RESOLVED_QUERY, bad)
        with pytest.raises(UsageError, match="11 search pages is out of range") as caught:
            list(iter_search(client, 11))
        assert "--" not in str(caught.value) and "use --since for more" in cli_wording(caught.value)
        # The fake refuses page 11 as Freshdesk does; the client never asked for it.
        answer = requests.get(f"{fake.url}/api/v2/search/tickets", params={"query": '"status:4"', "page": 11},
                              auth=(KEY, "X"), timeout=5)
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "page"
    assert [query_of(p)["page"] for p in fake.paths[:-1]] == ["10"]


def test_iter_search_stops_at_a_short_page_or_the_total():
    def desk_with(resolved: int) -> list[dict]:
        return [make_thread(i, 1, status=4) for i in range(1, resolved + 1)] + [make_thread(900, 1, status=2)]

    with FakeFreshdesk(desk_with(40), api_key=KEY) as fake:
        refs = list(iter_search(client_for(fake), 5))
    assert len(refs) == 40 and fake.hits["search"] == 2
    with FakeFreshdesk(desk_with(60), api_key=KEY) as fake:
        refs = list(iter_search(client_for(fake), 5))
    # Two full pages reach the total: no third request for an empty page.
    assert len(refs) == 60 and fake.hits["search"] == 2


def test_query_too_long_is_a_usage_error_before_any_request(small_desk):
    with FakeFreshdesk(small_desk, api_key=KEY) as fake:
        client = client_for(fake)
        with pytest.raises(UsageError, match="Freshdesk allows") as too_long:
            list(iter_search(client, 1, "tag:" + "x" * 520))
        with pytest.raises(UsageError, match="the search query is 513 characters") as too_long_page:
            client.search_page("x" * 513, 1)
    for caught in (too_long, too_long_page):
        assert "--" not in str(caught.value) and cli_wording(caught.value).endswith(": shorten --query")
    assert fake.requests_total == 0


def test_refused_query_raises_query_error_with_freshdesk_messages(small_desk):
    with FakeFreshdesk(small_desk, api_key=KEY) as fake, pytest.raises(FreshdeskQueryError) as caught:
        list(iter_search(client_for(fake), 1, "colour:blue"))
    assert "colour is not a searchable field" in str(caught.value)
    assert caught.value.exit_code == 2


# ----------------------------------------------------------------------------- conversations


def test_25_conversation_thread_is_fetched_whole_through_link_pages():
    thread = make_thread(7, 25, status=5)
    with FakeFreshdesk([thread], api_key=KEY, conversation_page_size=10) as fake:
        conversations = client_for(fake).get_conversations(7)
    assert [c["id"] for c in conversations] == [c["id"] for c in thread["conversations"]]
    assert fake.hits["conversations"] == 3
    assert all(query_of(p)["per_page"] == "100" for p in fake.paths)
    assert [query_of(p).get("page", "1") for p in fake.paths] == ["1", "2", "3"]


def test_conversations_ask_for_100_per_page_which_is_freshdesks_maximum():
    thread = make_thread(8, 130, status=4)
    with FakeFreshdesk([thread], api_key=KEY) as fake:
        conversations = client_for(fake).get_conversations(8)
        pages = fake.hits["conversations"]
        over = requests.get(f"{fake.url}/api/v2/tickets/8/conversations?per_page=101", auth=(KEY, "X"), timeout=5)
    assert len(conversations) == 130 and pages == 2
    assert over.status_code == 400


def test_a_next_page_link_to_another_origin_is_refused_and_gets_no_key():
    thread = make_thread(7, 25, status=5)
    # The other server (another port, so another origin) would answer the key: only the check stops it.
    with FakeFreshdesk([thread], api_key=KEY) as other, \
            FakeFreshdesk([thread], api_key=KEY, conversation_page_size=10, link_base=other.url) as fake, \
            pytest.raises(FreshdeskError, match="the next-page link leaves") as caught:
        client_for(fake).get_conversations(7)
    assert other.requests_total == 0 and other.auth_headers == []
    assert fake.hits["conversations"] == 1 and len(fake.auth_headers) == 1
    assert KEY not in str(caught.value)


# ----------------------------------------------------------------------------- list endpoint


def test_list_always_sends_updated_since_so_old_tickets_are_reached(small_desk):
    since = (NOW - timedelta(days=200)).strftime("%Y-%m-%d")
    with FakeFreshdesk(small_desk, api_key=KEY, now=NOW) as fake:
        refs = list(iter_updated_since(client_for(fake), since))
        default_window = requests.get(f"{fake.url}/api/v2/tickets?per_page=100", auth=(KEY, "X"), timeout=5).json()
    resolved = {t["ticket"]["id"] for t in small_desk if t["ticket"]["status"] in (4, 5)}
    assert {ref.id for ref in refs} == resolved
    cutoff = NOW - timedelta(days=30)
    old = [t for t in small_desk if datetime.fromisoformat(t["ticket"]["created_at"][:-1] + "+00:00") < cutoff]
    # Without updated_since Freshdesk lists only the last 30 days of creations; the client never relies on it.
    assert old and len(default_window) == len(small_desk) - len(old)
    for path in fake.paths[:-1]:
        params = query_of(path)
        assert params["updated_since"] == f"{since}T00:00:00Z"
        assert (params["order_by"], params["order_type"], params["per_page"], params["include"]) == (
            "updated_at", "asc", "100", "description")
    updated = [ref.updated_at for ref in refs]
    assert updated == sorted(updated)


def test_list_restarts_past_the_page_cap_and_drops_duplicates():
    desk = make_desk(350, seed=5, end=NOW)
    with FakeFreshdesk(desk, api_key=KEY, now=NOW, list_page_cap=2) as fake:
        client = client_for(fake)
        refs = list(iter_updated_since(client, "2020-01-01", page_cap=2))
        capped = requests.get(f"{fake.url}/api/v2/tickets?updated_since=2020-01-01&per_page=100&page=3",
                              auth=(KEY, "X"), timeout=5)
    resolved = {t["ticket"]["id"] for t in desk if t["ticket"]["status"] in (4, 5)}
    ids = [ref.id for ref in refs]
    assert len(ids) == len(set(ids)) == len(resolved) and set(ids) == resolved
    assert fake.hits["list"] >= 4  # two capped passes, then the rest
    assert len({query_of(p)["updated_since"] for p in fake.paths[:-1]}) >= 2
    assert capped.status_code == 400


# ----------------------------------------------------------------------------- auth and errors


def test_basic_auth_with_key_and_x(small_desk):
    seen: list[str] = []
    with FakeFreshdesk(small_desk, api_key=KEY) as fake:
        original = fake._authorized

        def spy(header: str) -> bool:
            seen.append(header)
            return original(header)

        fake._authorized = spy
        client_for(fake).get_ticket(small_desk[0]["ticket"]["id"])
    assert seen == ["Basic " + base64.b64encode(f"{KEY}:X".encode()).decode()]


def test_wrong_key_is_an_auth_error_without_the_key(small_desk, caplog):
    caplog.set_level(logging.DEBUG)
    with FakeFreshdesk(small_desk, api_key="the-right-key") as fake, pytest.raises(FreshdeskAuthError) as caught:
        list(iter_search(client_for(fake), 1))
    message = str(caught.value)
    assert "FRESHDESK_API_KEY (401)" in message and ".env" in message
    assert KEY not in message and KEY not in caplog.text
    assert caught.value.exit_code == 2
    assert fake.unauthorized == 1  # no retries on a rejected key


def test_unresolvable_domain_fails_fast():
    clock = VirtualClock()
    client = FreshdeskClient("http://silo-no-such-host.invalid", KEY, sleep=clock.sleep, clock=clock)
    with pytest.raises(FreshdeskUnreachableError, match="FRESHDESK_DOMAIN") as caught:
        list(iter_search(client, 1))
    # Fast: one request and no retry or backoff wait, however long the resolver took to say no.
    assert caught.value.exit_code == 2 and client.requests_made == 1 and clock.waits == []


def test_refused_connection_on_first_request_retries_briefly_then_unreachable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    clock = VirtualClock()
    client = FreshdeskClient(f"http://127.0.0.1:{port}", KEY, sleep=clock.sleep, clock=clock, max_tries=6)
    with pytest.raises(FreshdeskUnreachableError, match="refused"):
        client.get_ticket(1)
    assert client.requests_made == 3 and len(clock.waits) == 2


def test_5xx_and_dropped_connections_are_retried(small_desk):
    with FakeFreshdesk(small_desk, api_key=KEY, fail_rate=0.2, drop_rate=0.1, seed=11) as fake:
        client = client_for(fake)
        refs = list(iter_search(client, 10))
        results = list(fetch_threads(client, refs, batch_size=3, is_cached=never_cached))
    by_id = {t["ticket"]["id"]: t for t in small_desk}
    assert fake.failed > 0 and fake.dropped > 0
    assert len(results) == len(refs) == len(by_id) - sum(t["ticket"]["status"] < 4 for t in small_desk)
    for ref, thread in results:
        assert thread.conversations == by_id[ref.id]["conversations"]


def test_persistent_5xx_gives_up_naming_the_path(small_desk):
    ticket_id = small_desk[0]["ticket"]["id"]
    with FakeFreshdesk(small_desk, api_key=KEY, fail_rate=1.0) as fake:
        client = client_for(fake, max_tries=4)
        with pytest.raises(FreshdeskError) as caught:
            client.get_ticket(ticket_id)
    assert f"/api/v2/tickets/{ticket_id}" in str(caught.value) and "503" in str(caught.value)
    assert KEY not in str(caught.value)
    assert fake.hits["ticket"] == 4


def test_missing_tickets_are_skipped_with_a_warning(small_desk, caplog):
    first, second, third = (t["ticket"]["id"] for t in small_desk[:3])
    with FakeFreshdesk(small_desk, api_key=KEY) as fake:
        client = client_for(fake)
        refs = list(iter_ticket_ids(client, [first, 99999, second, third]))
        assert [ref.id for ref in refs] == [first, second, third]
        fake.delete_ticket(second)
        results = list(fetch_threads(client, refs, batch_size=2, is_cached=never_cached))
    assert [ref.id for ref, _ in results] == [first, third]
    assert "99999" in caplog.text and f"ticket {second} not found" in caplog.text


def test_ticket_ids_warn_about_unresolved_status_but_keep_them(caplog):
    desk = [make_thread(1, 2, status=2), make_thread(2, 2, status=4)]
    with FakeFreshdesk(desk, api_key=KEY) as fake:
        refs = list(iter_ticket_ids(client_for(fake), [2, 1]))
    assert [ref.id for ref in refs] == [2, 1]
    assert "ticket 1 has status 2" in caplog.text and "ticket 2 has" not in caplog.text


# ----------------------------------------------------------------------------- rate limits


def test_429_waits_for_retry_after_then_succeeds():
    desk = [make_thread(i, 1) for i in range(1, 6)]
    clock = VirtualClock()
    # No X-RateLimit headers: the client cannot pace, so it meets the limit.
    with FakeFreshdesk(desk, api_key=KEY, rate_limit=3, window_seconds=1.0, rate_limit_headers=False,
                       clock=clock) as fake:
        client = client_for(fake)
        tickets = [client.get_ticket(i) for i in range(1, 6)]
    assert [t["id"] for t in tickets] == [1, 2, 3, 4, 5]
    assert fake.throttled == 1 and client.throttled == 1
    assert clock.waits == [1.0]  # Retry-After: 1, and nothing else


def test_a_429_storm_ends_after_the_cap_with_an_error():
    clock = VirtualClock()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        # Without a cap the client would wait forever: fail instead of hanging.
        assert len(clock.waits) <= 100, "the client kept waiting on 429s"

    # A rate limit of 0: every answer is 429, whatever the client waits.
    with FakeFreshdesk([make_thread(1, 1)], api_key=KEY, rate_limit=0, clock=clock) as fake, \
            pytest.raises(FreshdeskError, match="rate-limited 21 times in a row") as caught:
        client_for(fake, sleep=sleep).get_ticket(1)
    assert "lower BATCH_SIZE" in str(caught.value) and caught.value.exit_code == 1
    # Each wait is the Retry-After the fake sent (the rest of its 60 s window).
    assert clock.waits == [60.0] * data_fetcher._MAX_THROTTLE_WAITS
    assert fake.throttled == data_fetcher._MAX_THROTTLE_WAITS + 1


def test_pacing_keeps_429s_few_at_the_rate_limit():
    desk = [make_thread(i, 2, status=4) for i in range(1, 61)]
    clock = VirtualClock()
    # A trial account's 50 credits a minute, with three workers: 122 credits take three windows.
    with FakeFreshdesk(desk, api_key=KEY, rate_limit=50, window_seconds=60.0, clock=clock) as fake:
        client = client_for(fake, pool_size=3)
        refs = list(iter_search(client, 2))
        results = list(fetch_threads(client, refs, batch_size=3, is_cached=never_cached))
    assert len(results) == 60
    assert fake.credits_charged == 122
    # On a shared virtual clock the pacer's estimate of the window is exact: no 429 at all (unpaced,
    # the same run meets 2 to 6), and the run takes the three windows it needs, no more.
    assert fake.throttled == 0
    assert 120.0 <= clock() - 1000.0 < 180.0


def test_pacer_spaces_the_last_credits_over_the_rest_of_the_window():
    clock = [100.0]
    pacer = RatePacer(60.0, reserve=1, clock=lambda: clock[0])
    assert pacer.reserve() == 0.0  # nothing known yet
    pacer.observe(total=50, remaining=45)
    waits = [pacer.reserve() for _ in range(3)]
    assert waits == [0.0, 0.0, 0.0]  # plenty left
    for _ in range(3):
        pacer.observe(total=50, remaining=4)
    waits = [pacer.reserve() for _ in range(4)]
    # Four credits left, 60 s of window: one request every 15 s.
    assert waits == pytest.approx([0.0, 15.0, 30.0, 45.0])
    # Spent: the next request waits for the window end.
    assert pacer.reserve() == pytest.approx(60.0)


def test_credits_are_counted_from_decimal_headers(small_desk):
    with FakeFreshdesk(small_desk, api_key=KEY, credit_unit=0.5) as fake:
        client = client_for(fake)
        list(iter_updated_since(client, "2020-01-01"))
        client.get_ticket(small_desk[0]["ticket"]["id"])
    # One list page with include=description (3 credits) and one ticket (1), at half a credit each.
    assert client.credits_used == fake.credits_charged == pytest.approx(2.0)
    assert client.requests_made == 2


# ----------------------------------------------------------------------------- fetch_threads


def test_fetch_threads_keeps_the_order_of_refs_with_a_pool():
    # Threads of very different lengths, one conversation a page, so workers finish out of order.
    lengths = [9, 1, 0, 7, 2, 12, 1, 5, 0, 3, 8, 1]
    desk = [make_thread(i + 1, n, status=4) for i, n in enumerate(lengths)]
    sixth_started, held = threading.Event(), []

    def hold_the_first(path: str) -> None:
        # Ticket 1 is answered only once ticket 6 is asked for: with 4 workers, two later tickets are done.
        if path.startswith("/api/v2/tickets/6/conversations"):
            sixth_started.set()
        elif path.startswith("/api/v2/tickets/1/conversations") and not held:
            held.append(sixth_started.wait(4))

    with FakeFreshdesk(desk, api_key=KEY, conversation_page_size=1) as fake:
        client = client_for(fake)
        refs = list(iter_ticket_ids(client, [t["ticket"]["id"] for t in desk]))
        fake.on_request = hold_the_first
        results = list(fetch_threads(client, refs, batch_size=4, is_cached=never_cached))
    assert held == [True]
    assert [ref.id for ref, _ in results] == [t["ticket"]["id"] for t in desk]
    assert [len(thread.conversations) for _, thread in results] == lengths
    # Descriptions came with the refs: no second GET of the tickets.
    assert fake.hits["ticket"] == len(desk)


def test_cached_refs_are_yielded_without_requests(small_desk):
    with FakeFreshdesk(small_desk, api_key=KEY) as fake:
        client = client_for(fake)
        refs = list(iter_search(client, 10))
        fake.reset_counters()
        results = list(fetch_threads(client, refs, batch_size=3, is_cached=lambda ref: ref.id % 2 == 0))
    assert [ref.id for ref, _ in results] == [ref.id for ref in refs]
    assert all((thread is None) == (ref.id % 2 == 0) for ref, thread in results)
    asked = {int(urlsplit(p).path.split("/")[4]) for p in fake.paths}
    assert asked == {ref.id for ref in refs if ref.id % 2}


def test_fetch_threads_consumes_refs_lazily():
    desk = [make_thread(i, 1, status=4) for i in range(1, 101)]
    consumed = []

    def refs():
        for thread in desk:
            consumed.append(thread["ticket"]["id"])
            yield TicketRef.from_api(thread["ticket"], "test")

    with FakeFreshdesk(desk, api_key=KEY) as fake:
        stream = fetch_threads(client_for(fake), refs(), batch_size=2, is_cached=never_cached)
        first = next(stream)
        taken_at_first = len(consumed)
        rest = list(stream)
    assert first[0].id == 1 and taken_at_first <= 9
    assert len(rest) == 99


# ----------------------------------------------------------------------------- whole runs


@pytest.mark.slow
def test_pages_run_fetches_the_300_search_results_at_most_2_05_credits_each(desk_1000, caplog):
    caplog.set_level(logging.DEBUG, logger="data_fetcher")
    with FakeFreshdesk(desk_1000, api_key=KEY, now=NOW) as fake:
        client = client_for(fake)
        refs = list(iter_search(client, 10))
        results = list(fetch_threads(client, refs, batch_size=3, is_cached=never_cached))
    by_id = {t["ticket"]["id"]: t for t in desk_1000}
    newest_resolved = sorted((t["ticket"] for t in desk_1000 if t["ticket"]["status"] in (4, 5)),
                             key=lambda t: (t["created_at"], t["id"]), reverse=True)[:300]
    assert [ref.id for ref, _ in results] == [t["id"] for t in newest_resolved]
    for ref, thread in results:
        assert thread.ticket["description"] == by_id[ref.id]["ticket"]["description"]
        assert thread.conversations == by_id[ref.id]["conversations"]
    assert client.credits_used == fake.credits_charged
    assert client.credits_used / 300 <= 2.05
    assert KEY not in caplog.text
    assert "GET /api/v2/search/tickets -> 200 (credits 1" in caplog.text


@pytest.mark.slow
def test_since_backfill_fetches_every_resolved_ticket_at_most_1_05_credits_each(desk_1000):
    with FakeFreshdesk(desk_1000, api_key=KEY, now=NOW) as fake:
        client = client_for(fake)
        refs = list(iter_updated_since(client, "2025-01-01"))
        results = list(fetch_threads(client, refs, batch_size=3, is_cached=never_cached))
    resolved = {t["ticket"]["id"]: t for t in desk_1000 if t["ticket"]["status"] in (4, 5)}
    assert len(results) == len(resolved) == 850
    assert {ref.id for ref, _ in results} == set(resolved)
    assert all(thread.conversations == resolved[ref.id]["conversations"] for ref, thread in results)
    assert fake.hits["ticket"] == 0
    assert client.credits_used == fake.credits_charged
    assert client.credits_used / len(results) <= 1.05


def test_fake_enforces_freshdesk_rules(small_desk):
    auth = (KEY, "X")
    with FakeFreshdesk(small_desk, api_key=KEY, now=NOW) as fake:
        base = f"{fake.url}/api/v2"
        unquoted = requests.get(f"{base}/search/tickets", params={"query": "status:4"}, auth=auth, timeout=5)
        big = requests.get(f"{base}/tickets?per_page=101&updated_since=2020-01-01", auth=auth, timeout=5)
        long_id = next(t["ticket"]["id"] for t in small_desk if len(t["conversations"]) > 10)
        embedded = requests.get(f"{base}/tickets/{long_id}?include=conversations", auth=auth, timeout=5)
        anonymous = requests.get(f"{base}/tickets/{long_id}", timeout=5)
    assert unquoted.status_code == 400 and unquoted.json()["description"] == "Validation failed"
    assert big.status_code == 400
    assert embedded.status_code == 200 and len(embedded.json()["conversations"]) == 10
    assert embedded.headers["X-RateLimit-Used-CurrentRequest"] == "2"
    assert anonymous.status_code == 401
