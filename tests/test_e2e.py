"""End to end through `main.main`: a 1,000-ticket fake Freshdesk and an oracle fake model.

These are the acceptance checks of the fetch and classify stages: complete clean conversations within the
credit budget, incremental re-runs, and an issue DB that matches the desk's true problems.
"""

from __future__ import annotations

import csv
import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

import main
from tests.fake_freshdesk import FakeFreshdesk, make_desk
from tests.fake_openai import FakeOpenAI, candidates_in, ticket_in

# Every test here drives whole CLI runs against the fakes.
pytestmark = pytest.mark.slow

KEY = "e2e-freshdesk-key-7731"
END = datetime(2026, 11, 20, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def desk():
    return make_desk(1000, seed=11, end=END, days=150)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("LLM_API_BASE_URL", "LLM_API_KEY", "LLM_MODEL", "EMBEDDING_API_BASE_URL",
                 "BATCH_SIZE", "CONFIDENCE_THRESHOLD"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def use_freshdesk(monkeypatch, server):
    monkeypatch.setenv("FRESHDESK_DOMAIN", server.url)
    monkeypatch.setenv("FRESHDESK_API_KEY", KEY)


def searched_ids(desk: list[dict]) -> list[int]:
    """What 10 search pages of resolved/closed tickets return: the 300 newest by creation."""
    resolved = [t["ticket"] for t in desk if t["ticket"]["status"] in (4, 5)]
    resolved.sort(key=lambda t: (t["created_at"], t["id"]), reverse=True)
    return [t["id"] for t in resolved[:300]]


def markers(text: str) -> list[str]:
    return re.findall(r"marker-\d+-\d+", text)


def check_conversation(path: Path, thread: dict) -> None:
    conversation = json.loads(path.read_text())
    text = "\n".join(m["text"] for m in conversation["messages"])
    expected = [f"marker-{thread['ticket']['id']}-{n}" for n in range(len(thread["conversations"]) + 1)]
    found = markers(text)
    # Every new sentence survives exactly once: nothing lost, no quoted history repeating it.
    assert sorted(found) == sorted(expected), path.name
    assert "<div" not in text and "<br" not in text and "wrote:" not in text and "&amp;" not in text


def test_pages_fetch_only_gets_exactly_the_searched_tickets_within_budget(desk, workdir, monkeypatch, capsys):
    with FakeFreshdesk(desk, api_key=KEY, rate_limit=100_000) as server:
        use_freshdesk(monkeypatch, server)
        assert main.main(["--pages", "10", "--fetch-only", "--quiet"]) == 0
        searched = searched_ids(desk)
        first_credits = server.credits_charged
        written = sorted(int(p.stem) for p in (workdir / "conversations").glob("*.json"))
        assert len(searched) == 300 and sorted(searched) == written
        by_id = {t["ticket"]["id"]: t for t in desk}
        assert all(by_id[i]["ticket"]["status"] in (4, 5) for i in written)
        for ticket_id in written:
            check_conversation(workdir / "conversations" / f"{ticket_id}.json", by_id[ticket_id])
            assert (workdir / "conversations" / "raw" / f"{ticket_id}.json").exists()
        assert first_credits / 300 <= 2.05
        assert f"Freshdesk credits: {first_credits:g}" in capsys.readouterr().out

        server.reset_counters()
        assert main.main(["--pages", "10", "--fetch-only", "--quiet"]) == 0
        assert server.hits["conversations"] == 0
        assert server.hits["ticket"] == 0
        assert server.credits_charged == 10  # only the search pages


def test_since_backfill_fetches_every_resolved_ticket_within_budget(desk, workdir, monkeypatch):
    resolved = sorted(t["ticket"]["id"] for t in desk if t["ticket"]["status"] in (4, 5))
    with FakeFreshdesk(desk, api_key=KEY, rate_limit=100_000) as server:
        use_freshdesk(monkeypatch, server)
        assert main.main(["--since", "2026-01-01", "--fetch-only", "--quiet"]) == 0
        written = sorted(int(p.stem) for p in (workdir / "conversations").glob("*.json"))
        assert written == resolved and len(resolved) == 850
        assert server.credits_charged / len(resolved) <= 1.05
        server.reset_counters()
        assert main.main(["--since", "2026-01-01", "--fetch-only", "--quiet"]) == 0
        assert server.hits["conversations"] == 0


def oracle(low_confidence_every: int = 7):
    """A model that answers right whenever the right issue is a candidate: issues are named by subject."""

    def answer(request: dict) -> str:
        text = ticket_in(request)
        subject = re.search(r"Subject: (.*)", text).group(1).strip()
        ticket_id = int(re.search(r"marker-(\d+)-0", text).group(1))
        known = [c["issue_id"] for c in candidates_in(request) if c["category"] == subject]
        confidence = 0.55 if ticket_id % low_confidence_every == 0 else 0.92
        return json.dumps({
            "issue_id": known[0] if known else None,
            "category": subject,
            "keywords": subject.lower().split()[:3],
            "root_cause": f"root cause of {subject}",
            "resolution_steps": ["step one", "step two"],
            "confidence": confidence,
            "notes": "",
        })

    return answer


def test_pages_run_builds_an_issue_db_matching_the_true_problems(desk, workdir, monkeypatch, capsys):
    # The fake lists the model it serves, so the preflight needs no completion.
    with FakeFreshdesk(desk, api_key=KEY, rate_limit=100_000) as server, \
            FakeOpenAI(responder=oracle(), models={"oracle"}) as model:
        use_freshdesk(monkeypatch, server)
        monkeypatch.setenv("LLM_API_BASE_URL", model.base_url)
        monkeypatch.setenv("LLM_MODEL", "oracle")
        assert main.main(["--pages", "10", "--quiet"]) == 0
        db = json.loads((workdir / "output" / "silo_issues_db.json").read_text())
        subjects = {t["ticket"]["id"]: t["ticket"]["subject"] for t in desk}
        searched = searched_ids(desk)

        owners = [t for issue in db["issues"] for t in issue["ticket_ids"]]
        assert sorted(owners) == sorted(searched)  # each ticket in exactly one issue
        assert sorted(int(t) for t in db["tickets"]) == sorted(searched)

        true_problems = {subjects[t] for t in searched}
        confirmed = [i for i in db["issues"] if not i["provisional"]]
        assert len(confirmed) <= len(true_problems) * 1.03
        for issue in confirmed:
            assert {subjects[t] for t in issue["ticket_ids"]} == {issue["category"]}

        low = {t for t in searched if t % 7 == 0}
        flagged = {int(t) for t, r in db["tickets"].items() if r["flagged"]}
        assert flagged == low  # exactly the answers under 0.7
        provisional_tickets = {t for i in db["issues"] if i["provisional"] for t in i["ticket_ids"]}
        assert provisional_tickets == low  # provisional issues only for flagged decisions
        rows = list(csv.DictReader((workdir / "output" / "flagged_for_review.csv").open()))
        assert {int(r["ticket_id"]) for r in rows} == low
        assert (workdir / "output" / "report.html").exists()

        calls = model.calls
        assert main.main(["--pages", "10", "--quiet"]) == 0
        assert model.calls == calls  # nothing new: no model calls
        again = json.loads((workdir / "output" / "silo_issues_db.json").read_text())
        assert again["issues"] == db["issues"] and again["tickets"] == db["tickets"]
        out = capsys.readouterr().out
        assert "Issue DB: output/silo_issues_db.json" in out


def test_demo_runs_offline_and_says_where_results_are(workdir, monkeypatch, capsys):
    for name in ("FRESHDESK_DOMAIN", "FRESHDESK_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert main.main(["--demo", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Issue DB: output/demo_issues_db.json" in out
    assert "Report: output/demo_issues_db.report.html" in out
    db = json.loads((workdir / "output" / "demo_issues_db.json").read_text())
    assert len(db["tickets"]) == 150
    assert 12 <= len(db["issues"]) <= 30
    assert len(list((workdir / "conversations" / "demo").glob("*.json"))) == 150


def test_review_loop_round_trips_through_the_cli(workdir, monkeypatch, capsys):
    """Flag, decide in the CSV, apply, re-run: reviewed tickets are never flagged again."""
    small = make_desk(60, seed=5, end=END, days=60, open_fraction=0.0)
    with FakeFreshdesk(small, api_key=KEY) as server, \
            FakeOpenAI(responder=oracle(low_confidence_every=4), models={"oracle"}) as model:
        use_freshdesk(monkeypatch, server)
        monkeypatch.setenv("LLM_API_BASE_URL", model.base_url)
        monkeypatch.setenv("LLM_MODEL", "oracle")
        assert main.main(["--pages", "2", "--quiet"]) == 0
        csv_path = workdir / "output" / "flagged_for_review.csv"
        rows = list(csv.DictReader(csv_path.open()))
        assert rows and all(int(r["ticket_id"]) % 4 == 0 for r in rows)
        for row in rows:
            row["decision"] = "accept"
        with csv_path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        assert main.main(["--apply-review", str(csv_path), "--quiet"]) == 0
        db = json.loads((workdir / "output" / "silo_issues_db.json").read_text())
        for row in rows:
            record = db["tickets"][row["ticket_id"]]
            assert record["reviewed"] and not record["flagged"]
            if row["suggested_issue_id"]:
                assert record["issue_id"] == row["suggested_issue_id"]
        assert not [i for i in db["issues"] if i["provisional"]]
        assert db["history"][-1]["action"] == "review"
        assert list(csv.DictReader(csv_path.open())) == []

        assert main.main(["--pages", "2", "--reclassify", "--quiet"]) == 0
        assert list(csv.DictReader(csv_path.open())) == []  # reviewed decisions are kept, not re-flagged
