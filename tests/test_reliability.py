"""Reliability: faults on both endpoints, a dead endpoint, SIGKILL at many moments, SIGINT and SIGTERM.

Every run is the real CLI in a subprocess against the fake Freshdesk and the oracle fake model; "the same
DB" is SPEC's: same issues, assignments and fields, ignoring timestamps, runs and token counts.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections import Counter
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

# Runs main with the fsync of one target's temp file held until the process is killed, so a kill lands
# inside that write: the run announces the moment by creating HOLD_SIGNAL. With HOLD_FINAL=1 only the
# final DB is held: the last checkpoint, which save_final writes indented (periodic ones are compact).
HELD_WRITES = """
import os, runpy, sys, threading
target, final, signal_file, real = os.environ["HOLD_TARGET"], os.environ.get("HOLD_FINAL") == "1", \\
    os.environ["HOLD_SIGNAL"], os.fsync
def fsync(fd):
    try:
        path = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        path = ""
    name = os.path.basename(path)
    if name.startswith("." + target) and name.endswith(".part"):
        with open(path, "rb") as written:
            indented = written.read(2) == b"{\\n"
        if indented or not final:
            open(signal_file, "w").close()
            threading.Event().wait()  # held: the test kills the process here
    real(fd)
os.fsync = fsync
sys.argv = ["main", *sys.argv[1:]]
runpy.run_module("main", run_name="__main__", alter_sys=True)
"""


WAITING = re.compile(r"interrupted: checkpoint written; waiting for \d+ model call\(s\) already sent")


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
        result = run_cli(ARGS, workdir, cli_env(freshdesk, llm))
        asked = Counter(json.dumps(request["messages"], sort_keys=True) for request in llm.requests)
    assert result.returncode == 0, result.stderr
    assert freshdesk.failed >= 3 and freshdesk.dropped >= 1 and freshdesk.throttled >= 6
    assert all(oracle.faults[kind] >= 1 for kind in ("429", "500", "malformed", "slow")), oracle.faults
    check_complete(workdir, expected, truth)
    # Faults hit a request's first sight only: each cost one retry of it, never a storm of them.
    retried = sum(n - 1 for n in asked.values())
    assert max(asked.values()) == 2 and retried <= oracle.faults["429"] + oracle.faults["500"]


class DeadAfter:
    """A model that answers `calls` requests, then answers 503 to everything."""

    def __init__(self, oracle: Oracle, calls: int) -> None:
        self.oracle, self.calls, self.seen = oracle, calls, 0
        self._lock = threading.Lock()

    def __call__(self, request: dict):
        with self._lock:
            self.seen += 1
            seen = self.seen
        if seen > self.calls:
            return FakeOpenAI.error(503, "upstream model unavailable", headers={"retry-after-ms": "10"})
        return self.oracle(request)


def test_dead_model_endpoint_stops_with_a_message_and_a_consistent_checkpoint(desk, reference, tmp_path):
    threads, truth = desk
    expected, cache = reference
    workdir = fresh_dir(tmp_path, "dead", cache)
    with FakeFreshdesk(threads, api_key=FRESHDESK_KEY) as freshdesk:
        dead = DeadAfter(Oracle(low_confidence=LOW_CONFIDENCE), 20)
        with FakeOpenAI(dead) as llm:
            # One call at a time, so the tickets decided before the endpoint died do not depend on timing.
            result = run_cli([*ARGS, "--concurrency", "1"], workdir, cli_env(freshdesk, llm), timeout=60)
        # Bounded retries, no hang: the ticket asked when the endpoint died got its 5 tries, and no other was asked.
        assert dead.seen - dead.calls == 5
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


class Gate:
    """A FakeFreshdesk `on_request` hook that holds the `at`-th request until released."""

    def __init__(self, at: int | None) -> None:
        self.at, self.seen = at, 0
        self.reached, self._open = threading.Event(), threading.Event()
        self._lock = threading.Lock()

    def __call__(self, path: str) -> None:
        with self._lock:
            self.seen += 1
            hold = self.seen == self.at
        if hold:
            self.reached.set()
            self._open.wait(120)

    def release(self) -> None:
        self._open.set()


_MOMENT_RNG = random.Random(20260301)
# name -> (what holds the run there, its argument): the n-th Freshdesk request, the n-th model call, a
# write held inside its fsync (a conversation, the checkpoint, the final DB, the CSV), or a file appearing.
KILL_MOMENTS: dict[str, tuple[str, object]] = {
    "first search request": ("freshdesk", 1),
    "mid fetch, 30 requests": ("freshdesk", 30),
    "late fetch, 90 requests": ("freshdesk", 90),
    "writing a conversation": ("write", "2"),
    "first model call": ("model", 1),
    "15 model calls": ("model", 15),
    "45 model calls": ("model", 45),
    "checkpoint appears": ("file", CHECKPOINT),
    "writing the checkpoint": ("write", "silo_issues_db.tmp.json"),
    "writing the final DB": ("final", "silo_issues_db.tmp.json"),
    "writing the flagged CSV": ("write", "flagged_for_review.csv"),
    # Two moments drawn from the seed, in the fetch and in the classify stage.
    **{f"Freshdesk request {n}": ("freshdesk", n) for n in [_MOMENT_RNG.randint(2, 120)]},
    **{f"model call {n}": ("model", n) for n in [_MOMENT_RNG.randint(2, 59)]},
}


def _kill_and_resume(threads: list, workdir: Path, name: str) -> subprocess.CompletedProcess:
    """Start a run, hold it at moment `name`, SIGKILL it there, check its files, and run it again to the end."""
    kind, arg = KILL_MOMENTS[name]
    gate = Gate(arg if kind == "freshdesk" else None)
    oracle = Oracle(low_confidence=LOW_CONFIDENCE, gate_at=arg if kind == "model" else None, gate_seconds=120)
    held = workdir / "held-write"
    with FakeFreshdesk(threads, api_key=FRESHDESK_KEY, on_request=gate) as freshdesk, FakeOpenAI(oracle) as llm:
        env = cli_env(freshdesk, llm)
        if kind in ("write", "final"):
            env.update(HOLD_TARGET=str(arg), HOLD_FINAL="1" if kind == "final" else "0", HOLD_SIGNAL=str(held))
            process = subprocess.Popen([sys.executable, "-c", HELD_WRITES, *ARGS], cwd=workdir, env=env,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        else:
            process = start_cli(ARGS, workdir, env)
        reached = {"freshdesk": gate.reached.is_set, "model": oracle.gate_reached.is_set,
                   "write": held.exists, "final": held.exists, "file": lambda: (workdir / str(arg)).exists()}[kind]
        hit = wait_for(lambda: reached() or process.poll() is not None, timeout=60)
        assert hit and process.poll() is None, f"{name}: the run ended before the kill moment"
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        gate.release()
        oracle.release()
        held.unlink(missing_ok=True)
        check_files_whole(workdir)
        return run_cli(ARGS, workdir, cli_env(freshdesk, llm))


def test_sigkill_at_many_moments_then_rerun_gives_the_same_db(desk, reference, tmp_path):
    threads, truth = desk
    expected, cache = reference
    assert len(KILL_MOMENTS) >= 10
    for number, name in enumerate(KILL_MOMENTS):
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
        before = (workdir / CHECKPOINT).stat().st_ino if (workdir / CHECKPOINT).exists() else None
        process.send_signal(signal.SIGINT)
        # While the held call is still out, the CLI says it waits for it, and the checkpoint is already on
        # disk, written anew (an atomic write is a new inode): a second Ctrl-C would lose nothing.
        assert wait_for(lambda: any(WAITING.search(line) for line in lines), timeout=30), lines
        assert (workdir / CHECKPOINT).stat().st_ino != before
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
    oracle = Oracle(low_confidence=LOW_CONFIDENCE, gate_at=20, gate_seconds=60)
    with FakeFreshdesk(threads, api_key=FRESHDESK_KEY) as freshdesk, FakeOpenAI(oracle) as llm:
        process = start_cli(["--pages", "2"], workdir, cli_env(freshdesk, llm))
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)
        reader.start()
        assert oracle.gate_reached.wait(60), process.communicate(timeout=30)
        process.send_signal(signum)
        # The held call returns only once the CLI has taken the signal and says it waits for it.
        assert wait_for(lambda: any(WAITING.search(line) for line in lines), timeout=30), lines
        oracle.release()
        process.wait(timeout=60)
        reader.join(timeout=10)
        assert process.returncode == 130, lines
        assert lines[-1].strip() == "error: interrupted: a checkpoint was written; run the same command again to resume"
        checkpoint = IssueDB.load(workdir / CHECKPOINT)
        assert 1 <= len(checkpoint.tickets) < len(truth)
        assert not (workdir / DB).exists() and not (workdir / "output" / "silo_issues_db.lock").exists()
        result = run_cli(ARGS, workdir, cli_env(freshdesk, llm))
    assert result.returncode == 0, result.stderr
    check_complete(workdir, expected, truth)

