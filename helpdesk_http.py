"""What the helpdesk HTTP clients share: the retrying GET and the reading of a listed ticket.

`data_fetcher.py` (Freshdesk) and `zendesk_client.py` (Zendesk) each own their pacing and their
endpoints; the retry loop (pacing, Retry-After on 429, jittered exponential backoff), the reading of a
failed connection and the error wording they share live here, worded for the `Helpdesk` at hand.
"""

from __future__ import annotations

import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

import backoff
import requests
from urllib3.exceptions import NameResolutionError

from errors import SiloError
from records import JSONValue

# A refused connection on the first request is retried only briefly: the URL is probably wrong.
FIRST_CONTACT_TRIES = 3

Status = TypeVar("Status")
Client = TypeVar("Client", bound="HelpdeskClient")


class Transient(Exception):
    """An exchange worth retrying (5xx, dropped connection, timeout)."""

    def __init__(self, reason: str, kind: str = "transient"):
        super().__init__(reason)
        self.kind = kind  # "transient", "refused" or "dns"


@dataclass(frozen=True)
class Helpdesk:
    """What a helpdesk's error messages name: the service, the setting of its host, its error classes."""

    name: str  # "Freshdesk"
    host_setting: str  # "FRESHDESK_DOMAIN"
    error: type[SiloError]
    unreachable: type[SiloError]
    not_found: type[SiloError]
    error_details: Callable[[requests.Response], str]


class Pacing(Protocol):
    """A budget the requests of one endpoint draw on."""

    def reserve(self) -> float: ...

    def release(self) -> None: ...

    def throttled(self, retry_after: float) -> None: ...


def listed_ticket_fields(
    item: JSONValue, where: str, helpdesk: Helpdesk, status: Callable[[JSONValue], Status]
) -> tuple[int, Status, str, str, str]:
    """A listed ticket's id, status (read by `status`), updated_at, subject and created_at.

    Raises the helpdesk's error when id, status or updated_at is missing or unreadable."""
    try:
        return (
            int(item["id"]),
            status(item["status"]),
            str(item["updated_at"]),
            str(item.get("subject") or ""),
            str(item.get("created_at") or ""),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise helpdesk.error(
            f"{helpdesk.name} returned a ticket without id/status/updated_at from {where}",
            f"check {helpdesk.host_setting} points at the {helpdesk.name} API",
        ) from exc


def header_number(headers: Mapping[str, str], *names: str) -> float | None:
    """The first of `names` whose header is a finite number."""
    for name in names:
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw)
        except ValueError:
            continue
        if math.isfinite(value):
            return value
    return None


def connection_kind(exc: BaseException) -> str:
    """'dns' for a name that does not resolve, 'refused' for a refused connection, else 'transient'."""
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        item = stack.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, (NameResolutionError, socket.gaierror)):
            return "dns"
        if isinstance(item, ConnectionRefusedError):
            return "refused"
        stack.extend([item.__cause__, item.__context__, getattr(item, "reason", None), *item.args])
    return "transient"


def same_origin(base_url: str, url: str) -> bool:
    """True when `url` is on the host of `base_url`, so the Basic-auth header may follow it."""
    ours, theirs = urlsplit(base_url), urlsplit(url)
    return (ours.scheme, ours.netloc) == (theirs.scheme, theirs.netloc)


class RetryingGetter:
    """GETs through one requests.Session with the retry rules both helpdesk clients follow.

    `get` returns any answer that is not a 429 or a 5xx; the caller checks auth and reads it."""

    def __init__(
        self,
        helpdesk: Helpdesk,
        session: requests.Session,
        origin: str,
        *,
        log: logging.Logger,
        timeout: float,
        max_tries: int,
        max_throttle_waits: int,
        window_seconds: float,
        retry_after_headers: tuple[str, ...] = ("Retry-After",),
        follow_redirects: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        backoff_factor: float = 1.0,
        backoff_max: float = 60.0,
    ):
        self.helpdesk = helpdesk
        self.origin = origin
        self.window_seconds = window_seconds
        self._session = session
        self._log = log
        self._timeout = timeout
        self._max_tries = max(1, max_tries)
        self._max_throttle_waits = max_throttle_waits
        self._retry_after_headers = retry_after_headers
        self._follow_redirects = follow_redirects
        self._sleep = sleep
        self._clock = clock
        self._backoff_factor = backoff_factor
        self._backoff_max = backoff_max
        self._lock = threading.Lock()
        self.reached = False
        self.requests_made = 0

    def _waits(self) -> Iterator[float]:
        waits = backoff.expo(factor=self._backoff_factor, max_value=self._backoff_max)
        next(waits)  # backoff's generators are primed with one empty step
        for value in waits:
            yield backoff.full_jitter(value)

    def get(
        self, url: str, pacing: Pacing, on_answer: Callable[[requests.Response, float], None]
    ) -> requests.Response:
        """GET `url`, paced by `pacing`; `on_answer(response, sent_at)` counts every answer."""
        path = urlsplit(url).path
        waits = self._waits()
        tries = throttles = 0
        while True:
            delay = pacing.reserve()
            if delay > 0:
                self._log.debug("pacing: waiting %.2fs before GET %s", delay, path)
                self._sleep(delay)
            try:
                response = self._attempt(url, path, on_answer)
            except Transient as exc:
                pacing.release()
                tries += 1
                limit = self._give_up_if_hopeless(exc, path, tries)
                wait = next(waits)
                self._log.info("GET %s: %s; retry %d/%d in %.1fs", path, exc, tries, limit - 1, wait)
                self._sleep(wait)
                continue
            status = response.status_code
            if status == 429:
                throttles += 1
                self._wait_retry_after(response, path, pacing, throttles)
                continue
            if status >= 500:
                tries += 1
                if tries >= self._max_tries:
                    raise self.helpdesk.error(
                        f"GET {path} answered {status} {tries} times",
                        f"{self.helpdesk.name} is having trouble; try again later",
                    )
                wait = next(waits)
                self._log.info("GET %s: %d; retry %d/%d in %.1fs", path, status, tries, self._max_tries - 1, wait)
                self._sleep(wait)
                continue
            return response

    def _wait_retry_after(self, response: requests.Response, path: str, pacing: Pacing, throttles: int) -> None:
        """A 429: hold every request of its budget for Retry-After, then let this one try again."""
        retry_after = header_number(response.headers, *self._retry_after_headers)
        retry_after = self.window_seconds if retry_after is None else max(0.0, retry_after)
        pacing.throttled(retry_after)
        if throttles > self._max_throttle_waits:
            raise self.helpdesk.error(
                f"GET {path} was rate-limited {throttles} times in a row",
                "another integration may be using the account's API limit; try again later or lower BATCH_SIZE",
            )
        self._log.info("GET %s: rate-limited (429); waiting %.1fs as Retry-After asks", path, retry_after)
        self._sleep(retry_after)

    def _give_up_if_hopeless(self, exc: Transient, path: str, tries: int) -> int:
        """How many tries a transient failure gets; raises once they are spent (or at once for a bad host)."""
        desk = self.helpdesk
        if not self.reached and exc.kind == "dns":
            raise desk.unreachable(
                f"cannot resolve the {desk.name} host of {self.origin}", f"check {desk.host_setting} in .env"
            ) from exc
        first_refused = not self.reached and exc.kind == "refused"
        limit = min(self._max_tries, FIRST_CONTACT_TRIES) if first_refused else self._max_tries
        if tries < limit:
            return limit
        if first_refused:
            raise desk.unreachable(
                f"{self.origin} refused the connection",
                f"check {desk.host_setting} in .env and that the server is up",
            ) from exc
        raise desk.error(
            f"GET {path} failed {tries} times ({exc})", f"{desk.name} may be down; try again later"
        ) from exc

    def _attempt(
        self, url: str, path: str, on_answer: Callable[[requests.Response, float], None]
    ) -> requests.Response:
        """One HTTP exchange; connection problems become Transient, answers are counted."""
        sent_at = self._clock()
        with self._lock:
            self.requests_made += 1
        try:
            # Without following redirects, Basic auth cannot travel to another host.
            response = self._session.get(url, timeout=self._timeout, allow_redirects=self._follow_redirects)
        except (requests.ConnectionError, requests.Timeout) as exc:
            kind = connection_kind(exc)
            reason = {"dns": "name does not resolve", "refused": "connection refused"}.get(
                kind, "timed out" if isinstance(exc, requests.Timeout) else "connection dropped"
            )
            self._log.debug("GET %s -> %s", path, reason)
            raise Transient(reason, kind) from exc
        except requests.RequestException as exc:
            raise Transient(type(exc).__name__) from exc
        self.reached = True
        on_answer(response, sent_at)
        return response

    def json(self, response: requests.Response, path: str) -> JSONValue:
        """The answer's JSON body; the helpdesk's error when there is none."""
        try:
            return response.json()
        except ValueError as exc:
            desk = self.helpdesk
            raise desk.error(
                f"GET {path} answered {response.status_code} with no JSON",
                f"check {desk.host_setting} points at a {desk.name} account",
            ) from exc

    def expect_ok(self, response: requests.Response, path: str, ticket_id: int | None = None) -> JSONValue:
        """The JSON of a 2xx answer; not_found for a ticket's 404, the helpdesk's error otherwise."""
        desk = self.helpdesk
        if response.status_code == 404:
            if ticket_id is not None:
                raise desk.not_found(f"ticket {ticket_id} not found (404) at GET {path}")
            raise desk.error(
                f"GET {path} answered 404", f"check {desk.host_setting} points at a {desk.name} account"
            )
        if not response.ok:
            raise desk.error(
                f"GET {path} answered {response.status_code}: {desk.error_details(response) or 'no details'}"
            )
        return self.json(response, path)


class HelpdeskClient:
    """What both helpdesk clients share: one session behind a RetryingGetter, closed on exit."""

    _session: requests.Session
    _getter: RetryingGetter

    @property
    def requests_made(self) -> int:
        """HTTP exchanges attempted, answered or not."""
        return self._getter.requests_made

    def close(self) -> None:
        self._session.close()

    def __enter__(self: Client) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
