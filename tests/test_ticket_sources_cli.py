"""Zendesk and export files as ticket sources, through the command line (`main.main` in-process).

The fake Zendesk (tests/fake_zendesk.py) and the fake model (tests/fake_openai.py, which also serves the
embeddings, so no model loads) answer over real sockets on 127.0.0.1. The Zendesk client runs on the
test's virtual clock (the one thing replaced: time), so minutes of rate limiting pass without waiting.
"""

from __future__ import annotations

import csv
import json
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fake_freshdesk import make_desk, make_thread
from fake_openai import FakeOpenAI, candidates_in, ticket_in
from fake_zendesk import EXPORT_LAG_SECONDS, FakeZendesk, VirtualClock, export_records
from test_ticket_import import freshdesk_csv

import main
import zendesk_client
from conversation_utils import ConversationStore
from issue_clusterer import IssueDB, SideFiles
from run_lock import RunLock
from tests.e2e_support import comparable_db as _comparable_db

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
HOUR_AGO = NOW - timedelta(hours=1)
EMAIL = "agent@acme.test"
TOKEN = "zd-cli-token-5d21"
ZENDESK_DIR = Path("conversations") / "zendesk"
FILE_DIR = Path("conversations") / "file"
_SETTINGS = ("FRESHDESK_", "LLM_", "EMBEDDING_", "ZENDESK_", "TICKET_SOURCE", "BATCH_SIZE", "CONFIDENCE_THRESHOLD")


def long_threads(desk: list[dict], where: dict[int, int]) -> list[dict]:
    """The desk with the tickets at the given indexes replaced by threads of that many comments."""
    desk = list(desk)
    for index, n in where.items():
        old = desk[index]["ticket"]
        created = datetime.fromisoformat(old["created_at"].replace("Z", "+00:00"))
        desk[index] = make_thread(old["id"], n - 1, status=5 if n % 2 else 4, created_at=created, latest=HOUR_AGO)
    return desk


@pytest.fixture(scope="module")
def desk_1000() -> list[dict]:
    """1,000 tickets over half a year, six of them with 120 to 170 comments."""
    return long_threads(make_desk(1000, seed=7, end=HOUR_AGO),
                        dict(zip((40, 200, 333, 512, 700, 901), (120, 135, 149, 150, 160, 170), strict=True)))


@pytest.fixture(scope="module")
def desk_small() -> list[dict]:
    """40 tickets, one with 150 comments (two comment pages): the fast lane's desk."""
    return long_threads(make_desk(40, seed=9, end=HOUR_AGO), {17: 150})


@pytest.fixture(scope="module")
def desk_plain() -> list[dict]:
    """40 tickets of up to 26 comments: the fast lane's desk for the file tests."""
    return make_desk(40, seed=9, end=HOUR_AGO)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(NOW.timestamp())


def subject_responder(request: dict) -> str:
    """A model that knows each ticket's problem by its subject: the candidate of that name, else a new issue.
    Tickets whose marker ends in 7 get confidence 0.5, so some decisions are flagged."""
    text = ticket_in(request)
    subject = re.search(r"Subject: (.*)", text).group(1).strip()
    ticket_id = int(re.search(r"marker-(\d+)-0", text).group(1))
    match = next((c["issue_id"] for c in candidates_in(request) if c["category"] == subject), None)
    return json.dumps({"issue_id": match, "category": subject, "keywords": subject.lower().split()[:3],
                       "root_cause": f"Cause of {subject}.", "resolution_steps": [f"Fix {subject}."],
                       "confidence": 0.5 if ticket_id % 10 == 7 else 0.95, "notes": ""})


@pytest.fixture
def cli(tmp_path, monkeypatch, clock):
    """A work folder with no settings but the test's; the fake model for embeddings (and chat when asked);
    Zendesk clients on the test's virtual clock."""
    for name in list(os.environ):
        if name.startswith(_SETTINGS):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)

    class OnTheTestClock(zendesk_client.ZendeskClient):
        def __init__(self, *args, **kwargs):
            kwargs.update(clock=clock, sleep=clock.sleep, wall_clock=clock, backoff_factor=0.01)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(zendesk_client, "ZendeskClient", OnTheTestClock)
    with FakeOpenAI(subject_responder) as model:
        monkeypatch.setenv("EMBEDDING_API_BASE_URL", model.base_url)
        monkeypatch.setenv("EMBEDDING_MODEL", "fake-embed")
        yield model


def use_zendesk(monkeypatch, fake: FakeZendesk) -> None:
    monkeypatch.setenv("ZENDESK_SUBDOMAIN", fake.url)
    monkeypatch.setenv("ZENDESK_EMAIL", EMAIL)
    monkeypatch.setenv("ZENDESK_API_TOKEN", TOKEN)


def use_model(monkeypatch, model: FakeOpenAI) -> None:
    monkeypatch.setenv("LLM_API_BASE_URL", model.base_url)
    monkeypatch.setenv("LLM_MODEL", "fake-model")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def kept(desk: list[dict]) -> list[int]:
    return sorted(t["ticket"]["id"] for t in desk if t["ticket"]["status"] in (4, 5))


def comment_requests(fake: FakeZendesk, ids: list[int]) -> int:
    return sum(-(-len(fake.comments(i)) // 100) for i in ids)


def check_complete(ticket_id: int, fake: FakeZendesk) -> None:
    """Every comment's new sentence is in the stored conversation once; the raw answers are Zendesk's."""
    conversation = json.loads((ZENDESK_DIR / f"{ticket_id}.json").read_text())
    text = "\n".join(m["text"] for m in conversation["messages"])
    found = sorted(re.findall(rf"marker-{ticket_id}-\d+", text))
    assert found == sorted(f"marker-{ticket_id}-{n}" for n in range(len(fake.comments(ticket_id)))), ticket_id
    assert conversation["url"] == f"{fake.url}/agent/tickets/{ticket_id}"
    raw = json.loads((ZENDESK_DIR / "raw" / f"{ticket_id}.json").read_text())
    assert raw["source"] == "zendesk" and raw["comments"] == fake.comments(ticket_id)


def comparable_db(path: Path) -> dict:
    """The DB up to timestamps (e2e_support's, and the times consolidation's suggestions were made)."""
    data = _comparable_db(path)
    data["merge_suggestions"] = [{k: v for k, v in s.items() if k != "at"} for s in data.get("merge_suggestions", [])]
    return data


def db_at(path: str = "output/silo_issues_db.json") -> IssueDB:
    return IssueDB.load(Path(path))


# ----------------------------------------------------------------------------- Zendesk --since, re-runs


def since_run_and_reruns(desk: list[dict], fake: FakeZendesk, clock: VirtualClock, capsys) -> None:
    expected = kept(desk)
    code, out, err = run(capsys, "--source", "zendesk", "--since", "2025-06-01", "--classifier", "embedding")
    assert code == 0, err
    assert sorted(db_at().tickets) == expected
    for ticket_id in expected:
        check_complete(ticket_id, fake)
    assert not list(Path("conversations").glob("*.json"))  # Freshdesk's folder stays empty
    assert fake.hits["export"] == 1 and fake.hits["comments"] == comment_requests(fake, expected)
    assert sum(fake.throttled.values()) == 0  # paced by the headers: no 429 at all
    assert f"Zendesk requests: {fake.requests_total}" in out and "Freshdesk" not in out
    summary = db_at().runs[-1].summary
    assert summary.source == "zendesk" and summary.credits == fake.requests_total

    # The weekly run over an unchanged desk: one export request, nothing fetched, nothing decided.
    for since in ("last", "2025-06-01"):
        fake.reset_counters()
        code, out, err = run(capsys, "--source", "zendesk", "--since", since, "--classifier", "embedding")
        assert code == 0, err
        assert dict(fake.hits) == {"export": 1}, since
        assert " 0 fetched" in out and "0 classified" in out

    # A ticket is solved and another changes: exactly those two are fetched; only the new one is decided.
    opened = next(t["ticket"]["id"] for t in desk if t["ticket"]["status"] in (2, 3))
    changed = expected[3]
    fake.update_ticket(opened, status="solved")
    fake.update_ticket(changed, subject="Renamed after the run")
    clock.advance(EXPORT_LAG_SECONDS + 1)  # the export leaves out the last minute's changes
    fake.reset_counters()
    code, out, err = run(capsys, "--since", "last", "--source", "zendesk", "--classifier", "embedding")
    assert code == 0, err
    assert fake.hits["comments"] == comment_requests(fake, [opened, changed])
    assert "2 fetched" in out and "1 classified" in out
    assert opened in db_at().tickets
    assert json.loads((ZENDESK_DIR / f"{changed}.json").read_text())["subject"] == "Renamed after the run"


@pytest.mark.slow
def test_zendesk_since_run_stores_every_thread_whole_and_reruns_fetch_nothing(desk_small, cli, clock,
                                                                               monkeypatch, capsys):
    with FakeZendesk(desk_small, email=EMAIL, token=TOKEN, clock=clock, rate_limit=40) as fake:
        use_zendesk(monkeypatch, fake)
        since_run_and_reruns(desk_small, fake, clock, capsys)


@pytest.mark.slow
def test_zendesk_since_run_over_1000_tickets_without_a_429_storm(desk_1000, cli, clock, monkeypatch, capsys):
    # A Team plan's 200 requests a minute: the comments take about five minutes of budget.
    with FakeZendesk(desk_1000, email=EMAIL, token=TOKEN, clock=clock, rate_limit=200) as fake:
        use_zendesk(monkeypatch, fake)
        since_run_and_reruns(desk_1000, fake, clock, capsys)
    assert len([i for i in kept(desk_1000) if len(fake.comments(i)) > 100]) == 6


def test_zendesk_pages_with_query_fetch_only_and_ticket_ids(desk_plain, cli, clock, monkeypatch, capsys):
    tagged = next(t["ticket"] for t in desk_plain if t["ticket"]["status"] in (4, 5) and t["ticket"]["tags"])
    tag = tagged["tags"][0]
    with FakeZendesk(desk_plain, email=EMAIL, token=TOKEN, clock=clock) as fake:
        use_zendesk(monkeypatch, fake)
        monkeypatch.setenv("TICKET_SOURCE", "zendesk")  # the setting picks the source when --source is absent
        code, out, err = run(capsys, "--pages", "1", "--query", f"tags:{tag}", "--fetch-only")
        assert code == 0, err
        with_tag = {t["ticket"]["id"] for t in desk_plain if tag in t["ticket"]["tags"]} & set(kept(desk_plain))
        assert {int(p.stem) for p in ZENDESK_DIR.glob("*.json")} == with_tag
        assert f"tags:{tag}" in fake.paths[0].replace("%3A", ":") and fake.hits["search"] == 1
        assert "Zendesk requests:" in out and not Path("output/silo_issues_db.json").exists()

        fake.reset_counters()
        ids = [kept(desk_plain)[5], kept(desk_plain)[2]]
        code, out, err = run(capsys, "--ticket-ids", ",".join(map(str, ids)), "--classifier", "embedding")
        assert code == 0, err
        assert list(db_at().tickets) == sorted(ids) and fake.hits["ticket"] == 2


def test_zendesk_dry_run_counts_requests_and_writes_nothing(desk_plain, cli, clock, monkeypatch, capsys, tmp_path):
    with FakeZendesk(desk_plain, email=EMAIL, token=TOKEN, clock=clock) as fake:
        use_zendesk(monkeypatch, fake)
        code, out, err = run(capsys, "--source", "zendesk", "--since", "2025-06-01", "--dry-run", "--json",
                             "--classifier", "embedding")
        assert code == 0, err
        estimate = json.loads(out)
        assert estimate["listed"] == estimate["to_fetch"] == estimate["to_classify"] == len(kept(desk_plain))
        assert estimate["listing_credits"] == fake.requests_total == 1 and dict(fake.hits) == {"export": 1}
        assert estimate["fetch_credits"] == len(kept(desk_plain))  # a comments request a ticket
        assert not Path("output").exists() and not Path("conversations").exists()
        code, out, err = run(capsys, "--source", "zendesk", "--since", "2025-06-01", "--dry-run")
        assert code == 0, err
        assert "Zendesk requests: 1 spent listing" in out and "Freshdesk" not in out


def test_zendesk_settings_are_checked_before_any_request(desk_plain, cli, clock, monkeypatch, capsys):
    with FakeZendesk(desk_plain, email=EMAIL, token=TOKEN, clock=clock) as fake:
        code, _, err = run(capsys, "--source", "zendesk", "--since", "2026-01-01", "--classifier", "embedding")
        assert code == 2 and "ZENDESK_SUBDOMAIN is not set" in err and err.count("\n") == 1
        monkeypatch.setenv("TICKET_SOURCE", "zendesk")
        monkeypatch.setenv("ZENDESK_SUBDOMAIN", fake.url)
        code, _, err = run(capsys, "--pages", "1", "--classifier", "embedding")
        assert code == 2 and "ZENDESK_EMAIL is not set" in err
        monkeypatch.setenv("ZENDESK_EMAIL", EMAIL)
        code, _, err = run(capsys, "--pages", "1", "--fetch-only")
        assert code == 2 and "ZENDESK_API_TOKEN is not set" in err
        assert fake.requests_total == 0 and fake.unauthorized == 0
        # --query only where the source can search with it.
        monkeypatch.setenv("ZENDESK_API_TOKEN", TOKEN)
        code, _, err = run(capsys, "--since", "2026-01-01", "--query", "tags:vip", "--classifier", "embedding")
        assert code == 2 and "use --pages N --query" in err and err.count("\n") == 1
        # A wrong token: one line, exit 2, the token never shown.
        monkeypatch.setenv("ZENDESK_API_TOKEN", "not-the-token")
        code, _, err = run(capsys, "--since", "2026-01-01", "--classifier", "embedding")
        assert code == 2 and "(401)" in err and "not-the-token" not in err
        assert fake.requests_total == 0 and fake.unauthorized == 1


def test_lock_holds_for_zendesk_runs_too(desk_plain, cli, clock, monkeypatch, capsys):
    with FakeZendesk(desk_plain, email=EMAIL, token=TOKEN, clock=clock) as fake:
        use_zendesk(monkeypatch, fake)
        with RunLock(SideFiles.for_db(Path("output/silo_issues_db.json")).lock):
            code, _, err = run(capsys, "--source", "zendesk", "--since", "2026-01-01", "--classifier", "embedding")
        assert code == 1 and str(os.getpid()) in err
        assert fake.hits["comments"] == 0


# ----------------------------------------------------------------------------- one DB, one desk


@pytest.mark.slow
def test_a_db_keeps_to_its_desk_and_review_follows_it(desk_plain, cli, clock, monkeypatch, capsys, tmp_path):
    with FakeZendesk(desk_plain, email=EMAIL, token=TOKEN, clock=clock) as fake:
        use_zendesk(monkeypatch, fake)
        monkeypatch.setenv("FRESHDESK_DOMAIN", "http://127.0.0.1:9")  # nothing may be sent there
        monkeypatch.setenv("FRESHDESK_API_KEY", "fd-key")
        code, _, err = run(capsys, "--source", "zendesk", "--since", "2025-06-01", "--classifier", "embedding")
        assert code == 0, err
        fake.reset_counters()
        for argv in (["--since", "last"], ["--source", "freshdesk", "--pages", "1"]):
            code, _, err = run(capsys, *argv, "--classifier", "embedding")
            assert code == 2 and "holds Zendesk tickets" in err and "--source zendesk" in err, argv
            assert "--db" in err and err.count("\n") == 1
        export = tmp_path / "export.json"
        export.write_text(json.dumps(export_records(desk_plain[:5])))
        code, _, err = run(capsys, "--from-file", str(export), "--classifier", "embedding")
        assert code == 2 and "holds Zendesk tickets" in err
        assert fake.requests_total == 0

        # Commands on the stored conversations follow the DB to conversations/zendesk/, whatever TICKET_SOURCE.
        code, out, err = run(capsys, "--similar-to", str(kept(desk_plain)[0]))
        assert code == 0, err
        assert f"{fake.url}/agent/tickets/" in out  # past tickets link to Zendesk
        code, out, err = run(capsys, "--from-cache", "--reclassify", "--classifier", "embedding")
        assert code == 0, err
        assert f"{len(kept(desk_plain))} from cache" in out and "Zendesk requests: 0" in out
        report = Path("output/report.html").read_text()
        assert f"{fake.url}/agent/tickets/{kept(desk_plain)[0]}" in report and "/a/tickets/" not in report

        # A Freshdesk DB of its own beside it is fine.
        code, _, err = run(capsys, "--from-cache", "--output", "output/fd.json", "--source", "freshdesk",
                           "--classifier", "embedding")
        assert code == 2 and "no conversations in conversations" in err  # Freshdesk's folder is empty


@pytest.mark.slow
def test_reclean_rebuilds_zendesk_and_file_conversations_from_their_raw_answers(desk_plain, cli, clock,
                                                                                 monkeypatch, capsys, tmp_path):
    with FakeZendesk(desk_plain, email=EMAIL, token=TOKEN, clock=clock) as fake:
        use_zendesk(monkeypatch, fake)
        code, _, err = run(capsys, "--source", "zendesk", "--since", "2025-06-01", "--fetch-only")
        assert code == 0, err
    store = ConversationStore(ZENDESK_DIR)
    before = {i: store.load(i) for i in store.ticket_ids()}
    target = kept(desk_plain)[1]
    store.path(target).write_text(json.dumps({**before[target], "messages": []}))
    code, out, err = run(capsys, "--reclean", "--source", "zendesk")
    assert code == 0, err
    assert f"Re-cleaned {len(before)} conversations in conversations/zendesk" in out
    assert {i: store.load(i) for i in store.ticket_ids()} == before

    # An export file's DB: --reclean follows it to conversations/file/.
    export = tmp_path / "threads.csv"
    export.write_text(freshdesk_csv(desk_plain, thread=True), encoding="utf-8")
    code, _, err = run(capsys, "--from-file", str(export), "--output", "output/files.json",
                       "--classifier", "embedding")
    assert code == 0, err
    files = ConversationStore(FILE_DIR)
    imported = {i: files.load(i) for i in files.ticket_ids()}
    assert sorted(imported) == kept(desk_plain)
    files.path(target).write_text(json.dumps({**imported[target], "messages": []}))
    code, out, err = run(capsys, "--reclean", "--output", "output/files.json")
    assert code == 0, err
    assert f"Re-cleaned {len(imported)} conversations in conversations/file" in out
    assert {i: files.load(i) for i in files.ticket_ids()} == imported


# ----------------------------------------------------------------------------- export files


def write_exports(desk: list[dict], folder: Path) -> tuple[Path, Path]:
    """The desk as Zendesk's JSON export (JSONL, one ticket with its comments a line) and as a CSV with reply
    columns; both list the tickets newest first, as exports do, not in the order decisions follow."""
    newest_first = sorted(desk, key=lambda t: t["ticket"]["updated_at"], reverse=True)
    jsonl = folder / "zendesk-export.json"
    jsonl.write_text("\n".join(json.dumps(r) for r in export_records(newest_first)) + "\n", encoding="utf-8")
    table = folder / "tickets.csv"
    table.write_text(freshdesk_csv(newest_first, thread=True), encoding="utf-8", newline="")
    return jsonl, table


def same_issues_three_ways(desk: list[dict], fake: FakeZendesk, tmp_path: Path, monkeypatch, capsys,
                           classifier: str) -> dict[str, Path]:
    """The API run, the JSON export and the CSV export, each in a work folder of its own; their DBs."""
    jsonl, table = write_exports(desk, tmp_path)
    dbs = {}
    for name, argv in (("api", ["--source", "zendesk", "--since", "2025-06-01"]),
                       ("json", ["--from-file", str(jsonl)]), ("csv", ["--from-file", str(table)])):
        work = tmp_path / name
        work.mkdir()
        monkeypatch.chdir(work)
        code, out, err = run(capsys, *argv, "--classifier", classifier)
        assert code == 0, err
        assert ("Zendesk requests" in out) == (name == "api") and "Freshdesk credits" not in out
        dbs[name] = work / "output" / "silo_issues_db.json"
        # The report links the desk's page of each ticket, whichever way it came in.
        assert f'href="{fake.url}/agent/tickets/{kept(desk)[0]}"' in (work / "output" / "report.html").read_text()
    reference = comparable_db(dbs["api"])
    assert sorted(int(t) for t in reference["tickets"]) == kept(desk)
    assert comparable_db(dbs["json"]) == reference
    assert comparable_db(dbs["csv"]) == reference
    return dbs


@pytest.mark.slow
def test_json_and_csv_exports_build_the_api_runs_issues_offline(desk_plain, cli, clock, monkeypatch, capsys,
                                                                 tmp_path):
    with FakeZendesk(desk_plain, email=EMAIL, token=TOKEN, clock=clock) as fake:
        use_zendesk(monkeypatch, fake)  # the CSV's links come from the configured desk
        same_issues_three_ways(desk_plain, fake, tmp_path, monkeypatch, capsys, "embedding")


@pytest.mark.slow
def test_exports_of_the_1000_ticket_desk_build_the_api_runs_issues_offline(desk_1000, cli, clock, monkeypatch,
                                                                          capsys, tmp_path):
    with FakeZendesk(desk_1000, email=EMAIL, token=TOKEN, clock=clock, rate_limit=200) as fake:
        use_zendesk(monkeypatch, fake)
        same_issues_three_ways(desk_1000, fake, tmp_path, monkeypatch, capsys, "embedding")


@pytest.mark.slow
def test_exports_build_the_api_runs_issues_with_the_model_and_link_the_desk(desk_plain, cli, clock,
                                                                             monkeypatch, capsys, tmp_path):
    desk = list(desk_plain)
    # A customer writes personal data: it is stored as written and never sent to the model.
    first = next(i for i, t in enumerate(desk) if t["ticket"]["status"] in (4, 5))
    ticket = dict(desk[first]["ticket"])
    for key in ("description", "description_text"):
        ticket[key] = ticket[key].replace("applies here.", "applies here. Call me on +44 20 7946 0958 or "
                                          "mail jana.novak@example.org.")
    desk[first] = {**desk[first], "ticket": ticket}
    with FakeZendesk(desk, email=EMAIL, token=TOKEN, clock=clock) as fake:
        use_zendesk(monkeypatch, fake)
        use_model(monkeypatch, cli)
        dbs = same_issues_three_ways(desk, fake, tmp_path, monkeypatch, capsys, "llm")
    sent = json.dumps(cli.requests)
    assert "7946 0958" not in sent and "jana.novak@example.org" not in sent and "[PHONE]" in sent
    for name, db in dbs.items():
        stored = (db.parent.parent / ("conversations/zendesk" if name == "api" else "conversations/file")
                  / f"{ticket['id']}.json").read_text()
        assert "+44 20 7946 0958" in stored, name
        rows = list(csv.DictReader((db.parent / "flagged_for_review.csv").open(encoding="utf-8")))
        assert rows and all(r["ticket_url"] == f"{fake.url}/agent/tickets/{r['ticket_id']}" for r in rows), name
        assert f'href="{fake.url}/agent/tickets/{ticket["id"]}"' in (db.parent / "report.html").read_text()


@pytest.mark.slow
def test_rerunning_a_file_decides_nothing_new_and_restores_changed_tickets(desk_plain, cli, monkeypatch, capsys,
                                                                         tmp_path):
    jsonl, _ = write_exports(desk_plain, tmp_path)
    code, out, err = run(capsys, "--from-file", str(jsonl), "--classifier", "embedding")
    assert code == 0, err
    decided = comparable_db(Path("output/silo_issues_db.json"))
    assert "Time:" in out and "credits" not in out and "requests" not in out
    code, out, err = run(capsys, "--from-file", str(jsonl), "--classifier", "embedding")
    assert code == 0, err
    assert f"{len(kept(desk_plain))} from cache" in out and " 0 fetched" in out and "0 classified" in out
    assert comparable_db(Path("output/silo_issues_db.json")) == decided

    # A later export: one ticket changed, one newly solved. --since last reads only what is newer.
    newest = db_at().newest_updated_at()
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    at_newest = sum(r["updated_at"] == newest and r["status"] in ("solved", "closed") for r in records)
    changed = next(r for r in reversed(records) if r["status"] in ("solved", "closed"))  # the oldest
    changed.update(subject="Changed in the export", updated_at="2026-03-01T11:30:00Z")
    opened = next(r for r in records if r["status"] in ("open", "pending"))
    opened.update(status="solved", updated_at="2026-03-01T11:40:00Z")
    jsonl.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    code, out, err = run(capsys, "--from-file", str(jsonl), "--since", "last", "--classifier", "embedding")
    assert code == 0, err
    # The tickets updated when the last one the DB saw was come again, from the cache.
    assert f"Tickets: {at_newest + 2} seen, 2 fetched, {at_newest} from cache" in out and "1 classified" in out
    assert json.loads((FILE_DIR / f"{changed['id']}.json").read_text())["subject"] == "Changed in the export"
    assert opened["id"] in db_at().tickets

    # --ticket-ids picks from the file, in the order given; --dry-run lists without requests.
    code, out, err = run(capsys, "--from-file", str(jsonl), "--ticket-ids", f"{opened['id']},{changed['id']}",
                         "--dry-run")
    assert code == 0, err
    assert "2 tickets listed" in out and "0 to fetch" in out and "credits" not in out


def test_bad_rows_are_one_warning_each_and_the_rest_is_processed(cli, capsys, tmp_path):
    table = tmp_path / "cases.csv"
    table.write_text("Case Number;Problem;Status;Last update time\n"
                     "101;The invoice PDF shows the wrong VAT rate;Solved;2026-02-01 10:00\n"
                     ";No id on this row;Solved;2026-02-01 10:05\n"
                     "103;The export button does nothing;Closed;not a date\n"
                     "104;Password reset mail never arrives;Resolved;2026-02-02 09:00\n", encoding="utf-8")
    code, out, err = run(capsys, "--from-file", str(table), "--map", "Case Number=id", "--map", "Problem=description",
                         "--classifier", "embedding")
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 2 and "line 3" in warnings[0] and "line 4" in warnings[1]
    assert sorted(db_at().tickets) == [101, 104]


@pytest.mark.parametrize(("name", "content", "argv", "says"), [
    ("missing.csv", None, [], "does not exist"),
    ("folder", "dir", [], "is a folder"),
    ("empty.csv", "", [], "is empty"),
    ("latin1.csv", "Ticket ID,Subject,Description,Status,Created time\n1,Caf\xe9,x,Resolved,2026-01-01\n".encode(
        "latin-1"), [], "is not UTF-8"),
    ("notes.txt", "just some notes\nwithout columns\n", [], "is not a table"),
    ("broken.json", '{"tickets": [{"id": 1,', [], "is not valid JSON"),
    ("columns.csv", "Name,Email\nJana,jana@example.org\n", [], "has no column for id"),
    ("tickets.csv", "Ticket ID,Subject,Description,Status,Created time\n1,a,b,Resolved,2026-01-01\n",
     ["--map", "Case=id"], "does not have"),
    ("tickets.csv", "Ticket ID,Subject,Description,Status,Created time\n1,a,b,Resolved,2026-01-01\n",
     ["--map", "Case"], "is not COLUMN=FIELD"),
    ("rows.csv", "Ticket ID,Subject,Description,Status,Created time\n,a,b,Resolved,2026-01-01\n", [],
     "holds no usable ticket"),
])
def test_bad_files_are_one_line_and_exit_2_with_nothing_written(name, content, argv, says, cli, capsys, tmp_path):
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    code, out, err = run(capsys, "--from-file", str(path), *argv, "--classifier", "embedding")
    errors = [line for line in err.splitlines() if not line.startswith("WARNING")]
    assert code == 2 and len(errors) == 1 and errors[0].startswith("error: ") and says in errors[0], err
    assert out == "" and not Path("output/silo_issues_db.json").exists() and not FILE_DIR.exists()


@pytest.mark.parametrize(("argv", "says"), [
    (["--query", "tag:x"], "an export file cannot be searched"),
    (["--pages", "2"], "--pages counts helpdesk search pages"),
    (["--source", "zendesk"], "give one of them"),
    (["--from-cache"], "--from-file takes tickets for a run"),
])
def test_file_source_refuses_what_a_file_cannot_do(argv, says, cli, capsys, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("Ticket ID,Subject,Description,Status,Created time\n1,a,b,Resolved,2026-01-01\n")
    code, _, err = run(capsys, "--from-file", str(path), *argv)
    assert code == 2 and says in err and err.count("\n") == 1


def test_map_needs_a_file(cli, capsys):
    code, _, err = run(capsys, "--map", "Case=id", "--from-cache")
    assert code == 2 and "use it with --from-file" in err
