"""Headless Chromium for report tests: find it (never install it), take a screenshot, dump the DOM; decode PNGs."""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")
RUN_TIMEOUT = 60
_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Containers often have a tiny /dev/shm; Chromium then crashes on larger pages.
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
]


def _find() -> str | None:
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def ensure_chromium() -> str:
    """The Chromium binary's path. Installing it is the set-up's job, not a test's: a missing browser is an
    error naming the fix, never a skip, so CI cannot pass without having rendered the report."""
    found = _find()
    if found:
        return found
    raise RuntimeError(
        "chromium is not installed, and the browser test needs it: run `.ci/setup-browser` as root "
        "(or `apt-get install -y chromium`), then re-run the tests"
    )


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="silo-chromium-") as profile:
        command = [ensure_chromium(), *_FLAGS, f"--user-data-dir={profile}", *args]
        # Its own session, so a hung page (an alert, say) is killed with all of Chromium's helpers.
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True) as process:
            try:
                stdout, stderr = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
                raise RuntimeError(f"chromium did not finish within {timeout:.0f} s for {args[-1]}") from None
    if process.returncode != 0:
        raise RuntimeError(f"chromium exited {process.returncode}: {stderr.strip()[-500:]}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def screenshot(
    html_path: Path, png_path: Path, *, width: int = 1280, height: int = 2400, timeout: float = RUN_TIMEOUT
) -> None:
    """Render `html_path` in headless Chromium and save a `width`x`height` PNG at `png_path`."""
    _run(
        [f"--screenshot={Path(png_path).resolve()}", f"--window-size={width},{height}",
         Path(html_path).resolve().as_uri()],
        timeout,
    )
    if not Path(png_path).is_file():
        raise RuntimeError(f"chromium wrote no screenshot at {png_path}")


def dump_dom(html_path: Path, *, timeout: float = RUN_TIMEOUT, width: int = 1280, height: int = 900) -> str:
    """The DOM Chromium built from `html_path` in a `width`x`height` window, serialised as HTML."""
    return _run([f"--window-size={width},{height}", "--dump-dom", Path(html_path).resolve().as_uri()],
                timeout).stdout


def png_rows(png_path: Path, max_rows: int | None = None) -> tuple[int, int, int, list[bytes]]:
    """Decode an 8-bit non-interlaced PNG with zlib: (width, height, bytes per pixel, pixel rows)."""
    data = Path(png_path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{png_path} is not a PNG")
    pos, idat = 8, bytearray()
    width = height = bpp = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or interlace or color not in (0, 2, 4, 6):
                raise ValueError(f"unsupported PNG layout depth={depth} color={color} interlace={interlace}")
            bpp = {0: 1, 2: 3, 4: 2, 6: 4}[color]
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw = zlib.decompress(bytes(idat))
    stride = width * bpp
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height if max_rows is None else min(height, max_rows)):
        start = y * (stride + 1)
        row = bytearray(raw[start + 1 : start + 1 + stride])
        _unfilter(raw[start], row, previous, bpp)
        rows.append(bytes(row))
        previous = row
    return width, height, bpp, rows


def _unfilter(kind: int, row: bytearray, prev: bytearray, bpp: int) -> None:
    if kind == 0:
        return
    if kind == 2:
        row[:] = bytes((a + b) & 0xFF for a, b in zip(row, prev, strict=True))
        return
    for i in range(len(row)):
        left = row[i - bpp] if i >= bpp else 0
        if kind == 1:
            row[i] = (row[i] + left) & 0xFF
        elif kind == 3:
            row[i] = (row[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            up, corner = prev[i], prev[i - bpp] if i >= bpp else 0
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            best = left if pa <= pb and pa <= pc else (up if pb <= pc else corner)
            row[i] = (row[i] + best) & 0xFF
        else:
            raise ValueError(f"unknown PNG filter type {kind}")
