"""One run per DB: a lock file beside it holding the owner's pid."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from types import TracebackType

from errors import LockError

log = logging.getLogger(__name__)


class RunLock:
    """Exclusive lock taken with O_EXCL; a lock left by a dead process is taken over."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._held = False

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = _read_pid(self.path)
                if holder is not None and _alive(holder):
                    raise LockError(
                        f"another run (pid {holder}) is using this DB ({self.path} exists): wait for it "
                        "to finish, or use a different --output"
                    ) from None
                log.warning("taking over a stale lock %s left by pid %s, which is not running",
                            self.path, holder)
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
                continue
            with os.fdopen(fd, "w") as handle:
                handle.write(f"{os.getpid()}\n")
            self._held = True
            return
        raise LockError(f"could not take the lock {self.path}: remove it if no run is going on")

    def release(self) -> None:
        if self._held:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self._held = False

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
