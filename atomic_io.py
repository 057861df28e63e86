"""Atomic file writes: temp file in the same folder, fsync, rename."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from records import JSONValue

_PART_NAME = re.compile(r"^\..+\.(\d+)\.[^.]+\.part$")


def write_bytes_atomic(path: Path | str, data: bytes) -> None:
    """Replace `path` with `data` so that a reader sees the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The pid in the name lets remove_stale_parts tell a killed writer's leftovers from a live write.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".part", dir=path.parent)
    try:
        # mkstemp creates 0600; outputs such as the report are meant to be shared like any file.
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    fsync_dir(path.parent)


def remove_stale_parts(folder: Path | str) -> int:
    """Delete the temp files of writers that were killed mid-write (their pid is gone); returns the count."""
    removed = 0
    for part in Path(folder).glob(".*.part"):
        match = _PART_NAME.match(part.name)
        if match and not pid_alive(int(match.group(1))):
            with contextlib.suppress(OSError):
                part.unlink()
                removed += 1
    return removed


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (it may be another program that reused the pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # e.g. another user's process
    return True


def write_text_atomic(path: Path | str, text: str) -> None:
    # A lone surrogate (from a \uD800 escape in an API answer) cannot be UTF-8; written as \ud800 it
    # stays the same JSON string instead of failing the run.
    write_bytes_atomic(path, text.encode("utf-8", "backslashreplace"))


def dumps_deterministic(data: JSONValue, *, compact: bool = False) -> str:
    """JSON with sorted keys and a trailing newline, so equal data gives equal bytes; `compact` drops the
    indentation, for files only the tool reads."""
    if compact:
        return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_json_atomic(path: Path | str, data: JSONValue) -> None:
    write_text_atomic(path, dumps_deterministic(data))


def fsync_dir(directory: Path) -> None:
    """Make renames in `directory` durable: they are on disk only once the directory entry is."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
