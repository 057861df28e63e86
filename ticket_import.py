"""Exported ticket files (`--from-file PATH`) read into the SPEC's conversation JSON: CSV, JSON or JSONL.

- CSV: one row per ticket; `,` `;` or tab separated (read from the header line), an optional BOM, quoted
  newlines. Headers are matched through an alias table (Freshdesk's "Ticket ID", "Subject",
  "Description", "Status", "Created time", "Last update time", ...; Zendesk's "Id", "Created at", ...);
  `--map COLUMN=FIELD` overrides it. Optional columns "Customer reply N", "Agent reply N" and
  "Private note N" (and their aliases) add later messages: in the order of N when every one is numbered
  (so one row can hold any interleaving), else in column order.
- JSON (an array, `{"tickets": [...]}` or `{"results": [...]}`) or JSONL (one object per line) of
  Freshdesk-shaped tickets (with `conversations`), Zendesk-shaped tickets (with `comments`, as Zendesk's
  JSON export writes them), `{"ticket": ..., "comments"|"conversations": [...]}` pairs, or plain
  `{id, subject, status, created_at, updated_at, messages: [{speaker, text, private, created_at}]}`.

A ticket is kept when its status is resolved, solved or closed (Freshdesk 4 or 5). A record that lacks
a required field (id, status, a description or message, a time) is reported with its line (CSV, JSONL)
or item number (JSON) and skipped; a file that is missing, empty, not UTF-8, not a table or not JSON is
one ImportFileError (exit 2). Links: a `url` column wins; a Zendesk ticket's API url becomes its agent
link; otherwise `ticket_url(id)` when given (the configured desk), else none.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from conversation_utils import SourceMessage, clean_conversation, conversation_from_messages
from errors import ColumnMapError, DatabaseError, ImportFileError, StartDateError, UnmappedColumnsError, UsageError
from records import Conversation, JSONValue
from zendesk_client import STATUS_CODES, raw_thread, zendesk_conversation

log = logging.getLogger(__name__)

FIELDS = ("id", "subject", "description", "status", "created_at", "updated_at", "resolved_at", "closed_at",
          "url", "customer_message", "agent_message", "private_note")
MESSAGE_FIELDS = {"customer_message": ("user", False), "agent_message": ("agent", False),
                  "private_note": ("agent", True)}
_TIME_FIELDS = ("updated_at", "closed_at", "resolved_at", "created_at")
KEPT_CODES = (4, 5)

# Normalised header (lower case, runs of non-alphanumerics as one space) -> field.
ALIASES: dict[str, str] = {}
for _field, _names in {
    "id": ("id", "ticket id", "ticket", "ticket number", "ticket no", "ticket nr", "number", "ticket_id"),
    "subject": ("subject", "title", "summary", "ticket subject"),
    "description": ("description", "description text", "body", "message", "first message",
                    "initial message", "ticket description", "question"),
    "status": ("status", "ticket status", "state"),
    "created_at": ("created at", "created time", "created", "created date", "creation time", "date created",
                   "opened", "opened at", "created on"),
    "updated_at": ("updated at", "last update time", "last updated time", "last updated", "last update",
                   "updated", "updated time", "last modified", "modified", "last activity"),
    "resolved_at": ("resolved time", "resolved at", "resolved", "solved at", "solved time", "resolution date"),
    "closed_at": ("closed time", "closed at", "closed", "closed date"),
    "url": ("url", "link", "ticket url", "ticket link", "permalink"),
}.items():
    for _name in _names:
        ALIASES[_name] = _field
_MESSAGE_COLUMN = [
    (re.compile(r"^(?:customer|user|requester|contact|end user)s? (?:reply|replies|message|messages|comment|"
                r"comments|response)(?: \d+)?$"), "customer_message"),
    (re.compile(r"^(?:agent|support|staff)s? (?:reply|replies|message|messages|comment|comments|response|"
                r"responses)(?: \d+)?$"), "agent_message"),
    (re.compile(r"^(?:private|internal) (?:note|notes|comment|comments)(?: \d+)?$"), "private_note"),
]
_STATUS_NAMES = {"resolved": 4, "solved": 4, "closed": 5, "open": 2, "new": 2, "reopened": 2, "pending": 3,
                 "hold": 3, "on hold": 3, "waiting on customer": 3, "waiting on third party": 3}
_SPEAKERS = {"user": ("user", False), "customer": ("user", False), "requester": ("user", False),
             "end user": ("user", False), "contact": ("user", False), "agent": ("agent", False),
             "support": ("agent", False), "staff": ("agent", False), "admin": ("agent", False),
             "note": ("agent", True), "private note": ("agent", True), "internal": ("agent", True)}
_HTML = re.compile(r"<(?:p|div|br|span|a|b|i|u|em|strong|ul|ol|li|table|tr|td|blockquote|html|body|font|pre|"
                   r"h[1-6])\b[^>]*>", re.IGNORECASE)
_ZENDESK_API_TICKET = re.compile(r"^(https?://[^/]+)/api/v2/tickets/(\d+)\.json$")
_SEPARATORS = (",", ";", "\t")


@dataclass
class ImportStats:
    """What reading a file found, for the run summary."""

    records: int = 0
    imported: int = 0
    skipped: int = 0  # lacking a required field, or unreadable
    not_kept: int = 0  # status neither resolved, solved nor closed
    older: int = 0  # updated before `since`
    duplicates: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ImportedTicket:
    """One ticket of an export file: the raw record it is cleaned from, and its link.

    The conversation is cleaned when first asked for, so a re-run over an export whose tickets are stored
    already cleans none of them."""

    id: int
    updated_at: str
    raw: dict
    where: str
    url: str

    @functools.cached_property
    def conversation(self) -> Conversation:
        return conversation_from_raw(self.raw, self.url)


class _Skip(Exception):
    """A record that cannot be used; the message says why and what to fix."""


def parse_map(values: Iterable[str]) -> dict[str, str]:
    """`--map COLUMN=FIELD` options as {column: field}; UsageError naming a bad one."""
    mapping: dict[str, str] = {}
    for value in values:
        column, sep, target = value.rpartition("=")
        column, target = column.strip(), target.strip().lower()
        if not sep or not column or not target:
            raise ColumnMapError(f"the column mapping {value!r} is not COLUMN=FIELD", "write e.g. 'Ticket Number=id'")
        if target not in FIELDS:
            raise UsageError(f"the column mapping {value!r} names {target!r}, which is not a field",
                             f"use one of {', '.join(FIELDS)}")
        mapping[column] = target
    return mapping


def status_code(value: JSONValue) -> int | None:
    """Freshdesk's status number (2 open, 3 pending, 4 resolved, 5 closed) for a number or a status name."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value) if int(value) in (2, 3, 4, 5) else None
    text = _normal(str(value or ""))
    if text.isdigit():
        return int(text) if int(text) in (2, 3, 4, 5) else None
    return _STATUS_NAMES.get(text, STATUS_CODES.get(text))


def read_export(
    path: str | Path,
    *,
    mapping: Mapping[str, str] | None = None,
    ticket_url: Callable[[int], str] | None = None,
    since: str | None = None,
    stats: ImportStats | None = None,
) -> list[ImportedTicket]:
    """Every resolved/solved/closed ticket of an export file, in file order, updated at or after `since`.

    The whole file is checked before anything is returned, so a bad file fails before a run starts."""
    path = Path(path)
    stats = stats if stats is not None else ImportStats()
    text = _read_text(path)
    head = text.lstrip()[:1]
    suffix = path.suffix.lower()
    if head in ("[", "{"):
        records = _json_records(path, text)
    elif suffix in (".json", ".jsonl", ".ndjson"):
        raise ImportFileError(f"{path} is not JSON (it starts with {head!r}): export the tickets as JSON, or "
                              "give a CSV file")
    else:
        records = _csv_records(path, text, dict(mapping or {}))
    cutoff = _moment(since) if since else None
    if since and cutoff is None:
        raise StartDateError(f"the start date {since!r} is not a date", "give YYYY-MM-DD or an ISO timestamp")
    kept: dict[int, ImportedTicket] = {}
    for where, record in records:
        stats.records += 1
        try:
            ticket = _ticket_of(record, where, path, dict(mapping or {}), ticket_url)
        except _Skip as exc:
            _problem(stats, f"{path} {where}: {exc}; skipped")
            continue
        if ticket is None:
            stats.not_kept += 1
            continue
        if cutoff is not None and _sort_key(ticket) < cutoff:
            stats.older += 1
            continue
        previous = kept.get(ticket.id)
        if previous is not None:
            stats.duplicates += 1
            log.warning("%s: ticket %s appears twice (%s and %s); the one updated later is kept",
                        path, ticket.id, previous.where, ticket.where)
            if _sort_key(ticket) < _sort_key(previous):
                continue
        kept[ticket.id] = ticket
    stats.imported = len(kept)
    if stats.not_kept:
        log.info("%s: %d tickets are not resolved, solved or closed; left out", path, stats.not_kept)
    return list(kept.values())


def _sort_key(ticket: ImportedTicket) -> datetime:
    return _moment(ticket.updated_at) or datetime.min.replace(tzinfo=timezone.utc)


def by_update(tickets: Iterable[ImportedTicket]) -> list[ImportedTicket]:
    """The tickets by `updated_at`, oldest first, then by id: the order a run over the desk since a date
    decides them in (Zendesk's export and Freshdesk's list), whatever order the file holds them in."""
    return sorted(tickets, key=lambda ticket: (_sort_key(ticket), ticket.id))


def conversation_from_raw(raw: dict, url: str) -> Conversation:
    """Rebuild a conversation from the raw record any source stored (Freshdesk, Zendesk, export files).

    For conversation_utils.reclean_store(store, ticket_url, clean=conversation_from_raw)."""
    ticket = raw.get("ticket")
    if not isinstance(ticket, dict) or "id" not in ticket:
        raise DatabaseError("a raw record holds no ticket: delete it and fetch or import the ticket again")
    source = raw.get("source", "freshdesk")
    if source == "zendesk":
        comments = raw.get("comments")
        if not isinstance(comments, list):
            raise DatabaseError(f"the raw Zendesk ticket {ticket['id']} holds no comments list: fetch it again")
        return zendesk_conversation(ticket, comments, url)
    if source == "file":
        messages = raw.get("messages")
        if not isinstance(messages, list):
            raise DatabaseError(f"the raw imported ticket {ticket['id']} holds no messages: import it again")
        return _file_conversation(ticket, messages, url)
    if source == "freshdesk":
        return _freshdesk_conversation(ticket, raw.get("conversations") or [], url)
    raise DatabaseError(f"the raw ticket {ticket['id']} comes from an unknown source {source!r}")


# ----------------------------------------------------------------------------- reading files


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImportFileError(f"{path} does not exist: give the path of an exported CSV, JSON or JSONL file") from None
    except OSError as exc:
        raise ImportFileError(f"cannot read {path} ({exc.strerror or exc}): give a readable export file") from None
    if not data.strip():
        raise ImportFileError(f"{path} is empty: export tickets into it first")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"{path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}): save it as UTF-8 "
            "(in Excel: CSV UTF-8) and try again"
        ) from None
    if "\x00" in text:
        raise ImportFileError(f"{path} is not a text file (it holds NUL bytes): give a CSV, JSON or JSONL export")
    return text


def _json_records(path: Path, text: str) -> list[tuple[str, object]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) > 1 and all(line.lstrip().startswith("{") for line in lines):
            return _jsonl_records(path, text)
        raise ImportFileError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}): export the tickets "
            "again, or give one JSON object per line"
        ) from None
    if isinstance(document, list):
        return [(f"item {i}", item) for i, item in enumerate(document, start=1)]
    if isinstance(document, dict):
        for key in ("tickets", "results"):
            if isinstance(document.get(key), list):
                return [(f"item {i}", item) for i, item in enumerate(document[key], start=1)]
        if isinstance(document.get("ticket"), dict) or "id" in document:
            return [("item 1", document)]
    raise ImportFileError(
        f"{path} holds JSON but no tickets: give an array of tickets, {{\"tickets\": [...]}}, or one ticket "
        "object per line"
    )


def _jsonl_records(path: Path, text: str) -> list[tuple[str, object]]:
    records: list[tuple[str, object]] = []
    broken = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((f"line {number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            broken += 1
            records.append((f"line {number}", _Broken(f"not valid JSON ({exc.msg})")))
    if broken == len(records):
        raise ImportFileError(f"{path} is not JSON or JSONL: no line of it parses; export the tickets again")
    return records


@dataclass(frozen=True)
class _Broken:
    reason: str


def _csv_records(path: Path, text: str, mapping: dict[str, str]) -> list[tuple[str, object]]:
    header_line = _first_line(text)
    separator = _separator(header_line)
    if separator is None:
        raise ImportFileError(
            f"{path} is not a table: its first line has no ',', ';' or tab between column names; export the "
            "tickets as CSV with a header row"
        )
    # Long descriptions exceed csv's default 128 KiB field limit.
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 26))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    try:
        header = next(reader)
    except (csv.Error, StopIteration) as exc:
        raise ImportFileError(f"{path} is not a table ({exc}): export the tickets as CSV") from None
    columns = _columns(path, header, mapping)
    records: list[tuple[str, object]] = []
    line = reader.line_num
    try:
        for row in reader:
            start, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(header):
                records.append((f"line {start}", _Broken(
                    f"has {len(row)} cells where the header has {len(header)} (check its quoting)")))
                continue
            row = row + [""] * (len(header) - len(row))
            records.append((f"line {start}", _Row(header, row, columns)))
    except csv.Error as exc:
        raise ImportFileError(f"{path} line {reader.line_num} cannot be read as CSV ({exc}): export it again") from None
    return records


def _first_line(text: str) -> str:
    end = text.find("\n")
    return (text if end < 0 else text[:end]).rstrip("\r")


def _separator(line: str) -> str | None:
    """The separator of the header: the most frequent of , ; tab outside quotes."""
    counts = dict.fromkeys(_SEPARATORS, 0)
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(_SEPARATORS, key=lambda sep: counts[sep])
    return best if counts[best] else None


@dataclass(frozen=True)
class _Row:
    header: list[str]
    cells: list[str]
    columns: dict[int, str]  # column index -> field

    def record(self) -> dict[str, str]:
        return dict(zip(self.header, self.cells, strict=True))


def _normal(name: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z]+", " ", name.lower()).split())


def _number(name: str) -> int | None:
    match = re.search(r"(\d+)\s*$", _normal(name))
    return int(match[1]) if match else None


def _field_of(name: str) -> str | None:
    normal = _normal(name)
    if normal in ALIASES:
        return ALIASES[normal]
    for pattern, target in _MESSAGE_COLUMN:
        if pattern.match(normal):
            return target
    return None


def _columns(path: Path, header: list[str], mapping: dict[str, str]) -> dict[int, str]:
    """Which field each column holds: --map first, then the alias table; single fields keep their first column."""
    by_name = {_normal(name): i for i, name in reversed(list(enumerate(header)))}
    columns: dict[int, str] = {}
    for column, target in mapping.items():
        index = by_name.get(_normal(column))
        if index is None:
            shown = ", ".join(repr(h) for h in header[:12]) + (", ..." if len(header) > 12 else "")
            raise UsageError(f"the column mapping names column {column!r}, which {path} does not have",
                             f"its columns are {shown}")
        columns[index] = target
    mapped = {target for target in columns.values() if target not in MESSAGE_FIELDS}
    for index, name in enumerate(header):
        if index in columns:
            continue
        target = _field_of(name)
        if target is None or target in mapped:
            continue
        columns[index] = target
        if target not in MESSAGE_FIELDS:
            mapped.add(target)
    have = set(columns.values())
    missing = [name for name in ("id", "status", "description") if name not in have]
    if not have & set(_TIME_FIELDS):
        missing.append("a time (created_at or updated_at)")
    if missing:
        shown = ", ".join(repr(h) for h in header[:12]) + (", ..." if len(header) > 12 else "")
        raise UnmappedColumnsError(
            f"{path} has no column for {', '.join(missing)}; its columns are {shown}",
            "map them to fields as COLUMN=FIELD (e.g. 'Ticket Number=id')",
        )
    return columns


# ----------------------------------------------------------------------------- records to tickets


def _ticket_of(record: object, where: str, path: Path, mapping: dict[str, str],
               ticket_url: Callable[[int], str] | None) -> ImportedTicket | None:
    """The ticket of one record; None when its status is not kept; _Skip when it cannot be used."""
    if isinstance(record, _Broken):
        raise _Skip(record.reason)
    if isinstance(record, _Row):
        values: dict[str, list[str]] = {}
        replies: list[tuple[str, str, int | None]] = []  # (field, text, number) in column order
        for index, target in sorted(record.columns.items()):
            if target in MESSAGE_FIELDS:
                replies.append((target, record.cells[index], _number(record.header[index])))
            else:
                values.setdefault(target, []).append(record.cells[index])
        return _plain_ticket(values, replies, [], where, path, record.record(), ticket_url)
    if not isinstance(record, dict):
        raise _Skip(f"is a JSON {type(record).__name__}, not a ticket object")
    ticket, thread_key = _unwrap(record)
    if "messages" in ticket and thread_key is None:
        return _plain_object(ticket, where, path, mapping, ticket_url)
    if thread_key == "comments" or (thread_key is None and "requester_id" in ticket
                                    and isinstance(ticket.get("status"), str)):
        return _zendesk_ticket(ticket, _thread(record, ticket, "comments"), where, path, ticket_url)
    if thread_key == "conversations" or isinstance(ticket.get("status"), int) or "description_text" in ticket:
        return _freshdesk_ticket(ticket, _thread(record, ticket, "conversations"), where, path, ticket_url)
    return _plain_object(ticket, where, path, mapping, ticket_url)


def _unwrap(record: dict) -> tuple[dict, str | None]:
    """The ticket object and which thread it carries: {"ticket": ..., "comments": [...]} or a ticket itself."""
    ticket = record["ticket"] if isinstance(record.get("ticket"), dict) else record
    for key in ("comments", "conversations"):
        if isinstance(record.get(key), list) or isinstance(ticket.get(key), list):
            return ticket, key
    return ticket, None


def _thread(record: dict, ticket: dict, key: str) -> list[dict]:
    items = record.get(key) if isinstance(record.get(key), list) else ticket.get(key)
    return [item for item in (items or []) if isinstance(item, dict)]


def _ticket_id(value: JSONValue) -> int:
    try:
        number = int(str(value).strip().lstrip("#"))
    except (TypeError, ValueError):
        raise _Skip(f"has no ticket id (got {value!r}); give the id as a whole number") from None
    if number <= 0:
        raise _Skip(f"has no ticket id (got {value!r}); give the id as a whole number")
    return number


def _kept_status(value: JSONValue) -> int | None:
    """The status code when kept, None when the ticket is left out; _Skip for a status nobody knows."""
    if value is None or str(value).strip() == "":
        raise _Skip("has no status; give resolved, solved or closed (or 4, 5)")
    code = status_code(value)
    if code is None:
        raise _Skip(f"has status {value!r}, which is not one this tool knows (resolved, solved, closed, open, "
                    "pending, or Freshdesk's 2-5)")
    return code if code in KEPT_CODES else None


def _zendesk_ticket(ticket: dict, comments: list[dict], where: str, path: Path,
                    ticket_url: Callable[[int], str] | None) -> ImportedTicket | None:
    ticket_id = _ticket_id(ticket.get("id"))
    if str(ticket.get("status") or "").lower() == "deleted":
        return None
    if _kept_status(ticket.get("status")) is None:
        return None
    if not ticket.get("updated_at"):
        raise _Skip("has no updated_at")
    if not comments and not ticket.get("description"):
        raise _Skip("has no comments and no description")
    url = ticket_url(ticket_id) if ticket_url else ""
    match = _ZENDESK_API_TICKET.match(str(ticket.get("url") or ""))
    if match:
        url = f"{match[1]}/agent/tickets/{match[2]}"  # the API url names the account; people want its page
    raw = {**raw_thread(ticket, comments), "imported_from": str(path)}
    return ImportedTicket(ticket_id, str(ticket["updated_at"]), raw, where, url)


def _freshdesk_conversation(ticket: dict, conversations: list[dict], url: str) -> Conversation:
    # Exports may name the status ("Resolved"); the cleaner wants Freshdesk's number.
    normalised = {**ticket, "status": status_code(ticket.get("status")) or 0}
    return clean_conversation(normalised, conversations, url)


def _freshdesk_ticket(ticket: dict, conversations: list[dict], where: str, path: Path,
                      ticket_url: Callable[[int], str] | None) -> ImportedTicket | None:
    ticket_id = _ticket_id(ticket.get("id"))
    if _kept_status(ticket.get("status")) is None:
        return None
    if not ticket.get("updated_at"):
        raise _Skip("has no updated_at")
    if not (ticket.get("description") or ticket.get("description_text") or conversations):
        raise _Skip("has no description and no conversations")
    url = ticket_url(ticket_id) if ticket_url else ""
    raw = {"source": "freshdesk", "ticket": ticket, "conversations": conversations, "imported_from": str(path)}
    return ImportedTicket(ticket_id, str(ticket["updated_at"]), raw, where, url)


def _plain_object(obj: dict, where: str, path: Path, mapping: dict[str, str],
                  ticket_url: Callable[[int], str] | None) -> ImportedTicket | None:
    """A plain JSON ticket: its keys through --map and the alias table, plus an optional messages list."""
    wanted = {_normal(column): target for column, target in mapping.items()}
    values: dict[str, list[str]] = {}
    replies: list[tuple[str, str, int | None]] = []
    for key, value in obj.items():
        if key == "messages" or value is None or isinstance(value, (dict, list)):
            continue
        target = wanted.get(_normal(key)) or _field_of(key) or (key if key in FIELDS else None)
        if target in MESSAGE_FIELDS:
            replies.append((target, str(value), _number(key)))
        elif target is not None:
            values.setdefault(target, []).append(str(value))
    messages = obj.get("messages") or []
    if not isinstance(messages, list):
        raise _Skip("has messages that are not a list")
    extra: list[SourceMessage] = []
    for number, message in enumerate(messages, start=1):
        if not isinstance(message, dict):
            raise _Skip(f"message {number} is not an object")
        speaker = _SPEAKERS.get(_normal(str(message.get("speaker") or message.get("author") or "")))
        if speaker is None:
            raise _Skip(f"message {number} has speaker {message.get('speaker')!r}; use user or agent")
        text = message.get("text") or message.get("body") or message.get("html") or ""
        extra.append({**_body(str(text)), "speaker": speaker[0],
                      "private": bool(message.get("private")) or speaker[1],
                      "created_at": _time_or_skip(message.get("created_at"), f"message {number} created_at") or ""})
    return _plain_ticket(values, replies, extra, where, path, obj, ticket_url)


def _plain_ticket(values: dict[str, list[str]], replies: list[tuple[str, str, int | None]], extra: list[SourceMessage],
                  where: str, path: Path, record: dict, ticket_url: Callable[[int], str] | None
                  ) -> ImportedTicket | None:
    """A ticket from field values, reply columns (field, text) and messages; the opening message first."""
    def one(name: str) -> str:
        return next((v.strip() for v in values.get(name, []) if v.strip()), "")

    ticket_id = _ticket_id(one("id") or None)
    code = _kept_status(one("status") or None)
    if code is None:
        return None
    times = {name: _time_or_skip(one(name), name) for name in _TIME_FIELDS}
    updated = next((times[name] for name in _TIME_FIELDS if times[name]), None)
    if updated is None:
        raise _Skip("has no time (created_at, updated_at, resolved or closed time)")
    created = times["created_at"] or updated
    messages: list[SourceMessage] = []
    description = one("description")
    if description:
        messages.append({**_body(description), "speaker": "user", "private": False, "created_at": created})
    for name, value in _in_thread_order(replies):
        speaker, private = MESSAGE_FIELDS[name]
        if value.strip():
            messages.append({**_body(value), "speaker": speaker, "private": private, "created_at": ""})
    messages.extend(extra)
    if not messages:
        raise _Skip("has no description and no messages")
    url = one("url")
    if not url.startswith(("http://", "https://")):
        url = ticket_url(ticket_id) if ticket_url else ""
    ticket = {"id": ticket_id, "subject": one("subject"), "status": code, "created_at": created,
              "updated_at": updated, "url": url}
    raw = {"source": "file", "imported_from": str(path), "where": where, "record": record, "ticket": ticket,
           "messages": messages}
    return ImportedTicket(ticket_id, updated, raw, where, url)


def _in_thread_order(replies: list[tuple[str, str, int | None]]) -> list[tuple[str, str]]:
    """Reply columns in thread order: by their numbers ("Customer reply 2" after "Agent reply 1") when every
    one is numbered, else as the columns stand."""
    if replies and all(number is not None for _, _, number in replies):
        replies = sorted(replies, key=lambda reply: reply[2])  # type: ignore[arg-type, return-value]
    return [(name, value) for name, value, _ in replies]


def _file_conversation(ticket: dict, messages: list, url: str) -> Conversation:
    return conversation_from_messages(
        ticket_id=int(ticket["id"]), subject=str(ticket.get("subject") or ""), status=int(ticket.get("status") or 0),
        created_at=str(ticket.get("created_at") or ""), updated_at=str(ticket.get("updated_at") or ""),
        url=url, messages=[m for m in messages if isinstance(m, dict)],
    )


def _body(value: str) -> SourceMessage:
    """HTML goes through the HTML cleaner, plain text through the text path of the same cleaner."""
    return {"html": value, "text": None} if _HTML.search(value) else {"html": None, "text": value}


_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M %z", "%Y-%m-%d %H:%M:%S %Z", "%Y/%m/%d %H:%M:%S")


def _moment(value: str | None) -> datetime | None:
    text = (value or "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        moment = None
        for pattern in _TIME_FORMATS:
            try:
                moment = datetime.strptime(text, pattern)
                break
            except ValueError:
                continue
        if moment is None:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _time_or_skip(value: JSONValue, name: str) -> str | None:
    """An ISO timestamp in UTC ("...Z"); None when empty; _Skip when it is not a date."""
    if value is None or str(value).strip() == "":
        return None
    moment = _moment(str(value))
    if moment is None:
        raise _Skip(f"has {name} {str(value)!r}, which is not a date; use YYYY-MM-DD HH:MM:SS or ISO 8601")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _problem(stats: ImportStats, message: str) -> None:
    stats.skipped += 1
    stats.problems.append(message)
    log.warning("%s", message)
