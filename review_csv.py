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


def _separator(text: str) -> str:
    """The separator a spreadsheet saved the file with: `,`, `;` or tab, told by the header line."""
    header = text.split("\n", 1)[0]
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def _dict_rows(text: str) -> csv.DictReader[str]:
    """Rows by header name; any separator a spreadsheet uses, header names stripped of spaces."""
    reader = csv.DictReader(io.StringIO(text), delimiter=_separator(text))
    if reader.fieldnames is not None:
        reader.fieldnames = [name.strip() for name in reader.fieldnames]
    return reader


def _read_text(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        why = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise DatabaseError(f"cannot read {path} ({why}): save it as UTF-8 CSV and try again") from exc


def _read_csv_rows(path: Path) -> list[dict[str, str]]:
    reader = _dict_rows(_read_text(path))
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


# ---- merge suggestions ---------------------------------------------------------------------------

MERGE_COLUMNS = [
    "keep_issue_id",
    "merge_issue_id",
    "keep_category",
    "merge_category",
    "keep_tickets",
    "merge_tickets",
    "confidence",
    "reason",
    "decision",
]


def is_merge_csv(path: Path) -> bool:
    """True when the file is a merge-suggestions CSV (by its header), not a flagged-tickets one."""
    try:
        header = _dict_rows(Path(path).read_text(encoding="utf-8-sig")).fieldnames or []
    except (OSError, UnicodeDecodeError):
        return False
    return "merge_issue_id" in header


def render_merge_csv(db: IssueDB, carried_decisions: Mapping[tuple[str, str], str]) -> str:
    """One row per pending merge suggestion whose two issues are still in the DB."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(MERGE_COLUMNS)
    for suggestion in sorted(db.merge_suggestions, key=lambda s: s.order()):
        keep, other = db.issues.get(suggestion.keep_issue_id), db.issues.get(suggestion.other_issue_id)
        if suggestion.status != "pending" or keep is None or other is None:
            continue
        row = [keep.issue_id, other.issue_id, keep.category, other.category, len(keep.ticket_ids),
               len(other.ticket_ids), f"{suggestion.confidence:.2f}", suggestion.reason,
               carried_decisions.get(suggestion.order(), "")]
        writer.writerow([defuse_cell(cell) for cell in row])
    return out.getvalue()


def _merge_rows(path: Path) -> list[dict[str, str]]:
    return list(_dict_rows(_read_text(path)))


def write_merge_csv(path: Path, db: IssueDB) -> int:
    """Rewrite the merge-suggestions CSV atomically, keeping decisions typed for pairs still pending."""
    carried: dict[tuple[str, str], str] = {}
    if Path(path).exists():
        for row in _merge_rows(path):
            pair = (undefuse_cell(row.get("keep_issue_id") or "").strip(),
                    undefuse_cell(row.get("merge_issue_id") or "").strip())
            decision = undefuse_cell(row.get("decision") or "").strip()
            if decision:
                carried[pair] = decision
    text = render_merge_csv(db, carried)
    write_text_atomic(path, text)
    return text.count("\n") - 1


def apply_merge_review(db: IssueDB, csv_path: Path, now: str) -> ReviewResult:
    """Apply `accept` (merge the second issue into the first) and `reject` (never suggest the pair again)."""
    pending = {s.order(): s for s in db.merge_suggestions if s.status == "pending"}
    plan, problems, waiting = [], [], 0
    for line, row in enumerate(_merge_rows(csv_path), start=2):
        pair = (undefuse_cell(row.get("keep_issue_id") or "").strip(),
                undefuse_cell(row.get("merge_issue_id") or "").strip())
        decision = undefuse_cell(row.get("decision") or "").strip().lower()
        if not decision:
            waiting += 1
        elif decision not in ("accept", "reject"):
            problems.append(f"line {line}: decision {decision!r} is not accept or reject")
        elif pair not in pending:
            problems.append(f"line {line}: {pair[0]} and {pair[1]} are not a pending merge suggestion")
        else:
            plan.append((pending[pair], decision))
    if problems:
        raise UsageError(f"{csv_path}: {'; '.join(problems[:5])}: fix the decision column and run again")
    changes: list[JSONObject] = []
    for suggestion, decision in plan:
        keep, other = db.resolve(suggestion.keep_issue_id), db.resolve(suggestion.other_issue_id)
        if decision == "accept" and keep and other and keep != other:
            db.merge(keep, other, now, action="consolidate", details={"reviewed": True})
        suggestion.status, suggestion.at = ("accepted" if decision == "accept" else "rejected"), now
        changes.append({"keep": suggestion.keep_issue_id, "merge": suggestion.other_issue_id, "decision": decision})
    if changes:
        db.log(now, "review", {"source": str(csv_path), "merges": changes})
    return ReviewResult(applied=len(changes), pending=waiting, changes=changes)
