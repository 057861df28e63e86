"""The run lock against real processes: held while its holder lives, free the moment it is killed."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import run_lock
from errors import LockError
from run_lock import RunLock

REPO = Path(__file__).resolve().parent.parent
# Takes the lock, says so, then holds it until its stdin closes or it is killed.
HOLDER = ("import sys; from run_lock import RunLock; lock = RunLock(sys.argv[1]); lock.acquire(); "
          "print('held', flush=True); sys.stdin.read()")


@pytest.fixture
def holder(tmp_path):
    """A separate process holding the lock on tmp_path/db.lock."""
    path = tmp_path / "db.lock"
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], cwd=REPO, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline() == "held\n"
        yield process, path
    finally:
        process.kill()
        process.wait()
        process.stdin.close()
        process.stdout.close()


def test_a_lock_held_by_another_process_blocks_and_names_its_pid(holder):
    process, path = holder
    with pytest.raises(LockError) as caught:
        RunLock(path).acquire()
    assert caught.value.exit_code == 1
    assert re.fullmatch(
        rf"another run \(pid {process.pid}\) is using this DB \(it holds {re.escape(str(path))}\): wait for it "
        r"to finish, or use another DB file",
        str(caught.value),
    )
    assert path.read_text() == f"{process.pid}\n"  # the loser leaves the holder's file alone


def test_the_lock_is_free_as_soon_as_its_holder_is_killed(holder, caplog):
    process, path = holder
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert path.read_text() == f"{process.pid}\n"  # a killed holder leaves its file behind
    with caplog.at_level(logging.WARNING, logger="run_lock"), RunLock(path):
        assert path.read_text() == f"{os.getpid()}\n"
    assert f"stale lock {path} left by pid {process.pid}" in caplog.text
    assert not path.exists()


@pytest.mark.parametrize("content", ["1\n", f"{os.getppid()}\n", "not a pid", ""],
                         ids=["pid-1", "live-unrelated-pid", "garbage", "empty"])
def test_a_leftover_file_never_blocks_whatever_pid_it_names(tmp_path, content):
    # `echo 1 > the.lock` used to block every run; a live pid that is not the holder (a pid reused in a
    # container, here our parent) is no holder either.
    path = tmp_path / "db.lock"
    path.write_text(content)
    with RunLock(path):
        assert path.read_text() == f"{os.getpid()}\n"
    assert not path.exists()


def test_a_second_lock_in_the_same_process_blocks(tmp_path):
    path = tmp_path / "out" / "db.lock"
    with RunLock(path), pytest.raises(LockError, match=rf"another run \(pid {os.getpid()}\)"):
        RunLock(path).acquire()
    with RunLock(path):  # released: free again
        pass


def test_a_file_removed_between_open_and_flock_is_opened_again(tmp_path, monkeypatch):
    # The holder before us releases (and removes the file) right after our open: the flock we get is on a
    # file no other run can see, so acquire must open the path again.
    path = tmp_path / "db.lock"
    real_flock, calls = run_lock.fcntl.flock, []

    def flock_after_release(fd: int, operation: int) -> None:
        calls.append(fd)
        if len(calls) == 1:
            path.unlink()
        real_flock(fd, operation)

    monkeypatch.setattr(run_lock.fcntl, "flock", flock_after_release)
    lock = RunLock(path)
    lock.acquire()
    monkeypatch.setattr(run_lock.fcntl, "flock", real_flock)
    try:
        assert len(calls) == 2 and path.read_text() == f"{os.getpid()}\n"
        with pytest.raises(LockError):
            RunLock(path).acquire()
    finally:
        lock.release()
