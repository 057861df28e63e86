"""The weekly workflow: --since last, --query windows, --dry-run, lock and SIGTERM, trends, --reclean.

Runs go through main.main in-process (or a subprocess for signals) against FakeFreshdesk and FakeOpenAI
over real sockets; embeddings come from the fake's /v1/embeddings so no model loads.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

import main
from conversation_utils import ConversationStore, clean_conversation
from data_fetcher import FreshdeskClient, iter_search_since
from errors import FreshdeskQueryError
from issue_clusterer import IssueDB
from tests.e2e_support import wait_for
from tests.fake_freshdesk import FakeFreshdesk, make_desk, make_thread
from tests.fake_openai import FakeOpenAI, candidates_in, ticket_in

REPO = Path(__file__).resolve().parent.parent
NOW = datetime.now(timezone.utc).replace(microsecond=0)
SINCE = (NOW - timedelta(days=90)).date().isoformat()


def topic_responder(request: dict) -> str:
    """Join the candidate named like the ticket's subject, else start an issue named by it."""
    subject = re.search(r"Subject: (.*)", ticket_in(request)).group(1).strip()
    match = next((c["issue_id"] for c in candidates_in(request) if c["category"] == subject), None)
    return json.dumps({"issue_id": match, "category": subject, "keywords": subject.lower().split()[:3],
                       "root_cause": f"Cause of {subject}.", "resolution_steps": [f"Fix {subject}."],
                       "confidence": 0.95, "notes": ""})


@pytest.fixture
def fakes(tmp_path, monkeypatch):
    desk = make_desk(24, seed=5, days=60, end=NOW)
    with FakeFreshdesk(desk) as freshdesk, FakeOpenAI(topic_responder) as llm:
        for name in list(os.environ):
            if name.startswith(("FRESHDESK_", "LLM_", "EMBEDDING_")) or name in ("BATCH_SIZE", "CONFIDENCE_THRESHOLD"):
                monkeypatch.delenv(name)
        env = {"FRESHDESK_DOMAIN": freshdesk.url, "FRESHDESK_API_KEY": "test-key",
               "LLM_API_BASE_URL": llm.base_url, "LLM_MODEL": "fake-model",
               "EMBEDDING_API_BASE_URL": llm.base_url, "EMBEDDING_MODEL": "fake-embed"}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        yield freshdesk, llm, env


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def resolved_since(freshdesk: FakeFreshdesk, since: str) -> list[int]:
    return [i for i in freshdesk.resolved_ids()
            if freshdesk._threads[i]["ticket"]["updated_at"][:10] >= since]


# ---- 1. --since last -------------------------------------------------------------------------------


def test_since_last_without_db_is_a_usage_error(fakes, capsys):
    freshdesk, _, _ = fakes
    code, _, err = run(capsys, "--since", "last")
    assert code == 2
    assert "--since YYYY-MM-DD" in err and "--pages" in err
    assert freshdesk.requests_total == 0


@pytest.mark.slow
def test_weekly_rerun_spends_only_listing_credits_and_no_model_calls(fakes, capsys):
    freshdesk, llm, _ = fakes
    expected = resolved_since(freshdesk, SINCE)
    code, _, err = run(capsys, "--since", SINCE)
    assert code == 0, err
    db = IssueDB.load(Path("output/silo_issues_db.json"))
    assert sorted(db.tickets) == expected
    assert llm.calls >= len(expected)

    freshdesk.reset_counters()
    calls_before = llm.calls
    code, out, err = run(capsys, "--since", "last")
    assert code == 0, err
    assert freshdesk.hits["conversations"] == 0 and freshdesk.hits["ticket"] == 0
    assert freshdesk.hits["list"] >= 1
    assert llm.calls == calls_before
    assert "0 classified" in out

    # An open ticket gets resolved: only it is fetched and classified.
    opened = next(i for i, t in freshdesk._threads.items() if t["ticket"]["status"] in (2, 3))
    freshdesk.update_ticket(opened, status=4, updated_at=NOW.strftime("%Y-%m-%dT%H:%M:%SZ"))
    freshdesk.reset_counters()
    code, _, err = run(capsys, "--since", "last")
    assert code == 0, err
    assert freshdesk.hits["conversations"] == 1
    assert llm.calls == calls_before + 1
    assert opened in IssueDB.load(Path("output/silo_issues_db.json")).tickets


# ---- 2. --query ----------------------------------------------------------------------------------


def test_search_since_splits_windows_under_the_cap_in_update_order():
    end = datetime(2026, 3, 1, tzinfo=timezone.utc)
    desk = make_desk(420, seed=11, open_fraction=0.1, days=40, end=end)
    # Tickets on window edges: two on the same day and one at midnight.
    for thread, stamp in zip(desk[:3], ("2026-02-10T00:00:00Z", "2026-02-10T23:59:59Z", "2026-02-11T00:00:00Z"),
                             strict=True):
        thread["ticket"]["updated_at"] = stamp
    with FakeFreshdesk(desk) as freshdesk, FreshdeskClient(freshdesk.url, "test-key") as client:
        refs = list(iter_search_since(client, "2026-01-20", "type:Problem", today=date(2026, 3, 1)))
        searches = freshdesk.hits["search"]
    expected = {t["ticket"]["id"] for t in desk
                if t["ticket"]["status"] in (4, 5) and t["ticket"]["updated_at"] >= "2026-01-20"}
    ids = [r.id for r in refs]
    assert len(expected) > 300, "the desk must overflow one search"
    assert len(ids) == len(set(ids)) and set(ids) == expected
    stamps = [r.updated_at for r in refs]
    assert stamps == sorted(stamps)
    assert searches > 11  # at least two windows of pages


def test_search_since_timestamp_drops_earlier_updates_of_the_same_day():
    desk = [make_thread(1, 1, created_at=datetime(2026, 2, 1, tzinfo=timezone.utc)),
            make_thread(2, 1, created_at=datetime(2026, 2, 1, tzinfo=timezone.utc))]
    desk[0]["ticket"]["updated_at"] = "2026-02-03T08:00:00Z"
    desk[1]["ticket"]["updated_at"] = "2026-02-03T12:00:00Z"
    with FakeFreshdesk(desk) as freshdesk, FreshdeskClient(freshdesk.url, "test-key") as client:
        refs = list(iter_search_since(client, "2026-02-03T10:00:00Z", "", today=date(2026, 2, 4)))
    assert [r.id for r in refs] == [2]


def test_query_scopes_pages_and_since_and_bad_clauses_exit_2(fakes, capsys):
    freshdesk, _, _ = fakes
    group = [i for i in freshdesk.resolved_ids() if freshdesk._threads[i]["ticket"]["group_id"] == 12]
    code, out, err = run(capsys, "--pages", "1", "--query", "group_id:12", "--fetch-only")
    assert code == 0, err
    assert sorted(ConversationStore(Path("conversations")).ticket_ids()) == sorted(group)
    assert any("group_id%3A12" in p for p in freshdesk.paths if p.startswith("/api/v2/search"))

    code, out, err = run(capsys, "--since", SINCE, "--query", "group_id:12", "--dry-run", "--json")
    assert code == 0, err
    assert json.loads(out)["listed"] == len([i for i in group if i in resolved_since(freshdesk, SINCE)])

    for source in (["--pages", "1"], ["--since", SINCE]):
        code, _, err = run(capsys, *source, "--query", "colour:blue", "--fetch-only")
        assert code == FreshdeskQueryError.exit_code == 2
        assert "colour is not a searchable field" in err


# ---- 3. --dry-run ---------------------------------------------------------------------------------


def tree(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime for p in root.rglob("*")}


def contents(root: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file's bytes, inode and mtime: a rewrite with the same bytes still shows."""
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_ino, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_prompt_debug_prints_what_it_sends_and_writes_nothing(fakes, capsys, tmp_path):
    freshdesk, llm, _ = fakes
    code, _, err = run(capsys, "--since", SINCE)
    assert code == 0, err
    before = contents(tmp_path)
    ticket_id = freshdesk.resolved_ids()[0]
    calls = len(llm.requests)

    code, out, err = run(capsys, "--ticket-ids", str(ticket_id), "--prompt-debug")
    assert code == 0, err
    assert contents(tmp_path) == before  # no DB, checkpoint, CSV, report or conversation written
    sent = llm.requests[calls]["messages"]
    assert len(llm.requests) == calls + 1
    printed = out.split("----- user message -----\n")[1].split("\n----- raw answer 1 -----")[0]
    assert printed == sent[1]["content"]
    # Candidates come from the DB as a run would offer them.
    assert candidates_in(llm.requests[calls])
    assert f"===== ticket {ticket_id} =====" in out and "----- parsed -----" in out


@pytest.mark.slow
def test_dry_run_estimates_and_writes_nothing(fakes, capsys, monkeypatch, tmp_path):
    freshdesk, llm, _ = fakes
    monkeypatch.setenv("LLM_PRICE_INPUT", "2.5")
    monkeypatch.setenv("LLM_PRICE_OUTPUT", "10")
    expected = resolved_since(freshdesk, SINCE)
    code, out, err = run(capsys, "--since", SINCE, "--dry-run", "--json")
    assert code == 0, err
    estimate = json.loads(out)
    assert tree(tmp_path) == {}
    assert freshdesk.hits["conversations"] == 0 and llm.calls == 0
    assert estimate["to_fetch"] == estimate["to_classify"] == estimate["listed"] == len(expected)
    assert estimate["model_calls"] == len(expected)
    assert estimate["listing_credits"] == freshdesk.credits_charged > 0
    assert estimate["fetch_credits"] == len(expected)  # the list carries descriptions: conversations only
    assert estimate["cost"] == pytest.approx(
        (estimate["prompt_tokens"] * 2.5 + estimate["completion_tokens"] * 10) / 1e6, abs=1e-4)

    code, _, err = run(capsys, "--since", SINCE)
    assert code == 0, err
    before = tree(tmp_path)
    code, out, err = run(capsys, "--since", "last", "--dry-run")
    assert code == 0, err
    assert "0 to fetch" in out and "0 to classify" in out and "about 0 calls" in out
    assert tree(tmp_path) == before

    # From the cache, a reclassify estimate is close to what the run then measures.
    code, out, err = run(capsys, "--from-cache", "--reclassify", "--dry-run", "--json")
    estimate = json.loads(out)
    calls = llm.calls
    code, _, err = run(capsys, "--from-cache", "--reclassify")
    assert code == 0, err
    summary = IssueDB.load(Path("output/silo_issues_db.json")).runs[-1].summary.to_dict()
    assert estimate["to_fetch"] == 0 and estimate["to_classify"] == summary["tickets_classified"]
    # Re-asks (answers racing on a young DB) vary with timing, so the estimate is a range, not a count.
    assert estimate["model_calls"] == pytest.approx(llm.calls - calls, rel=0.4)
    assert estimate["prompt_tokens"] == pytest.approx(summary["prompt_tokens"], rel=0.4)
    assert estimate["completion_tokens"] == pytest.approx(summary["completion_tokens"], rel=0.4)


def test_dry_run_without_llm_settings_and_with_a_changed_ticket(fakes, capsys, monkeypatch):
    freshdesk, _, _ = fakes
    code, _, err = run(capsys, "--pages", "1", "--fetch-only")
    assert code == 0, err
    changed = freshdesk.resolved_ids()[0]
    freshdesk.update_ticket(changed, updated_at=NOW.strftime("%Y-%m-%dT%H:%M:%SZ"))
    monkeypatch.delenv("LLM_API_BASE_URL")
    code, out, err = run(capsys, "--pages", "1", "--dry-run", "--json")
    assert code == 0, err
    estimate = json.loads(out)
    assert estimate["to_fetch"] == 1 and estimate["fetch_credits"] == 2  # search lacks the description
    assert estimate["to_classify"] == estimate["listed"] == len(freshdesk.resolved_ids())


# ---- 4. lock and SIGTERM ---------------------------------------------------------------------------


def seed_store(root: Path, n: int) -> list[int]:
    store = ConversationStore(root / "conversations")
    rng = random.Random(3)
    for ticket_id in range(1, n + 1):
        thread = make_thread(ticket_id, 2, rng=rng, topic=ticket_id % 3)
        conversation = clean_conversation(thread["ticket"], thread["conversations"], "")
        store.save(conversation, thread)
    return list(range(1, n + 1))


def test_second_run_exits_1_naming_the_holder(fakes, capsys, tmp_path):
    lock = tmp_path / "output" / "silo_issues_db.lock"
    # A process that really holds the lock: a pid written into the file blocks nothing by itself.
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from run_lock import RunLock; lock = RunLock(sys.argv[1]); lock.acquire(); "
         "print('held', flush=True); sys.stdin.read()", str(lock)],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        seed_store(tmp_path, 2)
        code, _, err = run(capsys, "--from-cache")
        assert code == 1
        assert f"pid {holder.pid}" in err and err.strip().endswith("wait for it to finish, or use a different --db")
        assert lock.read_text().strip() == str(holder.pid)
    finally:
        holder.kill()
        holder.communicate()


def test_stale_lock_is_taken_over_with_a_warning(fakes, capsys, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = tmp_path / "output" / "silo_issues_db.lock"
    lock.parent.mkdir()
    lock.write_text(f"{dead.pid}\n")
    ids = seed_store(tmp_path, 3)
    code, _, err = run(capsys, "--from-cache")
    assert code == 0, err
    assert "stale lock" in err and str(dead.pid) in err
    assert not lock.exists()
    assert sorted(IssueDB.load(tmp_path / "output" / "silo_issues_db.json").tickets) == ids


@pytest.mark.slow
def test_sigterm_checkpoints_exits_130_and_the_rerun_resumes(tmp_path):
    ids = seed_store(tmp_path, 12)
    fourth_call, release = threading.Event(), threading.Event()
    numbers = itertools.count(1)

    def held(request: dict) -> str:
        # The fourth call is held until the run has taken the signal, so the signal lands mid-run.
        if next(numbers) == 4:
            fourth_call.set()
            release.wait(60)
        return topic_responder(request)

    with FakeOpenAI(held) as llm:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FRESHDESK_", "LLM_", "EMBEDDING_"))}
        env.update(PYTHONPATH=str(REPO), LLM_API_BASE_URL=llm.base_url, LLM_MODEL="fake-model",
                   EMBEDDING_API_BASE_URL=llm.base_url, EMBEDDING_MODEL="fake-embed")
        command = [sys.executable, "-m", "main", "--from-cache", "--concurrency", "1"]
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)
        reader.start()
        assert fourth_call.wait(60), process.communicate(timeout=30)
        process.send_signal(signal.SIGTERM)
        waiting = "interrupted: checkpoint written; waiting for 1 model call(s) already sent"
        # The held call is answered only once the run has written its checkpoint and says it waits for it.
        assert wait_for(lambda: any(waiting in line for line in lines) or process.poll() is not None, timeout=30)
        release.set()
        process.wait(timeout=30)
        reader.join(timeout=10)
        err = "".join(lines)
        assert process.returncode == 130, err
        assert waiting in err
        checkpoint = IssueDB.load(tmp_path / "output" / "silo_issues_db.tmp.json")
        assert 1 <= len(checkpoint.tickets) < len(ids)
        assert not (tmp_path / "output" / "silo_issues_db.lock").exists()
        assert not (tmp_path / "output" / "silo_issues_db.json").exists()

        calls = llm.calls
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        db = IssueDB.load(tmp_path / "output" / "silo_issues_db.json")
        assert sorted(db.tickets) == ids
        # Only the tickets the checkpoint lacked went to the model again.
        assert llm.calls - calls == len(ids) - len(checkpoint.tickets)
        assert not (tmp_path / "output" / "silo_issues_db.tmp.json").exists()


# ---- 5. trends --------------------------------------------------------------------------------------


def test_trends_new_and_grown_issues_in_summary_and_report(fakes, capsys):
    freshdesk, _, _ = fakes
    first = (NOW - timedelta(days=60)).date().isoformat()
    all_ids = freshdesk.resolved_ids()
    # The first run sees the older half; the second the rest, which joins or starts issues.
    cut = sorted(freshdesk._threads[i]["ticket"]["updated_at"] for i in all_ids)[len(all_ids) // 2]
    for i in all_ids:
        if freshdesk._threads[i]["ticket"]["updated_at"] >= cut:
            freshdesk._threads[i]["ticket"]["status"] = 2
    code, _, err = run(capsys, "--since", first)
    assert code == 0, err
    before = IssueDB.load(Path("output/silo_issues_db.json"))
    for i in all_ids:
        freshdesk._threads[i]["ticket"]["status"] = 4
    code, out, err = run(capsys, "--since", "last")
    assert code == 0, err
    db = IssueDB.load(Path("output/silo_issues_db.json"))
    summary = db.runs[-1].summary.to_dict()
    new_ids = sorted(set(db.issues) - set(before.issues))
    assert sorted(summary["new_issue_ids"]) == new_ids
    grown = {i: len(db.issues[i].ticket_ids) - len(before.issues[i].ticket_ids) for i in before.issues}
    grown = {i: n for i, n in grown.items() if n}
    # Issues new in this run that gained more tickets also count as grown; the older ones must match.
    reported = {i: n for i, n in summary["grown_issue_ids"]}
    assert grown and {i: n for i, n in reported.items() if i in before.issues} == grown
    assert set(reported) - set(grown) <= set(new_ids)
    for issue in db.issues.values():
        stamps = [db.tickets[t].updated_at for t in issue.ticket_ids]
        assert (issue.first_seen, issue.last_seen) == (min(stamps), max(stamps))

    report = Path("output/report.html").read_text(encoding="utf-8")
    new_block = report[report.index("New in this run"):report.index("Growing fastest")]
    grown_block = report[report.index("Grew in this run"):report.index("</details>", report.index("Grew in this run"))]
    # The first screen caps the new issues; the rest are counted.
    assert all(i in new_block for i in sorted(new_ids)[:8])
    assert len(new_ids) <= 8 or f"and {len(new_ids) - 8} more" in new_block
    top = max(grown, key=lambda i: (grown[i], i))
    assert f"+{grown[top]} " in grown_block and top in grown_block
    # Each issue's weekly counts over 8 weeks add up to its tickets updated in those weeks.
    article = report[report.index(f'id="{top}"'):]
    weeks = re.search(r'aria-label="Tickets per week, oldest first: ([\d, ]+)"', article).group(1)
    counts = [int(n) for n in weeks.split(",")]
    recent = [t for t in db.issues[top].ticket_ids
              if db.tickets[t].updated_at >= (NOW - timedelta(weeks=8)).strftime("%Y-%m-%dT%H:%M:%SZ")]
    assert len(counts) == 8 and sum(counts) == len(recent)


# ---- 7. --reclean -----------------------------------------------------------------------------------


def test_reclean_rebuilds_from_raw_without_freshdesk_settings(tmp_path, capsys, monkeypatch):
    for name in list(os.environ):
        if name.startswith(("FRESHDESK_", "LLM_", "EMBEDDING_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    ids = seed_store(tmp_path, 4)
    store = ConversationStore(tmp_path / "conversations")
    stale = store.load(1)
    stale["messages"] = [{"speaker": "user", "text": "old cleaning output", "private": False, "incoming": True,
                          "created_at": ""}]
    stale["url"] = "https://acme.freshdesk.com/a/tickets/1"
    store.path(1).write_text(json.dumps(stale))
    raw_before = {i: store.raw_path(i).read_bytes() for i in ids}
    store.raw_path(4).write_text("{not json")
    code, out, err = run(capsys, "--reclean")
    assert code == 0, err
    assert "Re-cleaned 3 conversations" in out and "1 raw file unusable" in out
    assert "conversations/raw/4.json" in err
    raw = store.load_raw(1)
    assert store.load(1) == clean_conversation(raw["ticket"], raw["conversations"],
                                               "https://acme.freshdesk.com/a/tickets/1")
    assert "old cleaning output" not in store.path(1).read_text()
    assert all(store.raw_path(i).read_bytes() == raw_before[i] for i in ids[:3])


def test_flag_combinations_are_usage_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for argv in (["--json"], ["--similar", "x", "--dry-run"], ["--reclean", "--query", "tag:x"],
                 ["--dry-run", "--demo"], ["--similar", "x", "--similar-to", "3"]):
        code = None
        with pytest.raises(SystemExit) as exit_info:
            code = main.main(argv)
            raise SystemExit(code)
        assert exit_info.value.code == 2, argv
        assert "error:" in capsys.readouterr().err
