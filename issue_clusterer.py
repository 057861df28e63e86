"""The issue DB: issues, ticket decisions, checkpoints, review and the flagged-for-review CSV."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atomic_io import dumps_deterministic, fsync_dir, write_text_atomic
from errors import DatabaseError, UsageError
from records import Answer, Outcome

SCHEMA_VERSION = 1
MAX_KEYWORDS = 10
UNCLASSIFIED = "Unclassified"
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


def issue_text(category: str, keywords: list[str], root_cause: str) -> str:
    """An issue's (or a model answer's) description as one text, the form that is embedded."""
    return ". ".join(part for part in (category, ", ".join(keywords), root_cause) if part)


@dataclass
class Issue:
    issue_id: str
    category: str
    keywords: list[str]
    root_cause: str
    resolution_steps: list[str]
    ticket_ids: list[int]
    provisional: bool
    first_seen: str
    last_seen: str
    created_at: str
    updated_at: str

    def text(self) -> str:
        """The issue's own words, as embedded to represent it among candidates."""
        return issue_text(self.category, self.keywords, self.root_cause)


@dataclass
class TicketRecord:
    issue_id: str
    confidence: float
    flagged: bool
    reviewed: bool
    reason: str
    updated_at: str
    decided_at: str
    answer: dict[str, Any] | None

    @property
    def suggested_issue_id(self) -> str:
        """The model's choice when it differs from where the ticket sits (for review)."""
        suggested = (self.answer or {}).get("issue_id") or ""
        return "" if suggested == self.issue_id else suggested


@dataclass(frozen=True)
class Applied:
    """What applying one outcome did to the DB."""

    ticket_id: int
    issue_id: str
    created: bool
    flagged: bool
    provisional: bool


@dataclass
class IssueDB:
    embedding_model: str
    next_issue_number: int = 1
    issues: dict[str, Issue] = field(default_factory=dict)
    tickets: dict[int, TicketRecord] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)

    # ---- reading and writing -------------------------------------------------------------

    @classmethod
    def load(cls, path: Path) -> IssueDB:
        """Read a DB file; a file that cannot be read is a DatabaseError naming it, never overwritten."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DatabaseError(
                f"cannot read the issue DB {path} ({_short(exc)}): restore it from a backup, "
                "or pass a different --output; the file was left as it is"
            ) from exc
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DatabaseError(
                f"the issue DB {path} is not in the expected format ({_short(exc)}): restore it "
                "from a backup, or pass a different --output; the file was left as it is"
            ) from exc

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IssueDB:
        if not isinstance(data, dict):
            raise ValueError("top level is not an object")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(f"schema_version {version!r}, expected {SCHEMA_VERSION}")
        issues = {}
        for raw in data["issues"]:
            issue = Issue(**{name: raw[name] for name in Issue.__dataclass_fields__})
            issue.ticket_ids = [int(t) for t in issue.ticket_ids]
            issues[issue.issue_id] = issue
        tickets = {
            int(ticket_id): TicketRecord(**{name: raw[name] for name in TicketRecord.__dataclass_fields__})
            for ticket_id, raw in data["tickets"].items()
        }
        db = cls(
            embedding_model=str(data.get("embedding_model", "")),
            next_issue_number=int(data["next_issue_number"]),
            issues=issues,
            tickets=tickets,
            runs=list(data.get("runs", [])),
            history=list(data.get("history", [])),
        )
        db.check_consistency()
        return db

    def to_dict(self) -> dict[str, Any]:
        # Shallow copies (vars, not asdict's deep copy): a 10,000-ticket DB is checkpointed often.
        issues = []
        for issue_id in sorted(self.issues):
            record = dict(vars(self.issues[issue_id]))
            record["ticket_ids"] = sorted(record["ticket_ids"])
            issues.append(record)
        return {
            "schema_version": SCHEMA_VERSION,
            "embedding_model": self.embedding_model,
            "next_issue_number": self.next_issue_number,
            "issues": issues,
            "tickets": {str(t): dict(vars(self.tickets[t])) for t in sorted(self.tickets)},
            "runs": self.runs,
            "history": self.history,
        }

    def save(self, path: Path, *, compact: bool = False) -> None:
        """Write atomically; `compact` (no indentation) for checkpoints, which only the tool reads."""
        try:
            write_text_atomic(path, dumps_deterministic(self.to_dict(), compact=compact))
        except OSError as exc:
            raise cannot_write(path, exc) from exc

    def check_consistency(self) -> None:
        """Each ticket belongs to exactly one issue, and the issue agrees."""
        owner: dict[int, str] = {}
        for issue in self.issues.values():
            for ticket_id in issue.ticket_ids:
                if ticket_id in owner:
                    raise ValueError(f"ticket {ticket_id} is in both {owner[ticket_id]} and {issue.issue_id}")
                owner[ticket_id] = issue.issue_id
        for ticket_id, record in self.tickets.items():
            if owner.get(ticket_id) != record.issue_id:
                raise ValueError(
                    f"ticket {ticket_id} says {record.issue_id} but is in {owner.get(ticket_id)}"
                )
        if len(owner) != len(self.tickets):
            raise ValueError("an issue lists a ticket that has no decision")

    # ---- queries ---------------------------------------------------------------------------

    def is_decided(self, ticket_id: int) -> bool:
        return ticket_id in self.tickets

    def confirmed_issues(self) -> list[Issue]:
        return [self.issues[i] for i in sorted(self.issues) if not self.issues[i].provisional]

    def newest_updated_at(self) -> str | None:
        dates = [record.updated_at for record in self.tickets.values() if record.updated_at]
        return max(dates) if dates else None

    def flagged_pending(self) -> list[int]:
        return sorted(t for t, r in self.tickets.items() if r.flagged and not r.reviewed)

    # ---- decisions ---------------------------------------------------------------------------

    def apply(
        self,
        outcome: Outcome,
        *,
        threshold: float,
        updated_at: str,
        now: str,
        flag_low_confidence: bool = True,
    ) -> Applied:
        """Apply one classifier outcome following SPEC's decision table."""
        ticket_id = outcome.ticket_id
        if ticket_id in self.tickets:
            raise ValueError(f"ticket {ticket_id} is already decided; remove it before reclassifying")
        answer = outcome.answer
        if answer is None:
            answer = Answer(None, UNCLASSIFIED, [], "", [], 0.0, "")
            issue = self._new_issue(answer, provisional=True, updated_at=updated_at, now=now)
            return self._record(ticket_id, issue, None, 0.0, (True, outcome.reason), updated_at, now)
        flag = (bool(outcome.flag_reason), outcome.flag_reason)
        if flag_low_confidence and answer.confidence < threshold:
            issue = self._new_issue(answer, provisional=True, updated_at=updated_at, now=now)
            flag = (True, f"confidence {answer.confidence:.2f} below threshold {threshold:.2f}")
        elif answer.issue_id is not None and answer.issue_id in self.issues:
            # Joining keeps the issue's category, root cause and steps: stable names for people.
            issue = self.issues[answer.issue_id]
        else:
            issue = self._new_issue(answer, provisional=False, updated_at=updated_at, now=now)
        return self._record(ticket_id, issue, answer, answer.confidence, flag, updated_at, now)

    def remove_ticket(self, ticket_id: int, now: str) -> str:
        """Take a ticket out of its issue (for reclassify or a move); an emptied issue disappears."""
        record = self.tickets.pop(ticket_id)
        issue = self.issues[record.issue_id]
        issue.ticket_ids.remove(ticket_id)
        if not issue.ticket_ids:
            del self.issues[issue.issue_id]
        else:
            self._refresh(issue, now)
        return record.issue_id

    def _record(
        self,
        ticket_id: int,
        issue: Issue,
        answer: Answer | None,
        confidence: float,
        flag: tuple[bool, str],
        updated_at: str,
        now: str,
    ) -> Applied:
        created = not issue.ticket_ids
        issue.ticket_ids.append(ticket_id)
        self.tickets[ticket_id] = TicketRecord(
            issue_id=issue.issue_id,
            confidence=round(float(confidence), 4),
            flagged=flag[0],
            reviewed=False,
            reason=flag[1],
            updated_at=updated_at,
            decided_at=now,
            answer=answer.to_dict() if answer else None,
        )
        self._refresh(issue, now)
        return Applied(ticket_id, issue.issue_id, created, flag[0], issue.provisional)

    def _new_issue(self, answer: Answer, *, provisional: bool, updated_at: str, now: str) -> Issue:
        issue_id = f"ISS-{self.next_issue_number:04d}"
        self.next_issue_number += 1
        issue = Issue(
            issue_id=issue_id,
            category=answer.category.strip() or UNCLASSIFIED,
            keywords=_dedupe(answer.keywords)[:MAX_KEYWORDS],
            root_cause=answer.root_cause.strip(),
            resolution_steps=[s.strip() for s in answer.resolution_steps if s.strip()],
            ticket_ids=[],
            provisional=provisional,
            first_seen=updated_at,
            last_seen=updated_at,
            created_at=now,
            updated_at=now,
        )
        self.issues[issue_id] = issue
        return issue

    def _refresh(self, issue: Issue, now: str) -> None:
        """Recompute the fields derived from the issue's tickets: keywords and seen dates."""
        records = [self.tickets[t] for t in sorted(issue.ticket_ids) if t in self.tickets]
        member_keywords = [(r.answer or {}).get("keywords") or [] for r in records]
        issue.keywords = rank_keywords(issue.keywords, member_keywords)
        dates = [r.updated_at for r in records if r.updated_at]
        if dates:
            issue.first_seen, issue.last_seen = min(dates), max(dates)
        issue.updated_at = now

    # ---- review ---------------------------------------------------------------------------------

    def move_ticket(self, ticket_id: int, target_issue_id: str, now: str) -> None:
        """Move a ticket to another issue as a reviewer's decision."""
        if target_issue_id not in self.issues:
            raise UsageError(f"issue {target_issue_id} does not exist: use an issue id from the DB")
        record = self.tickets[ticket_id]
        if record.issue_id != target_issue_id:
            self.remove_ticket(ticket_id, now)
            self.tickets[ticket_id] = record
            record.issue_id = target_issue_id
            target = self.issues[target_issue_id]
            target.ticket_ids.append(ticket_id)
            self._refresh(target, now)
        self._mark_reviewed(record, now)

    def confirm_ticket_issue(self, ticket_id: int, now: str) -> str:
        """Confirm the ticket's provisional issue, or split the ticket into a new confirmed issue."""
        record = self.tickets[ticket_id]
        issue = self.issues[record.issue_id]
        if issue.provisional:
            issue.provisional = False
            issue.updated_at = now
        elif len(issue.ticket_ids) > 1:
            answer = _answer_from(record.answer, issue)
            self.remove_ticket(ticket_id, now)
            issue = self._new_issue(answer, provisional=False, updated_at=record.updated_at, now=now)
            self.tickets[ticket_id] = record
            record.issue_id = issue.issue_id
            issue.ticket_ids.append(ticket_id)
            self._refresh(issue, now)
        self._mark_reviewed(record, now)
        return issue.issue_id

    def merge(self, keep_id: str, other_id: str, now: str) -> None:
        """Merge issue `other_id` into `keep_id`; the kept issue keeps its names."""
        for issue_id in (keep_id, other_id):
            if issue_id not in self.issues:
                raise UsageError(f"issue {issue_id} does not exist: use issue ids from the DB to --merge")
        if keep_id == other_id:
            raise UsageError(f"--merge needs two different issues, got {keep_id} twice")
        keep, other = self.issues[keep_id], self.issues.pop(other_id)
        for ticket_id in other.ticket_ids:
            self.tickets[ticket_id].issue_id = keep_id
            keep.ticket_ids.append(ticket_id)
        keep.provisional = keep.provisional and other.provisional
        self._refresh(keep, now)
        self.history.append(
            {"at": now, "action": "merge", "details": {"kept": keep_id, "merged": other_id,
                                                      "ticket_ids": sorted(other.ticket_ids)}}
        )

    def _mark_reviewed(self, record: TicketRecord, now: str) -> None:
        record.reviewed = True
        record.flagged = False
        record.decided_at = now


def rank_keywords(own: list[str], member_keywords: Iterable[list[str]]) -> list[str]:
    """The union of the tickets' keywords ranked by how many use them, at most 10.

    Ties keep the issue's current order first, so a ranking only changes when the counts do.
    """
    counts: Counter[str] = Counter()
    display: dict[str, str] = {}
    order: dict[str, int] = {}
    for keyword in _dedupe(own):
        display.setdefault(keyword.casefold(), keyword)
        order.setdefault(keyword.casefold(), len(order))
    for keywords in member_keywords:
        for keyword in _dedupe(keywords):
            key = keyword.casefold()
            counts[key] += 1
            display.setdefault(key, keyword)
            order.setdefault(key, len(order))
    if not counts:
        return _dedupe(own)[:MAX_KEYWORDS]
    ranked = sorted(counts, key=lambda k: (-counts[k], order[k]))
    return [display[k] for k in ranked[:MAX_KEYWORDS]]


def _dedupe(keywords: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    result = []
    for keyword in keywords:
        keyword = str(keyword).strip()
        if keyword and keyword.casefold() not in seen:
            seen.add(keyword.casefold())
            result.append(keyword)
    return result


def _answer_from(answer: dict[str, Any] | None, issue: Issue) -> Answer:
    answer = answer or {}
    return Answer(
        issue_id=None,
        category=str(answer.get("category") or issue.category),
        keywords=list(answer.get("keywords") or issue.keywords),
        root_cause=str(answer.get("root_cause") or ""),
        resolution_steps=list(answer.get("resolution_steps") or []),
        confidence=float(answer.get("confidence") or 0.0),
        notes=str(answer.get("notes") or ""),
    )


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


# ---- side files ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SideFiles:
    """The files that live beside a DB (SPEC: --output)."""

    db: Path
    checkpoint: Path
    flagged_csv: Path
    report: Path
    lock: Path

    @classmethod
    def for_db(cls, db: Path) -> SideFiles:
        db = Path(db)
        stem = db.stem
        if db.name == "silo_issues_db.json":
            flagged, report = "flagged_for_review.csv", "report.html"
        else:
            flagged, report = f"{stem}.flagged_for_review.csv", f"{stem}.report.html"
        return cls(
            db=db,
            checkpoint=db.with_name(f"{stem}.tmp.json"),
            flagged_csv=db.with_name(flagged),
            report=db.with_name(report),
            lock=db.with_name(f"{stem}.lock"),
        )


def load_for_run(files: SideFiles, embedding_model: str) -> tuple[IssueDB, bool]:
    """The DB to continue from: an interrupted run's checkpoint, else the DB, else a new one."""
    for path, resumed in ((files.checkpoint, True), (files.db, False)):
        if not path.exists():
            continue
        db = IssueDB.load(path)
        if db.embedding_model and db.embedding_model != embedding_model:
            raise UsageError(
                f"{path} was built with embeddings from {db.embedding_model}, not {embedding_model}: "
                "use the same embedding settings, or a new --output"
            )
        return db, resumed
    return IssueDB(embedding_model=embedding_model), False


def save_final(db: IssueDB, files: SideFiles) -> None:
    """Finish a run: the final state goes to the checkpoint, which is then renamed over the DB.

    A kill at any moment leaves either the checkpoint to resume from or the finished DB, never a
    finished DB beside a stale checkpoint that a re-run would resume from.
    """
    try:
        write_text_atomic(files.checkpoint, dumps_deterministic(db.to_dict()))
        os.replace(files.checkpoint, files.db)
        fsync_dir(files.db.parent)
    except OSError as exc:
        raise cannot_write(files.db, exc) from exc


def cannot_write(path: Path, exc: OSError) -> DatabaseError:
    return DatabaseError(
        f"cannot write {path} ({exc.strerror or exc}): free disk space or choose a writable "
        "--output; the previous file was left as it is"
    )


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
        raise DatabaseError(
            f"cannot read {path} ({_short(exc)}): save it as UTF-8 CSV and try again"
        ) from exc
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("ticket_id", "decision") if c not in (reader.fieldnames or [])]
    if missing:
        raise UsageError(
            f"{path} has no {' or '.join(missing)} column: use the flagged_for_review.csv the tool wrote"
        )
    return list(reader)


def render_flagged_csv(
    db: IssueDB,
    *,
    ticket_url: Callable[[int], str],
    subjects: Mapping[int, str],
    carried_decisions: Mapping[int, str],
) -> str:
    """One row per flagged, unreviewed ticket, keeping decisions a reviewer already typed."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for ticket_id in db.flagged_pending():
        record = db.tickets[ticket_id]
        issue = db.issues[record.issue_id]
        row = [
            ticket_id,
            ticket_url(ticket_id),
            subjects.get(ticket_id, ""),
            record.issue_id,
            record.suggested_issue_id,
            issue.category,
            f"{record.confidence:.2f}",
            record.reason,
            carried_decisions.get(ticket_id, ""),
        ]
        writer.writerow([defuse_cell(cell) for cell in row])
    return out.getvalue()


def write_flagged_csv(path: Path, db: IssueDB, *, ticket_url: Callable[[int], str],
                      subjects: Mapping[int, str]) -> int:
    """Rewrite the CSV atomically; returns the number of rows."""
    carried = read_review_decisions(path) if Path(path).exists() else {}
    text = render_flagged_csv(db, ticket_url=ticket_url, subjects=subjects, carried_decisions=carried)
    write_text_atomic(path, text)
    return len(db.flagged_pending())


@dataclass(frozen=True)
class ReviewResult:
    applied: int
    pending: int
    changes: list[dict[str, Any]]


def apply_review(db: IssueDB, csv_path: Path, now: str) -> ReviewResult:
    """Apply reviewers' decisions from a flagged CSV to the DB (in memory; the caller saves)."""
    rows = _read_csv_rows(csv_path)
    changes: list[dict[str, Any]] = []
    pending = 0
    problems = []
    plan: list[tuple[int, str]] = []
    for line, row in enumerate(rows, start=2):
        ticket_text = undefuse_cell(row.get("ticket_id") or "").strip()
        decision = undefuse_cell(row.get("decision") or "").strip()
        if not decision:
            pending += 1
            continue
        if not ticket_text.isdigit() or int(ticket_text) not in db.tickets:
            problems.append(f"line {line}: ticket {ticket_text!r} is not in the DB")
            continue
        normalized = decision.lower()
        if normalized not in ("accept", "new") and not _ISSUE_ID.match(decision.upper()):
            problems.append(f"line {line}: decision {decision!r} is not accept, new or an issue id")
            continue
        if _ISSUE_ID.match(decision.upper()) and decision.upper() not in db.issues:
            problems.append(f"line {line}: issue {decision} does not exist")
            continue
        plan.append((int(ticket_text), decision))
    if problems:
        raise UsageError(f"{csv_path}: {'; '.join(problems[:5])}: fix the decision column and run again")
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
        change = {"ticket_id": ticket_id, "decision": decision, "from": before,
                  "to": db.tickets[ticket_id].issue_id}
        changes.append(change)
    if changes:
        db.history.append({"at": now, "action": "review", "details": {"source": str(csv_path),
                                                                      "changes": changes}})
    return ReviewResult(applied=len(changes), pending=pending, changes=changes)
