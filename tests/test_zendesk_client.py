"""The Zendesk client against the fake Zendesk over real sockets on 127.0.0.1, on a shared virtual clock."""

from __future__ import annotations

import base64
import logging
import re
import socket
import threading
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from fake_freshdesk import make_desk, make_thread
from fake_zendesk import FakeZendesk, VirtualClock, to_zendesk

from conversation_utils import ConversationStore, clean_conversation
from errors import (
    SiloError,
    UsageError,
    ZendeskAuthError,
    ZendeskError,
    ZendeskQueryError,
    ZendeskUnreachableError,
    cli_message,
)
from main import CLI_FIXES
from zendesk_client import (
    EXPORT_LAG_SECONDS,
    RateBudget,
    SlidingWindow,
    ZendeskClient,
    ZendeskTicketRef,
    export_start_time,
    fetch_threads,
    iter_incremental,
    iter_search,
    iter_ticket_ids,
    zendesk_conversation,
    zendesk_ticket_url,
)

EMAIL = "agent@acme.test"
TOKEN = "zd-secret-token-91c4"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
HOUR_AGO = NOW - timedelta(hours=1)


class Waits:
    """Records every wait the client asks for, then lets the virtual clock pass it."""

    def __init__(self, clock: VirtualClock):
        self.clock = clock
        self.waits: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)
        self.clock.sleep(seconds)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(NOW.timestamp())


def cli_wording(exc: SiloError) -> str:
    """What the command line prints for `exc`: the library's problem with the CLI's fix."""
    return cli_message(exc, CLI_FIXES)


def fake_for(desk: list[dict], clock: VirtualClock, **kwargs) -> FakeZendesk:
    kwargs.setdefault("email", EMAIL)
    kwargs.setdefault("token", TOKEN)
    return FakeZendesk(desk, clock=clock, **kwargs)


def client_for(fake: FakeZendesk, clock: VirtualClock, **kwargs) -> ZendeskClient:
    kwargs.setdefault("sleep", clock.sleep)
    kwargs.setdefault("backoff_factor", 0.01)
    kwargs.setdefault("timeout", 5.0)
    return ZendeskClient(fake.url, EMAIL, TOKEN, clock=clock, wall_clock=clock, **kwargs)


def query_of(path: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(path).query).items()}


def never_cached(ref: ZendeskTicketRef) -> bool:
    return False


def kept(desk: list[dict]) -> set[int]:
    return {t["ticket"]["id"] for t in desk if t["ticket"]["status"] in (4, 5)}


@pytest.fixture(scope="module")
def desk_300() -> list[dict]:
    return make_desk(300, seed=3, end=HOUR_AGO)


@pytest.fixture(scope="module")
def desk_1000() -> list[dict]:
    """1,000 tickets over half a year, six of them with 120 to 170 comments."""
    desk = make_desk(1000, seed=7, end=HOUR_AGO)
    for index, n in zip((40, 200, 333, 512, 700, 901), (120, 135, 149, 150, 160, 170), strict=True):
        old = desk[index]["ticket"]
        created = datetime.fromisoformat(old["created_at"].replace("Z", "+00:00"))
        desk[index] = make_thread(old["id"], n - 1, status=5 if n % 2 else 4, created_at=created, latest=HOUR_AGO)
    return desk


# ----------------------------------------------------------------------------- auth and first contact


def test_basic_auth_is_email_slash_token_with_the_token_as_password(desk_300, clock):
    with fake_for(desk_300[:5], clock) as fake:
        client_for(fake, clock).get_ticket(desk_300[0]["ticket"]["id"])
    assert fake.auth_headers == ["Basic " + base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()]


def test_wrong_token_is_one_line_exit_2_without_the_token(desk_300, clock, caplog):
    caplog.set_level(logging.DEBUG)
    with fake_for(desk_300[:5], clock, token="the-right-token") as fake, pytest.raises(ZendeskAuthError) as caught:
        list(iter_incremental(client_for(fake, clock), "2020-01-01"))
    message = str(caught.value)
    assert "ZENDESK_API_TOKEN (401)" in message and ".env" in message and "\n" not in message
    assert TOKEN not in message and TOKEN not in caplog.text
    assert caught.value.exit_code == 2
    assert fake.unauthorized == 1  # a rejected token is not retried


def test_export_by_a_non_admin_is_a_403_naming_the_admin_need(desk_300, clock):
    with fake_for(desk_300[:5], clock, admin=False) as fake, pytest.raises(ZendeskAuthError) as caught:
        list(iter_incremental(client_for(fake, clock), "2020-01-01"))
    assert "(403)" in str(caught.value) and "admin" in str(caught.value) and caught.value.exit_code == 2


def test_unresolvable_host_fails_at_once_with_exit_2(clock):
    client = ZendeskClient("http://silo-no-such-host.invalid", EMAIL, TOKEN, sleep=clock.sleep)
    with pytest.raises(ZendeskUnreachableError, match="ZENDESK_SUBDOMAIN") as caught:
        client.get_ticket(1)
    assert caught.value.exit_code == 2 and client.requests_made == 1


def test_refused_connection_on_first_contact_retries_briefly_then_exit_2(clock):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    waits = Waits(clock)
    client = ZendeskClient(f"http://127.0.0.1:{port}", EMAIL, TOKEN, sleep=waits, clock=clock, max_tries=6)
    with pytest.raises(ZendeskUnreachableError, match="refused") as caught:
        client.get_ticket(1)
    assert caught.value.exit_code == 2 and client.requests_made == 3 and len(waits.waits) == 2


# ----------------------------------------------------------------------------- incremental export


def test_export_follows_cursors_until_end_of_stream_keeping_solved_and_closed(desk_300, clock):
    with fake_for(desk_300, clock) as fake:
        refs = list(iter_incremental(client_for(fake, clock), "2020-01-01", per_page=40))
        first = requests.get(f"{fake.url}/api/v2/incremental/tickets/cursor.json?start_time=0&per_page=40",
                             auth=(f"{EMAIL}/token", TOKEN), timeout=5).json()
    assert {ref.id for ref in refs} == kept(desk_300) and len(refs) == len(kept(desk_300))
    assert all(ref.status in ("solved", "closed") for ref in refs)
    export_paths = [p for p in fake.paths[:-1]]
    assert len(export_paths) == -(-len(desk_300) // 40)  # every ticket is changed over an hour ago
    assert query_of(export_paths[0]) == {"start_time": str(int(datetime(2020, 1, 1, tzinfo=timezone.utc).timestamp())),
                                         "per_page": "40"}
    # Later pages ask ?cursor=<after_cursor> and keep the page size the first request chose.
    assert all(set(query_of(p)) == {"cursor", "per_page"} for p in export_paths[1:])
    assert first["end_of_stream"] is False and "after_cursor" in first and "after_url" in first


def test_export_start_time_accepts_unix_seconds_dates_and_timestamps():
    now = NOW.timestamp()
    assert export_start_time(1_700_000_000, now) == 1_700_000_000
    assert export_start_time("2026-02-01", now) == int(datetime(2026, 2, 1, tzinfo=timezone.utc).timestamp())
    assert export_start_time("2026-02-01T10:30:00Z", now) == int(
        datetime(2026, 2, 1, 10, 30, tzinfo=timezone.utc).timestamp())
    with pytest.raises(UsageError, match="the start date 'next week' is not a date") as caught:
        export_start_time("next week", now)
    assert "--" not in str(caught.value) and "give --since as YYYY-MM-DD" in cli_wording(caught.value)


def test_start_time_within_the_last_minute_is_clamped_and_said(desk_300, clock, caplog):
    with fake_for(desk_300, clock) as fake:
        refs = list(iter_incremental(client_for(fake, clock), (NOW - timedelta(seconds=20)).isoformat()))
        too_recent = requests.get(f"{fake.url}/api/v2/incremental/tickets/cursor.json",
                                  params={"start_time": int(clock()) - 30}, auth=(f"{EMAIL}/token", TOKEN), timeout=5)
    asked = int(query_of(fake.paths[0])["start_time"])
    assert asked <= int(NOW.timestamp()) - EXPORT_LAG_SECONDS
    assert refs == []  # nothing changed in the last few minutes of this desk
    assert "within the last minute" in caplog.text
    # The fake, like Zendesk, refuses what the client never sends.
    assert too_recent.status_code == 400 and "Too recent start_time" in too_recent.json()["description"]


def test_a_clock_ahead_of_zendesks_exports_nothing_yet_instead_of_failing(desk_300, clock, caplog):
    # This machine's clock runs 10 minutes ahead: a start two minutes back is, by Zendesk's clock, in the future.
    with fake_for(desk_300, clock) as fake:
        client = client_for(fake, clock)
        client.wall_clock = lambda: clock() + 600
        refs = list(iter_incremental(client, (NOW + timedelta(minutes=8)).isoformat()))
    assert refs == [] and fake.hits["export"] == 1
    assert "nothing to export yet" in caplog.text and "ahead of Zendesk's" in caplog.text


def test_changes_of_the_last_minute_wait_for_the_next_export(desk_300, clock):
    target = next(iter(sorted(kept(desk_300))))
    with fake_for(desk_300, clock) as fake:
        client = client_for(fake, clock)
        fake.update_ticket(target, subject="Changed just now")
        since = (NOW - timedelta(minutes=10)).isoformat()
        assert [ref.id for ref in iter_incremental(client, since)] == []
        clock.advance(EXPORT_LAG_SECONDS + 1)
        later = list(iter_incremental(client, since))
    assert [ref.id for ref in later] == [target] and later[0].subject == "Changed just now"


def test_deleted_tickets_appear_in_the_export_and_are_skipped(desk_300, clock):
    gone = sorted(kept(desk_300))[:3]
    with fake_for(desk_300, clock) as fake:
        for ticket_id in gone:
            fake.delete_ticket(ticket_id)
        clock.advance(EXPORT_LAG_SECONDS + 1)
        raw = requests.get(f"{fake.url}/api/v2/incremental/tickets/cursor.json", params={"start_time": 0},
                           auth=(f"{EMAIL}/token", TOKEN), timeout=5).json()
        refs = list(iter_incremental(client_for(fake, clock), "2020-01-01"))
    assert {t["id"] for t in raw["tickets"] if t["status"] == "deleted"} == set(gone)
    assert {ref.id for ref in refs} == kept(desk_300) - set(gone)


def test_export_keeps_to_10_requests_a_minute(desk_300, clock):
    with fake_for(desk_300, clock) as fake:
        client = client_for(fake, clock)
        refs = list(iter_incremental(client, "2020-01-01", per_page=10))
    pages = -(-len(desk_300) // 10)
    assert len(refs) == len(kept(desk_300)) and fake.hits["export"] == pages == 30
    assert fake.throttled["export"] == 0
    # 30 requests at 10 a minute: two full minutes of waiting (plus the 2% margin), no more.
    assert 2 * 60 <= clock() - NOW.timestamp() <= 2 * 60 * 1.05


def test_fake_answers_the_11th_export_request_of_a_minute_with_429_and_retry_after(desk_300, clock):
    with fake_for(desk_300, clock) as fake:
        answers = [requests.get(f"{fake.url}/api/v2/incremental/tickets/cursor.json", params={"start_time": 0},
                                auth=(f"{EMAIL}/token", TOKEN), timeout=5) for _ in range(11)]
    assert [a.status_code for a in answers] == [200] * 10 + [429]
    assert answers[-1].headers["Retry-After"] == "60"


def test_429_waits_for_retry_after_then_continues(desk_300, clock):
    waits = Waits(clock)
    # The fake allows 3 export requests a minute where the client expects 10: it meets 429s.
    with fake_for(desk_300, clock, export_limit=3) as fake:
        client = client_for(fake, clock, sleep=waits)
        refs = list(iter_incremental(client, "2020-01-01", per_page=50))
    assert {ref.id for ref in refs} == kept(desk_300)
    assert fake.throttled["export"] >= 1 and client.throttled == fake.throttled["export"]
    assert waits.waits.count(60.0) >= fake.throttled["export"]  # Retry-After: 60 at each window start


def test_repeated_429s_end_in_one_clear_error(desk_300, clock):
    ticket_id = desk_300[0]["ticket"]["id"]
    with fake_for(desk_300, clock, rate_limit=0) as fake, pytest.raises(ZendeskError) as caught:
        client_for(fake, clock, max_throttle_waits=3).get_comments(ticket_id)
    assert "rate-limited 4 times in a row" in str(caught.value) and fake.throttled["comments"] == 4
    assert caught.value.exit_code == 1


# ----------------------------------------------------------------------------- comments


def test_150_comments_are_fetched_whole_through_cursor_pages(clock):
    thread = make_thread(7, 149, status=5)
    with fake_for([thread], clock) as fake:
        comments = client_for(fake, clock).get_comments(7)
        too_big = requests.get(f"{fake.url}/api/v2/tickets/7/comments.json?page[size]=101",
                               auth=(f"{EMAIL}/token", TOKEN), timeout=5)
    assert [c["id"] for c in comments] == [c["id"] for c in to_zendesk(thread)[1]] and len(comments) == 150
    assert fake.hits["comments"] == 3  # two pages, then the refused one
    assert query_of(fake.paths[0]) == {"page[size]": "100"}
    assert query_of(fake.paths[1])["page[size]"] == "100" and "page[after]" in query_of(fake.paths[1])
    assert too_big.status_code == 400


def test_comments_follow_links_next_while_has_more(clock):
    thread = make_thread(8, 99, status=4)
    with fake_for([thread], clock, comment_page_cap=30) as fake:
        comments = client_for(fake, clock).get_comments(8)
    assert len(comments) == 100 and fake.hits["comments"] == 4


def test_a_next_link_to_another_host_is_not_followed(clock):
    thread = make_thread(9, 120, status=4)
    with fake_for([thread], clock) as fake:
        original = fake._list_comments

        def elsewhere(ticket_id, params, path):
            body = original(ticket_id, params, path)
            if body["links"]["next"]:
                body["links"]["next"] = body["links"]["next"].replace(fake.url, "http://collector.example")
            return body

        fake._list_comments = elsewhere
        with pytest.raises(ZendeskError, match="leaves"):
            client_for(fake, clock).get_comments(9)
    assert fake.requests_total == 1


def test_has_more_without_a_next_link_is_an_error(clock):
    with fake_for([make_thread(9, 120, status=4)], clock) as fake:
        original = fake._list_comments
        fake._list_comments = lambda *a: {**original(*a), "links": {"next": None, "prev": None}}
        with pytest.raises(ZendeskError, match="links.next is missing"):
            client_for(fake, clock).get_comments(9)


def test_tickets_gone_after_listing_are_skipped_with_a_warning(desk_300, clock, caplog):
    with fake_for(desk_300, clock) as fake:
        client = client_for(fake, clock)
        refs = list(iter_incremental(client, "2020-01-01"))
        gone = refs[1].id
        fake.delete_ticket(gone)
        results = list(fetch_threads(client, refs[:5], batch_size=2, is_cached=never_cached))
    assert [ref.id for ref, _ in results] == [ref.id for ref in refs[:5] if ref.id != gone]
    assert f"ticket {gone} not found" in caplog.text


def test_fetch_threads_keeps_the_order_and_skips_cached_refs(clock):
    lengths = [9, 1, 0, 130, 2, 12, 1, 5]
    desk = [make_thread(i + 1, n, status=4) for i, n in enumerate(lengths)]
    with fake_for(desk, clock, comment_page_cap=3) as fake:
        client = client_for(fake, clock)
        refs = list(iter_ticket_ids(client, [t["ticket"]["id"] for t in desk]))
        fake.reset_counters()
        results = list(fetch_threads(client, refs, batch_size=4, is_cached=lambda ref: ref.id == 2))
    assert [ref.id for ref, _ in results] == [t["ticket"]["id"] for t in desk]
    assert [len(thread.comments) if thread else None for _, thread in results] == [
        None if i == 1 else n + 1 for i, n in enumerate(lengths)]
    assert all("/tickets/2/" not in p for p in fake.paths)


def test_ticket_ids_skip_missing_and_warn_about_unsolved(clock, caplog):
    desk = [make_thread(1, 2, status=2), make_thread(2, 2, status=4)]
    with fake_for(desk, clock) as fake:
        refs = list(iter_ticket_ids(client_for(fake, clock), [2, 99, 1]))
    assert [ref.id for ref in refs] == [2, 1]
    assert "ticket 99 not found" in caplog.text and "ticket 1 has status open" in caplog.text


# ----------------------------------------------------------------------------- search


def test_search_serves_100_a_page_and_stops_at_a_short_page(clock):
    desk = [make_thread(i, 1, status=4 if i % 5 else 2, latest=HOUR_AGO) for i in range(1, 301)]
    with fake_for(desk, clock) as fake:
        refs = list(iter_search(client_for(fake, clock), 10))
    assert {ref.id for ref in refs} == kept(desk) and len(refs) == 240
    assert fake.hits["search"] == 3
    params = query_of(fake.paths[0])
    assert params == {"query": "type:ticket status>hold", "page": "1", "per_page": "100",
                      "sort_by": "created_at", "sort_order": "desc"}
    created = [ref.created_at for ref in refs]
    assert created == sorted(created, reverse=True)


def test_search_stops_at_1000_results_and_the_fake_refuses_beyond(clock):
    with fake_for([make_thread(1, 0, status=4)], clock) as fake:
        client = client_for(fake, clock)
        with pytest.raises(UsageError, match="11 search pages is out of range") as caught:
            list(iter_search(client, 11))
        assert "--" not in str(caught.value) and "use --since for more" in cli_wording(caught.value)
        with pytest.raises(UsageError, match="1,000 results"):
            client.search_page("type:ticket", 11)
        beyond = requests.get(f"{fake.url}/api/v2/search.json", params={"query": "type:ticket", "page": 11},
                              auth=(f"{EMAIL}/token", TOKEN), timeout=5)
    assert fake.hits["search"] == 1 and beyond.status_code == 422


def test_extra_query_is_anded_and_a_refused_query_is_exit_2(clock):
    desk = [make_thread(i, 1, status=4, latest=HOUR_AGO) for i in range(1, 41)]
    with fake_for(desk, clock) as fake:
        client = client_for(fake, clock)
        refs = list(iter_search(client, 1, "tag:billing"))
        with pytest.raises(ZendeskQueryError) as caught:
            list(iter_search(client, 1, "status:archived"))
    assert {ref.id for ref in refs} == {t["ticket"]["id"] for t in desk if "billing" in t["ticket"]["tags"]}
    assert refs and caught.value.exit_code == 2 and "--" not in str(caught.value)
    assert cli_wording(caught.value).endswith(": check --query")


# ----------------------------------------------------------------------------- faults


def test_5xx_and_dropped_connections_are_retried(desk_300, clock):
    with fake_for(desk_300, clock, fail_rate=0.2, drop_rate=0.1, seed=11) as fake:
        client = client_for(fake, clock)
        refs = list(iter_incremental(client, "2020-01-01", per_page=100))
        results = list(fetch_threads(client, refs, batch_size=3, is_cached=never_cached))
    assert fake.failed > 0 and fake.dropped > 0
    assert {ref.id for ref, _ in results} == kept(desk_300)
    assert all(thread.comments == fake.comments(ref.id) for ref, thread in results)


def test_persistent_5xx_gives_up_naming_the_path(clock):
    with fake_for([make_thread(5, 1, status=4)], clock, fail_rate=1.0) as fake, pytest.raises(ZendeskError) as caught:
        client_for(fake, clock, max_tries=4).get_ticket(5)
    assert "/api/v2/tickets/5.json" in str(caught.value) and "503" in str(caught.value)
    assert TOKEN not in str(caught.value) and fake.hits["ticket"] == 4


def test_every_request_has_a_timeout(clock):
    with fake_for([make_thread(5, 1, status=4)], clock, latency=0.3) as fake, pytest.raises(ZendeskError) as caught:
        client_for(fake, clock, timeout=0.05, max_tries=2).get_ticket(5)
    assert "failed 2 times (timed out)" in str(caught.value)


# ----------------------------------------------------------------------------- pacing


def test_pacing_by_the_rate_limit_headers_meets_no_429(clock):
    desk = [make_thread(i, 2, status=4, latest=HOUR_AGO) for i in range(1, 121)]
    with fake_for(desk, clock, rate_limit=30) as fake:
        client = client_for(fake, clock, pool_size=3)
        refs = list(iter_ticket_ids(client, [t["ticket"]["id"] for t in desk]))
        results = list(fetch_threads(client, refs, batch_size=3, is_cached=never_cached))
    assert len(results) == 120 and fake.requests_total == 240
    # 240 requests at 30 a minute need eight windows: spent without a single 429, and without idling long
    # (how the workers' reads and sleeps interleave moves the virtual end by some seconds).
    assert sum(fake.throttled.values()) == 0
    assert 7 * 60 <= clock() - NOW.timestamp() <= 11 * 60


def test_rate_budget_spaces_the_last_requests_and_trusts_ratelimit_reset():
    now = [100.0]
    budget = RateBudget(60.0, reserve=1, clock=lambda: now[0])
    assert budget.reserve() == 0.0  # nothing known yet
    budget.observe(limit=50, remaining=45, reset_in=30)
    assert [budget.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    for _ in range(3):
        budget.observe(limit=50, remaining=4, reset_in=30)
    # Four left, 30 s to the reset the server announced: one request every 7.5 s.
    assert [budget.reserve() for _ in range(4)] == pytest.approx([0.0, 7.5, 15.0, 22.5])
    assert budget.reserve() == pytest.approx(30.0)  # spent: wait for the reset


def test_sliding_window_allows_10_then_waits_for_the_oldest_to_leave():
    now = [0.0]
    window = SlidingWindow(10, 60.0, clock=lambda: now[0])
    assert [window.reserve() for _ in range(10)] == [0.0] * 10
    assert window.reserve() == pytest.approx(61.2)
    window.throttled(90.0)
    assert window.reserve() == pytest.approx(90.0)


# ----------------------------------------------------------------------------- cleaning


def test_conversation_matches_the_freshdesk_cleaning_of_the_same_thread(desk_300, clock):
    """Customer = author_id equal to requester_id, public false = note, bodies cleaned by the same cleaner."""
    ids = sorted(kept(desk_300))[:60]
    by_id = {t["ticket"]["id"]: t for t in desk_300}
    with fake_for(desk_300, clock) as fake:
        client = client_for(fake, clock)
        results = list(fetch_threads(client, iter_ticket_ids(client, ids), batch_size=3, is_cached=never_cached))
    for ref, thread in results:
        conv = zendesk_conversation(thread.ticket, thread.comments, zendesk_ticket_url(fake.url, ref.id))
        expected = clean_conversation(by_id[ref.id]["ticket"], by_id[ref.id]["conversations"], "")
        assert conv["messages"] == expected["messages"]
        assert conv["subject"] == expected["subject"] and conv["status"] == by_id[ref.id]["ticket"]["status"]
        assert conv["url"] == f"{fake.url}/agent/tickets/{ref.id}"
        text = "\n".join(m["text"] for m in conv["messages"])
        for n in range(len(thread.comments)):
            # Every new sentence once, no quoted copy.
            assert len(re.findall(rf"\bmarker-{ref.id}-{n}\b", text)) == 1


def test_agent_written_first_comment_and_private_notes():
    ticket = {"id": 3, "subject": "Renewal", "status": "closed", "requester_id": 50,
              "created_at": "2026-01-01T09:00:00Z", "updated_at": "2026-01-02T09:00:00Z"}
    comments = [
        {"id": 1, "author_id": 900, "public": True, "html_body": "<p>Your renewal is due.</p>",
         "created_at": "2026-01-01T09:00:00Z"},
        {"id": 2, "author_id": 50, "public": True, "plain_body": "Please renew for two years.",
         "created_at": "2026-01-01T10:00:00Z"},
        {"id": 3, "author_id": 900, "public": False, "body": "Checked the contract.",
         "created_at": "2026-01-01T11:00:00Z"},
    ]
    conv = zendesk_conversation(ticket, comments, "https://acme.zendesk.com/agent/tickets/3")
    assert [(m["speaker"], m["private"], m["incoming"], m["text"]) for m in conv["messages"]] == [
        ("agent", False, False, "Your renewal is due."),
        ("user", False, True, "Please renew for two years."),
        ("agent", True, False, "Checked the contract."),
    ]
    assert conv["status"] == 5 and conv["ticket_id"] == 3


# ----------------------------------------------------------------------------- whole runs


@pytest.mark.slow
def test_since_run_over_1000_tickets_fetches_all_without_a_429_storm_and_a_rerun_fetches_nothing(
        desk_1000, clock, tmp_path):
    store = ConversationStore(tmp_path / "conversations")
    # A Team plan's 200 requests a minute: the comment calls need five minutes of budget.
    with fake_for(desk_1000, clock, rate_limit=200) as fake:
        client = client_for(fake, clock, pool_size=3)
        refs = iter_incremental(client, "2025-01-01")

        def is_cached(ref: ZendeskTicketRef) -> bool:
            return store.is_fresh(ref.id, ref.updated_at)

        for ref, thread in fetch_threads(client, refs, batch_size=3, is_cached=is_cached):
            assert thread is not None and thread.comments == fake.comments(ref.id)
            store.save(zendesk_conversation(thread.ticket, thread.comments, zendesk_ticket_url(fake.url, ref.id)),
                       thread.raw())
        first = dict(fake.hits)
        throttled = sum(fake.throttled.values())
        minutes = (clock() - NOW.timestamp()) / 60
        assert set(store.ticket_ids()) == kept(desk_1000) == fake.kept_ids()
        long_threads = [i for i in store.ticket_ids() if len(fake.comments(i)) > 100]
        assert len(long_threads) == 6
        assert first["comments"] == len(kept(desk_1000)) + len(long_threads)
        assert throttled <= 3
        assert client.requests_made == fake.requests_total + throttled
        print(f"\n1,000-ticket --since: {len(kept(desk_1000))} tickets, requests {first}, "
              f"429s {throttled}, {minutes:.1f} virtual minutes")

        # Re-runs over the unchanged desk: from the same date, and from the newest updated_at seen.
        fake.reset_counters()
        newest = max(store.load(i)["updated_at"] for i in store.ticket_ids())
        for since in ("2025-01-01", newest):
            again = list(fetch_threads(client, iter_incremental(client, since), batch_size=3, is_cached=is_cached))
            assert again and all(thread is None for _, thread in again)
        assert fake.hits["comments"] == 0 and fake.hits["export"] == 2

        # One ticket changes: the next run fetches exactly that one.
        changed = sorted(kept(desk_1000))[10]
        fake.update_ticket(changed, status="closed")
        clock.advance(EXPORT_LAG_SECONDS + 1)
        fetched = [ref.id for ref, thread in fetch_threads(
            client, iter_incremental(client, newest), batch_size=3, is_cached=is_cached) if thread is not None]
    assert fetched == [changed]
