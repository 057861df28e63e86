"""Durability checked on outcomes: the final save's order, resume without repeated model calls, torn files.

- A crash at every filesystem step of `save_final` leaves a state the next run continues from correctly,
  and the check catches the other order (final DB first, checkpoint removed after).
- A run stopped by a dead model endpoint resumes from its checkpoint, and the resumed run asks the
  model nothing about the tickets the checkpoint holds (counted per ticket at the fake).
- A DB or checkpoint torn mid-file is refused with one line naming it and left as it is; a writer killed
  (SIGKILL) at any step of `write_bytes_atomic` leaves the old file or the new one, never a mix.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

import main
from atomic_io import dumps_deterministic, remove_stale_parts, write_text_atomic
from conversation_utils import EMBEDDED_TEXT, ConversationStore, clean_conversation
from issue_clusterer import IssueDB, SideFiles, load_for_run, save_final
from records import Answer, Outcome, RunRecord, RunSummary
from tests.e2e_support import Oracle, make_e2e_desk, ticket_id_of
from tests.fake_openai import FakeOpenAI, ticket_in

REPO = Path(__file__).resolve().parent.parent
MODEL = "fake-embed"
STAMP = "2026-11-01T00:00:00Z"

# --------------------------------------------------------------------------- the final save's order


class Killed(BaseException):
    """The process dies here: nothing after this step happens (not an OSError, so nothing handles it)."""


def db_with(tickets: int, *, finished: bool = False) -> IssueDB:
    db = IssueDB(embedding_model=MODEL, embedding_text=EMBEDDED_TEXT)
    for ticket_id in range(1, tickets + 1):
        answer = Answer(None if ticket_id <= 2 else "ISS-0001", f"Problem {min(ticket_id, 2)}", ["kw"], "cause",
                        ["step"], 0.9)
        db.apply(Outcome(ticket_id, answer), threshold=0.7, updated_at=STAMP, now=STAMP)
    if finished:
        db.runs.append(RunRecord(STAMP, STAMP, RunSummary(started_at=STAMP, finished_at=STAMP)))
    return db


def crash_at(step: int, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make the `step`-th filesystem call (replace, rename, unlink, fsync) raise Killed; returns the calls seen."""
    seen: list[str] = []

    def hooked(name: str, real: Callable[..., object]) -> Callable[..., object]:
        def call(*args: object, **kwargs: object) -> object:
            seen.append(name)
            if len(seen) == step:
                raise Killed(name)
            return real(*args, **kwargs)

        return call

    for name in ("replace", "rename", "unlink", "fsync"):
        monkeypatch.setattr(os, name, hooked(name, getattr(os, name)))
    return seen


def check_every_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      finish: Callable[[IssueDB, SideFiles], None]) -> int:
    """Crash `finish` at each of its filesystem steps in turn; after each, the next run must continue from
    the finished DB, or resume the unfinished run from its checkpoint, never resume beside a newer DB."""
    final, partial, previous = db_with(6, finished=True), db_with(4), db_with(2, finished=True)
    step = 0
    while True:
        step += 1
        files = SideFiles.for_db(tmp_path / f"crash{step}" / "silo_issues_db.json")
        previous.save(files.db)
        partial.save(files.checkpoint, compact=True)
        with monkeypatch.context() as patch:
            seen = crash_at(step, patch)
            try:
                finish(final, files)
            except Killed:
                pass
            else:
                assert len(seen) < step
                return step - 1
        db, resumed = load_for_run(files, MODEL)
        state = dumps_deterministic(db.to_dict())
        assert state in (dumps_deterministic(final.to_dict()), dumps_deterministic(partial.to_dict())), seen
        if state == dumps_deterministic(partial.to_dict()):
            # Resuming the unfinished run is right only while the finished DB is not on disk yet.
            assert resumed and files.db.read_text(encoding="utf-8") == dumps_deterministic(previous.to_dict()), \
                f"crash at {seen[-1]} (step {step}): the next run resumes a stale checkpoint beside the finished DB"


def test_a_crash_at_any_step_of_the_final_save_leaves_a_state_to_continue_from(tmp_path, monkeypatch):
    steps = check_every_crash(tmp_path, monkeypatch, save_final)
    assert steps >= 3  # the checkpoint's fsync, its rename, the rename over the DB, at least


def test_the_order_matters_final_db_first_would_resume_a_stale_checkpoint(tmp_path, monkeypatch):
    def db_first(db: IssueDB, files: SideFiles) -> None:
        write_text_atomic(files.db, dumps_deterministic(db.to_dict()))
        files.checkpoint.unlink()

    with pytest.raises(AssertionError, match="resumes a stale checkpoint beside the finished DB"):
        check_every_crash(tmp_path, monkeypatch, db_first)


# --------------------------------------------------------------------------- runs in-process


@pytest.fixture
def desk(tmp_path, monkeypatch):
    """A work folder with 12 stored conversations; the settings point at fakes started by each test."""
    for name in list(os.environ):
        if name.startswith(("FRESHDESK_", "LLM_", "EMBEDDING_")) or name in ("BATCH_SIZE", "CONFIDENCE_THRESHOLD"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    threads, truth = make_e2e_desk(12, seed=4)
    store = ConversationStore(tmp_path / "conversations")
    for thread in threads:
        store.save(clean_conversation(thread["ticket"], thread["conversations"], ""), thread)
    return tmp_path, truth


def point_at(llm: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"LLM_API_BASE_URL": llm.base_url, "LLM_MODEL": "fake-model",
                        "EMBEDDING_API_BASE_URL": llm.base_url, "EMBEDDING_MODEL": MODEL}.items():
        monkeypatch.setenv(name, value)


class DiesAfter:
    """Answers like the oracle for `calls` requests, then 503 for good; counts requests per ticket."""

    def __init__(self, calls: int | None = None) -> None:
        self.oracle, self.calls, self.per_ticket = Oracle(), calls, Counter()

    def __call__(self, request: dict) -> object:
        self.per_ticket[ticket_id_of(ticket_in(request))] += 1
        if self.calls is not None and sum(self.per_ticket.values()) > self.calls:
            return FakeOpenAI.error(503, "upstream model unavailable", headers={"retry-after-ms": "1"})
        return self.oracle(request)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main.main(list(argv))
    return code, capsys.readouterr().err


def test_a_resumed_run_asks_nothing_about_the_tickets_its_checkpoint_holds(desk, capsys, monkeypatch):
    root, truth = desk
    files = SideFiles.for_db(root / "output" / "silo_issues_db.json")
    dying = DiesAfter(calls=5)
    with FakeOpenAI(dying) as llm:
        point_at(llm, monkeypatch)
        code, err = run(capsys, "--from-cache", "--concurrency", "1")
    assert code == 1 and "checkpoint saved" in err
    checkpointed = IssueDB.load(files.checkpoint)
    assert 1 <= len(checkpointed.tickets) < len(truth) and not files.db.exists()

    healthy = DiesAfter()
    with FakeOpenAI(healthy) as llm:
        point_at(llm, monkeypatch)
        code, err = run(capsys, "--from-cache", "--concurrency", "1")
    assert code == 0, err
    db = IssueDB.load(files.db)
    assert sorted(db.tickets) == sorted(truth) and not files.checkpoint.exists()
    asked = {ticket for ticket, calls in healthy.per_ticket.items() if calls and ticket is not None}
    assert asked == set(truth) - set(checkpointed.tickets)  # every other ticket, and none the checkpoint holds
    for ticket_id, record in checkpointed.tickets.items():
        assert db.tickets[ticket_id].issue_id == record.issue_id and db.tickets[ticket_id].answer == record.answer


@pytest.mark.parametrize("torn", ["checkpoint", "db"])
def test_a_torn_file_is_refused_in_one_line_and_left_as_it_is(desk, capsys, monkeypatch, torn):
    root, _ = desk
    files = SideFiles.for_db(root / "output" / "silo_issues_db.json")
    with FakeOpenAI(DiesAfter()) as llm:
        point_at(llm, monkeypatch)
        assert run(capsys, "--from-cache")[0] == 0
        path = files.checkpoint if torn == "checkpoint" else files.db
        if torn == "checkpoint":
            files.db.replace(path)  # a run killed mid-way leaves its checkpoint; this one was cut mid-write
        whole = path.read_bytes()
        path.write_bytes(whole[: len(whole) // 2])
        calls = llm.calls
        code, err = run(capsys, "--from-cache", "--reclassify")
        assert llm.calls == calls  # refused before any model call
    assert code == 1
    assert err.count("\n") == 1 and err.startswith(f"error: cannot read the issue DB {path.relative_to(root)} (")
    assert "the file was left as it is" in err
    assert path.read_bytes() == whole[: len(whole) // 2]
    assert (torn == "db") == files.db.exists()


# --------------------------------------------------------------------------- a writer killed mid-write

_KILLED_WRITER = """
import os, signal, sys
import atomic_io
point = sys.argv[2]
real_fsync, real_replace, real_fdopen = os.fsync, os.replace, os.fdopen
fsyncs = []
def die():
    os.kill(os.getpid(), signal.SIGKILL)
def fsync(fd):
    fsyncs.append(fd)
    if point == f"fsync{len(fsyncs)}":
        die()
    real_fsync(fd)
def replace(src, dst):
    if point == "replace":
        die()
    real_replace(src, dst)
class HalfWriter:
    def __init__(self, handle):
        self.handle = handle
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        return self.handle.__exit__(*exc)
    def write(self, data):
        self.handle.write(data[: len(data) // 2])
        self.handle.flush()
        die()
def fdopen(fd, *args, **kwargs):
    handle = real_fdopen(fd, *args, **kwargs)
    return HalfWriter(handle) if point == "write" else handle
os.fsync, os.replace, os.fdopen = fsync, replace, fdopen
atomic_io.write_bytes_atomic(sys.argv[1], b"new " * 50000)
"""


@pytest.mark.parametrize(("point", "expected"), [
    ("write", "old"),      # half the data is in the temp file
    ("fsync1", "old"),     # all of it, not yet durable
    ("replace", "old"),    # durable, not yet renamed
    ("fsync2", "new"),     # renamed; the folder's entry not yet durable
])
def test_a_writer_killed_at_any_step_leaves_the_old_file_or_the_new_one(tmp_path, point, expected):
    target = tmp_path / "silo_issues_db.json"
    old, new = b"old " * 40000, b"new " * 50000
    target.write_bytes(old)
    killed = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(target), point], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True)
    assert killed.returncode == -9, killed.stderr
    assert target.read_bytes() == {"old": old, "new": new}[expected]
    parts = list(tmp_path.glob(".*.part"))
    assert len(parts) == (1 if expected == "old" else 0)
    # The next run sweeps the dead writer's temp file, whatever it holds.
    assert remove_stale_parts(tmp_path) == len(parts) and not list(tmp_path.glob(".*.part"))
