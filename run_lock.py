"""One run per DB: an flock on a file beside it, which holds the owner's pid for the message."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path
from types import TracebackType

from errors import LockError

log = logging.getLogger(__name__)

# A file replaced under us again and again (see acquire) means something else manages this path.
_ATTEMPTS = 5


class RunLock:
    """Exclusive, non-blocking flock: the kernel drops it when its holder exits or is killed, so a lock file
    left behind, whatever pid it names, never blocks a run."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(_ATTEMPTS):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_pid(fd)
                os.close(fd)
                who = f"another run (pid {holder})" if holder is not None else "another run"
                raise LockError(f"{who} is using this DB (it holds {self.path})",
                                "wait for it to finish, or use another DB file") from None
            if not _is_current(fd, self.path):
                # The holder released (and removed) the file between our open and our flock: this lock is
                # on a file no other run can find. Open the path again.
                os.close(fd)
                continue
            previous = _read_pid(fd)
            if previous is not None:
                log.warning("taking over a stale lock %s left by pid %s, which no longer holds it",
                            self.path, previous)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            self._fd = fd
            return
        raise LockError(f"could not take the lock {self.path}: remove it if no run is going on")

    def release(self) -> None:
        if self._fd is None:
            return
        # Removed while still locked, so a run that opened the old file sees it is gone and opens anew.
        with contextlib.suppress(FileNotFoundError):
            if _is_current(self._fd, self.path):
                self.path.unlink()
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode("ascii").strip())
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _is_current(fd: int, path: Path) -> bool:
    """Whether `fd` is still the file at `path`."""
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (opened.st_dev, opened.st_ino) == (on_disk.st_dev, on_disk.st_ino)
