"""Reliability: faults on both endpoints, a dead endpoint, SIGKILL at many moments, SIGINT and SIGTERM.

Every run is the real CLI in a subprocess against the fake Freshdesk and the oracle fake model; "the same
DB" is SPEC's: same issues, assignments and fields, ignoring timestamps, runs and token counts.
"""

from __future__ import annotations

import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conversation_utils import ConversationStore
from issue_clusterer import IssueDB
from tests.e2e_support import (
    FRESHDESK_KEY,
    Oracle,
    ThrottlingFreshdesk,
    assert_same_db,
    cli_env,
    comparable_db,
    make_e2e_desk,
    run_cli,
    start_cli,
    wait_for,
)
from tests.fake_freshdesk import FakeFreshdesk
from tests.fake_openai import FakeOpenAI

# Faults, kills and signals against real CLI processes, each run to the end and re-run.
pytestmark = pytest.mark.slow

ARGS = ["--pages", "2", "--quiet"]
LOW_CONFIDENCE = {7, 33}
DB = Path("output") / "silo_issues_db.json"
CHECKPOINT = Path("output") / "silo_issues_db.tmp.json"

# Runs main with os.fsync slowed for the temp files of one target, so a kill can land inside a write.
SLOW_WRITES = """
import os, runpy, sys, time
target, real = os.environ["SLOW_WRITE_TARGET"], os.fsync
def fsync(fd):
    try:
        name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        name = ""
    if name.startswith("." + target) and name.endswith(".part"):
        time.sleep(1.5)
    real(fd)
os.fsync = fsync
sys.argv = ["main", *sys.argv[1:]]
runpy.run_module("main", run_name="__main__", alter_sys=True)
"""


@pytest.fixture(scope="module")
def desk():
    return make_e2e_desk(60, seed=7)


@pytest.fixture(scope="module")
def reference(desk, tmp_path_factory):
    """An uninterrupted, fault-free run: its comparable DB, and its embedding cache to seed other runs."""
    threads, truth = desk
    workdir = tmp_path_factory.mktemp("reference")
    with FakeFreshdesk(threads, api_key=FRESHDESK_KEY) as freshdesk, \
            FakeOpenAI(Oracle(low_confidence=LOW_CONFIDENCE)) as llm:
        result = run_cli(ARGS, workdir, cli_env(freshdesk, llm))
    assert result.returncode == 0, result.stderr
    expected = comparable_db(workdir / DB)
    # The oracle sorted every ticket into its true topic (the two low-confidence ones wait for review).
    by_category = {i["category"]: i for i in expected["issues"] if not i["provisional"]}
    assert len(by_category) == len(set(truth.values()))
    for ticket_id, topic in truth.items():
        record = expected["tickets"][str(ticket_id)]
        assert record["flagged"] == (ticket_id in LOW_CONFIDENCE)
        if ticket_id not in LOW_CONFIDENCE:
            assert record["answer"]["category"].startswith(f"Topic {topic}:")
    return expected, workdir / ".cache"


def fresh_dir(tmp_path: Path, name: str, cache: Path) -> Path:
    """A run folder with the reference's embedding cache, so runs spend no time embedding."""
    workdir = tmp_path / name
    workdir.mkdir()
    shutil.copytree(cache, workdir / ".cache")
    return workdir


def check_files_whole(workdir: Path) -> None:
    """Every file the tool owns reads completely (temp `.part` files aside)."""
    for path in (workdir / DB, workdir / CHECKPOINT):
        if path.exists():
            IssueDB.load(path)  # parses and checks that each ticket is in exactly one issue
    store = ConversationStore(workdir / "conversations")
    for ticket_id in store.ticket_ids():
        store.load(ticket_id)
        store.load_raw(ticket_id)  # the raw answers are written first, so they are there too
    report = workdir / "output" / "report.html"
    if report.exists():
        assert report.read_text(encoding="utf-8").rstrip().endswith("</html>")


def check_complete(workdir: Path, expected: dict, truth: dict[int, int]) -> None:
    assert_same_db(workdir / DB, expected)
    db = IssueDB.load(workdir / DB)
    assert sorted(db.tickets) == sorted(truth)  # none lost
    members = [t for issue in db.issues.values() for t in issue.ticket_ids]
    assert sorted(members) == sorted(truth)  # none assigned twice
    assert not (workdir / CHECKPOINT).exists()
    check_files_whole(workdir)
    # Temp files a killed writer left behind were swept by the next run.
    assert not [p for p in workdir.rglob("*.part") if ".cache" not in p.parts]


# --------------------------------------------------------------------------- faults


def test_faults_on_both_endpoints_give_the_same_db(desk, reference, tmp_path):
    threads, truth = desk
    expected, cache = reference
    workdir = fresh_dir(tmp_path, "faulty", cache)
    # 5% 503s, 2% dropped connections, two bursts of 429s and slow answers from Freshdesk; 5% each of
    # 429, 500, malformed and slow answers from the model.
    oracle = Oracle(fault_rate=0.2, seed=5, low_confidence=LOW_CONFIDENCE)
    with ThrottlingFreshdesk(threads, api_key=FRESHDESK_KEY, fail_rate=0.05, drop_rate=0.02, latency=0.01,
                             seed=3, bursts=2, burst_length=3, burst_seed=1) as freshdesk, \
            FakeOpenAI(oracle) as llm:
        started = time.monotonic()
        result = run_cli(ARGS, workdir, cli_env(freshdesk, llm))
        elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert freshdesk.failed >= 3 and freshdesk.dropped >= 1 and freshdesk.throttled >= 6
    assert all(oracle.faults[kind] >= 1 for kind in ("429", "500", "malformed", "slow")), oracle.faults
    check_complete(workdir, expected, truth)
    assert elapsed < 90


class DeadAfter:
    """A model that answers `calls` requests, then answers 503 to everything."""

    def __init__(self, oracle: Oracle, calls: int) -> None:
        self.oracle, self.calls, self.seen = oracle, calls, 0

    def __call__(self, request: dict):
        self.seen += 1
        if self.seen > self.calls:
            return FakeOpenAI.error(503, "upstream model unavailable", headers={"retry-after-ms": "10"})
        return self.oracle(request)


def test_dead_model_endpoint_stops_with_a_message_and_a_consistent_checkpoint(desk, reference, tmp_path):
    threads, truth = desk
    expected, cache = reference
    workdir = fresh_dir(tmp_path, "dead", cache)
    with FakeFreshdesk(threads, api_key=FRESHDESK_KEY) as freshdesk:
        with FakeOpenAI(DeadAfter(Oracle(low_confidence=LOW_CONFIDENCE), 20)) as llm:
            started = time.monotonic()
            result = run_cli(ARGS, workdir, cli_env(freshdesk, llm), timeout=60)
            assert time.monotonic() - started < 45  # bounded retries, no hang
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: model endpoint ")
        assert "kept failing (HTTP 503) after 5 tries" in lines[0] and "checkpoint saved" in lines[0]
        assert not (workdir / DB).exists()
        checkpoint = IssueDB.load(workdir / CHECKPOINT)
        # The checkpoint holds the tickets decided before the endpoint died, as the clean run decided them.
        assert 5 <= len(checkpoint.tickets) < len(truth)
        for ticket_id, record in checkpoint.tickets.items():
            assert record.issue_id == expected["tickets"][str(ticket_id)]["issue_id"]
        with FakeOpenAI(Oracle(low_confidence=LOW_CONFIDENCE)) as llm:
            result = run_cli(ARGS, workdir, cli_env(freshdesk, llm))
    assert result.returncode == 0, result.stderr
    check_complete(workdir, expected, truth)


# --------------------------------------------------------------------------- SIGKILL


def _part_of(folder: Path, target: str):
    return lambda: folder.is_dir() and any(
        p.name.startswith(f".{target}") and p.name.endswith(".part") for p in folder.iterdir()
    )


def _kill_moments(workdir: Path, freshdesk: FakeFreshdesk, oracle: Oracle, tickets: int = 0) -> dict[str, tuple]:
    """name -> (condition to kill at, slowed write target or None)."""
    conversations, output = workdir / "conversations", workdir / "output"
    rng = random.Random(20260301)
    moments = {
        "first search request": (lambda: freshdesk.requests_total >= 1, None),
        "mid fetch, 30 requests": (lambda: freshdesk.requests_total >= 30, None),
        "late fetch, 90 requests": (lambda: freshdesk.requests_total >= 90, None),
        "writing a conversation": (_part_of(conversations, ""), "2"),
        "first model call": (lambda: oracle.calls >= 1, None),
        "15 model calls": (lambda: oracle.calls >= 15, None),
        "45 model calls": (lambda: oracle.calls >= 45, None),
        "checkpoint appears": (lambda: (workdir / CHECKPOINT).exists(), None),
        "writing the checkpoint": (_part_of(output, "silo_issues_db.tmp.json"), "silo_issues_db.tmp.json"),
        # The final DB is the last checkpoint, written once every ticket is decided and renamed into place.
        "writing the final DB": (lambda: oracle.calls >= tickets and _part_of(output, "silo_issues_db.tmp.json")(),
                                 "silo_issues_db.tmp.json"),
        "writing the flagged CSV": (_part_of(output, "flagged_for_review.csv"), "flagged_for_review.csv"),
    }
    for offset in sorted(rng.uniform(0.05, 0.8) for _ in range(2)):
        moments[f"{offset:.2f} s after the first request"] = (_after_first_request(freshdesk, offset), None)
    return moments


def _after_first_request(freshdesk: FakeFreshdesk, offset: float):
    first: list[float] = []

    def condition() -> bool:
        if not first and freshdesk.requests_total:
            first.append(time.monotonic())
        return bool(first) and time.monotonic() - first[0] >= offset

    return condition


def _kill_and_resume(threads: list, workdir: Path, name: str) -> subprocess.CompletedProcess:
    """Start a run, SIGKILL it at moment `name`, check its files, and run it again to the end."""
    oracle = Oracle(low_confidence=LOW_CONFIDENCE)
    with FakeFreshdesk(threads, api_key=FRESHDESK_KEY, latency=0.01) as freshdesk, FakeOpenAI(oracle) as llm:
        condition, slow_target = _kill_moments(workdir, freshdesk, oracle, len(threads))[name]
        env = cli_env(freshdesk, llm)
        if slow_target is None:
            process = start_cli(ARGS, workdir, env)
        else:
            env["SLOW_WRITE_TARGET"] = slow_target
            process = subprocess.Popen([sys.executable, "-c", SLOW_WRITES, *ARGS], cwd=workdir, env=env,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        hit = wait_for(lambda: condition() or process.poll() is not None, timeout=60)
        assert hit and process.poll() is None, f"{name}: the run ended before the kill moment"
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        check_files_whole(workdir)
        return run_cli(ARGS, workdir, cli_env(freshdesk, llm))


def test_sigkill_at_many_moments_then_rerun_gives_the_same_db(desk, reference, tmp_path):
    threads, truth = desk
    expected, cache = reference
    names = list(_kill_moments(tmp_path, FakeFreshdesk(), Oracle()))
    assert len(names) >= 10
    for number, name in enumerate(names):
        workdir = fresh_dir(tmp_path, f"kill{number}", cache)
        result = _kill_and_resume(threads, workdir, name)
        assert result.returncode == 0, f"{name}: {result.stderr}"
        check_complete(workdir, expected, truth)


# --------------------------------------------------------------------------- SIGINT / SIGTERM


def test_ctrl_c_writes_the_checkpoint_before_waiting_for_calls_in_flight(desk, reference, tmp_path):
    threads, _ = desk
    _, cache = reference
    workdir = fresh_dir(tmp_path, "held", cache)
    oracle = Oracle(gate_at=20, gate_seconds=60)  # the 20th call is held until released
    with FakeFreshdesk(threads, api_key=FRESHDESK_KEY) as freshdesk, FakeOpenAI(oracle) as llm:
        process = start_cli(["--pages", "2"], workdir, cli_env(freshdesk, llm))
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)
        reader.start()
        assert oracle.gate_reached.wait(60), process.communicate(timeout=30)
        signalled = time.time_ns()
        process.send_signal(signal.SIGINT)
        # While the held call is still out, the CLI says it waits for it, and the checkpoint is already on
        # disk: a second Ctrl-C would lose nothing.
        waiting = re.compile(r"interrupted: checkpoint written; waiting for \d+ model call\(s\) already sent")
        assert wait_for(lambda: any(waiting.search(line) for line in lines), timeout=30), lines
        assert (workdir / CHECKPOINT).stat().st_mtime_ns >= signalled - 10_000_000
        assert process.poll() is None
        oracle.release()
        process.wait(timeout=60)
        reader.join(timeout=10)
    assert process.returncode == 130, lines
    assert lines[-1].strip() == "error: interrupted: a checkpoint was written; run the same command again to resume"
    assert len(IssueDB.load(workdir / CHECKPOINT).tickets) >= 1


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_writes_a_checkpoint_and_exits_130(desk, reference, tmp_path, signum):
    threads, truth = desk
    expected, cache = reference
    workdir = fresh_dir(tmp_path, "signal", cache)
    oracle = Oracle(low_confidence=LOW_CONFIDENCE, gate_at=20)
    with FakeFreshdesk(threads, api_key=FRESHDESK_KEY) as freshdesk, FakeOpenAI(oracle) as llm:
        process = start_cli(ARGS, workdir, cli_env(freshdesk, llm))
        assert oracle.gate_reached.wait(60), process.communicate(timeout=30)
        process.send_signal(signum)
        time.sleep(0.2)
        oracle.release()
        out, err = process.communicate(timeout=60)
        assert process.returncode == 130, err
        assert err.strip().splitlines()[-1] == (
            "error: interrupted: a checkpoint was written; run the same command again to resume"
        )
        checkpoint = IssueDB.load(workdir / CHECKPOINT)
        assert 1 <= len(checkpoint.tickets) < len(truth)
        assert not (workdir / DB).exists() and not (workdir / "output" / "silo_issues_db.lock").exists()
        result = run_cli(ARGS, workdir, cli_env(freshdesk, llm))
    assert result.returncode == 0, result.stderr
    check_complete(workdir, expected, truth)

