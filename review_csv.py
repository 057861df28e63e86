"""The flagged-for-review CSV: written after a run, read back with the reviewer's decisions, applied to the DB."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from atomic_io import write_text_atomic
from errors import DatabaseError, UsageError
from issue_clusterer import IssueDB
from records import JSONObject, TicketInfo

CSV_COLUMNS = [
    "ticket_id",
    "ticket_url",
    "subject",
    "assigned_issue_id",
    "suggested_issue_id",
    "category",
    "confidence",
    "reason",
    "decision",
]
_ISSUE_ID = re.compile(r"^ISS-\d{4,}$")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def defuse_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def undefuse_cell(text: str) -> str:
    return text[1:] if text.startswith("'") and text[1:2] and text[1:].startswith(_FORMULA_START) else text


def read_review_decisions(path: Path) -> dict[int, str]:
    """The `decision` column of an existing flagged CSV, by ticket id (empty ones left out)."""
    if not Path(path).exists():
        return {}
    decisions = {}
    for row in _read_csv_rows(path):
        decision = undefuse_cell(row.get("decision") or "").strip()
        ticket = undefuse_cell(row.get("ticket_id") or "").strip()
        if decision and ticket.isdigit():
            decisions[int(ticket)] = decision
    return decisions


def _read_csv_rows(path: Path) -> list[dict[str, str]]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        why = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise DatabaseError(f"cannot read {path} ({why}): save it as UTF-8 CSV and try again") from exc
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("ticket_id", "decision") if c not in (reader.fieldnames or [])]
    if missing:
        raise UsageError(
            f"{path} has no {' or '.join(missing)} column: use the flagged_for_review.csv the tool wrote"
        )
    return list(reader)


def render_flagged_csv(db: IssueDB, *, tickets: Mapping[int, TicketInfo], carried_decisions: Mapping[int, str]) -> str:
    """One row per flagged, unreviewed ticket, keeping decisions a reviewer already typed."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for ticket_id in db.flagged_pending():
        record = db.tickets[ticket_id]
        info = tickets.get(ticket_id)
        row = [
            ticket_id,
            info.url if info else "",
            info.subject if info else "",
            record.issue_id,
            record.suggested_issue_id,
            db.issues[record.issue_id].category,
            f"{record.confidence:.2f}",
            record.reason,
            carried_decisions.get(ticket_id, ""),
        ]
        writer.writerow([defuse_cell(cell) for cell in row])
    return out.getvalue()


def write_flagged_csv(path: Path, db: IssueDB, *, tickets: Mapping[int, TicketInfo]) -> int:
    """Rewrite the CSV atomically; returns the number of rows."""
    carried = read_review_decisions(path) if Path(path).exists() else {}
    write_text_atomic(path, render_flagged_csv(db, tickets=tickets, carried_decisions=carried))
    return len(db.flagged_pending())


@dataclass(frozen=True)
class ReviewResult:
    applied: int
    pending: int
    changes: list[JSONObject]


def _review_plan(db: IssueDB, csv_path: Path) -> tuple[list[tuple[int, str]], int]:
    """The (ticket, decision) pairs to apply and the count still pending; UsageError naming bad lines."""
    pending = 0
    problems = []
    plan: list[tuple[int, str]] = []
    for line, row in enumerate(_read_csv_rows(csv_path), start=2):
        ticket_text = undefuse_cell(row.get("ticket_id") or "").strip()
        decision = undefuse_cell(row.get("decision") or "").strip()
        if not decision:
            pending += 1
            continue
        if not ticket_text.isdigit() or int(ticket_text) not in db.tickets:
            problems.append(f"line {line}: ticket {ticket_text!r} is not in the DB")
            continue
        is_issue = bool(_ISSUE_ID.match(decision.upper()))
        if decision.lower() not in ("accept", "new") and not is_issue:
            problems.append(f"line {line}: decision {decision!r} is not accept, new or an issue id")
            continue
        if is_issue and decision.upper() not in db.issues:
            problems.append(f"line {line}: issue {decision} does not exist")
            continue
        plan.append((int(ticket_text), decision))
    if problems:
        raise UsageError(f"{csv_path}: {'; '.join(problems[:5])}: fix the decision column and run again")
    return plan, pending


def apply_review(db: IssueDB, csv_path: Path, now: str) -> ReviewResult:
    """Apply reviewers' decisions from a flagged CSV to the DB (in memory; the caller saves)."""
    plan, pending = _review_plan(db, csv_path)
    changes: list[JSONObject] = []
    for ticket_id, decision in plan:
        record = db.tickets[ticket_id]
        before = record.issue_id
        suggested = record.suggested_issue_id
        normalized = decision.lower()
        if normalized == "accept" and suggested and suggested in db.issues:
            db.move_ticket(ticket_id, suggested, now)
        elif normalized in ("accept", "new"):
            db.confirm_ticket_issue(ticket_id, now)
        else:
            db.move_ticket(ticket_id, decision.upper(), now)
        changes.append({"ticket_id": ticket_id, "decision": decision, "from": before,
                        "to": db.tickets[ticket_id].issue_id})
    if changes:
        db.log(now, "review", {"source": str(csv_path), "changes": changes})
    return ReviewResult(applied=len(changes), pending=pending, changes=changes)
