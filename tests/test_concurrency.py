"""Concurrency must not change the result: `--concurrency 8` builds the same issues as `--concurrency 1`.

A desk of 90 tickets with 8 true problems, an oracle model (the right candidate when it is offered, else
null with the problem's name) whose latency makes calls overlap, and two full runs of the CLI as
subprocesses against the same fakes.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.fake_freshdesk import FakeFreshdesk, make_thread
from tests.fake_openai import FakeOpenAI, candidates_in, ticket_in

# Two full CLI runs over a desk, at concurrency 8 and 1.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
KEY = "concurrency-key-4410"
END = datetime(2026, 6, 1, tzinfo=timezone.utc)
PROBLEMS = 8
TICKETS = 90
LATENCY = 0.05


def problem_desk() -> list[dict]:
    """90 resolved tickets spread unevenly over 8 problems (seeded), created one hour apart."""
    rng = random.Random(8)
    weights = [12, 9, 7, 5, 4, 3, 2, 1]
    topics = rng.choices(range(PROBLEMS), weights=weights, k=TICKETS)
    topics[:PROBLEMS] = range(PROBLEMS)  # every problem occurs; several appear among the first calls
    rng.shuffle(topics)
    start = END - timedelta(days=10)
    return [
        make_thread(i + 1, rng.randint(0, 4), rng=rng, created_at=start + timedelta(hours=i),
                    status=rng.choice((4, 5)), topic=topic, latest=END)
        for i, topic in enumerate(topics)
    ]


class Oracle:
    """Answers the candidate named like the ticket's subject, else null naming it; counts overlap."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0

    def __call__(self, request: dict) -> str:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.latency)
            subject = re.search(r"Subject: (.*)", ticket_in(request)).group(1).strip()
            known = [c["issue_id"] for c in candidates_in(request) if c["category"] == subject]
            return json.dumps({
                "issue_id": known[0] if known else None,
                "category": subject,
                "keywords": subject.lower().split()[:4],
                "root_cause": f"root cause of {subject.lower()}",
                "resolution_steps": ["apply the known fix"],
                "confidence": 0.93,
                "notes": "oracle",
            })
        finally:
            with self.lock:
                self.in_flight -= 1


def run_cli(workdir: Path, freshdesk_url: str, model_url: str, concurrency: int) -> dict:
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "EMBEDDING_", "FRESHDESK_"))}
    env.update(PYTHONPATH=str(ROOT), FRESHDESK_DOMAIN=freshdesk_url, FRESHDESK_API_KEY=KEY,
               LLM_API_BASE_URL=model_url, LLM_API_KEY="model-key", LLM_MODEL="oracle", BATCH_SIZE="4")
    result = subprocess.run(
        [sys.executable, "-m", "main", "--pages", "3", "--concurrency", str(concurrency), "--quiet"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr
    return json.loads((workdir / "output" / "silo_issues_db.json").read_text())


def partition(db: dict) -> set[frozenset[int]]:
    return {frozenset(issue["ticket_ids"]) for issue in db["issues"]}


def test_concurrency_8_builds_the_same_issues_as_concurrency_1(tmp_path):
    desk = problem_desk()
    subjects = {t["ticket"]["id"]: t["ticket"]["subject"] for t in desk}
    runs = {}
    overlap = {}
    with FakeFreshdesk(desk, api_key=KEY) as freshdesk:
        for concurrency in (1, 8):
            oracle = Oracle(LATENCY)
            with FakeOpenAI(responder=oracle, models={"oracle"}) as model:
                runs[concurrency] = run_cli(tmp_path / f"c{concurrency}", freshdesk.url, model.base_url,
                                            concurrency)
            overlap[concurrency] = oracle.max_in_flight

    serial, parallel = runs[1], runs[8]
    # The parallel run really overlapped its calls, and the serial one did not.
    assert overlap[1] == 1
    assert overlap[8] >= 4
    # Every ticket decided, each in exactly one issue.
    for db in (serial, parallel):
        owners = sorted(t for issue in db["issues"] for t in issue["ticket_ids"])
        assert owners == sorted(subjects)
    # The oracle is perfect, so the serial run finds exactly the true problems...
    assert len(serial["issues"]) == PROBLEMS
    assert all(len({subjects[t] for t in issue["ticket_ids"]}) == 1 for issue in serial["issues"])
    # ...and concurrency changes neither the number of issues nor which tickets share one.
    assert len(parallel["issues"]) <= len(serial["issues"]) * 1.01
    assert partition(parallel) == partition(serial)
    # Overlapping calls met issues created meanwhile, and those tickets were asked again.
    summary = parallel["runs"][-1]["summary"]
    assert summary["reasked"] >= 1
    assert serial["runs"][-1]["summary"]["reasked"] == 0
    assert summary["model_calls"] == TICKETS + summary["reasked"]
