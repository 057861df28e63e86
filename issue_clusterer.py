"""The issue DB: issues, ticket decisions, dedup/merge, checkpoints and the files beside the DB."""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from atomic_io import dumps_deterministic, fsync_dir, write_text_atomic
from conversation_utils import EMBEDDED_TEXT
from errors import (
    DatabaseWriteError,
    EmbeddingModelMismatch,
    UnknownIssueError,
    UnreadableDatabaseError,
    UsageError,
)
from records import Answer, Candidate, HistoryEntry, JSONObject, Outcome, RunRecord

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
MAX_KEYWORDS = 10
UNCLASSIFIED = "Unclassified"


def issue_id_for(number: int) -> str:
    """The id of the `number`-th issue a DB creates: ISS-0001, ISS-0002, ..."""
    return f"ISS-{number:04d}"


def issue_number(issue_id: str) -> int:
    """The number in an issue id (ISS-0042 -> 42)."""
    return int(issue_id.rsplit("-", 1)[1])


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
    # Ids of issues merged into this one; they resolve to it (SPEC: Issue DB).
    aliases: list[str] = field(default_factory=list)

    def text(self) -> str:
        """The issue's own words, as embedded to represent it among candidates."""
        return issue_text(self.category, self.keywords, self.root_cause)

    def as_candidate(self, similarity: float) -> Candidate:
        """The issue as the classifier is offered it."""
        return Candidate(self.issue_id, self.category, list(self.keywords), self.root_cause, float(similarity))


@dataclass
class TicketRecord:
    issue_id: str
    confidence: float
    flagged: bool
    reviewed: bool
    reason: str
    updated_at: str
    decided_at: str
    answer: Answer | None

    @property
    def suggested_issue_id(self) -> str:
        """The model's choice when it differs from where the ticket sits (for review)."""
        suggested = (self.answer.issue_id if self.answer else None) or ""
        return "" if suggested == self.issue_id else suggested

    def to_dict(self) -> JSONObject:
        data: JSONObject = dict(vars(self))
        data["answer"] = self.answer.to_dict() if self.answer else None
        return data

    @classmethod
    def from_dict(cls, raw: JSONObject) -> TicketRecord:
        values = {name: raw[name] for name in cls.__dataclass_fields__}
        answer = values["answer"]
        values["answer"] = Answer.from_dict(answer) if isinstance(answer, dict) else None
        return cls(**values)  # type: ignore[arg-type]


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
    # What the tickets' vectors stand for (conversation_utils.EMBEDDED_TEXT); "" before it was recorded.
    embedding_text: str = ""
    next_issue_number: int = 1
    issues: dict[str, Issue] = field(default_factory=dict)
    tickets: dict[int, TicketRecord] = field(default_factory=dict)
    runs: list[RunRecord] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    # Pairs of issues consolidation asked about and did not merge: pending review, rejected, or different.
    merge_suggestions: list[MergeSuggestion] = field(default_factory=list)

    # ---- reading and writing -------------------------------------------------------------

    @classmethod
    def load(cls, path: Path) -> IssueDB:
        """Read a DB file; one that cannot be read is an UnreadableDatabaseError naming it, never overwritten."""
        fix = "restore it from a backup, or use another DB file; the file was left as it is"
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UnreadableDatabaseError(f"cannot read the issue DB {path} ({_short(exc)})", fix) from exc
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UnreadableDatabaseError(
                f"the issue DB {path} is not in the expected format ({_short(exc)})", fix
            ) from exc

    @classmethod
    def from_dict(cls, data: JSONObject) -> IssueDB:
        if not isinstance(data, dict):
            raise ValueError("top level is not an object")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(f"schema_version {version!r}, expected {SCHEMA_VERSION}")
        issues = {}
        for raw in data["issues"]:
            # Files written before consolidation have no aliases.
            issue = Issue(**{name: raw[name] for name in Issue.__dataclass_fields__ if name != "aliases"},
                          aliases=[str(a) for a in raw.get("aliases", [])])
            issue.ticket_ids = [int(t) for t in issue.ticket_ids]
            issues[issue.issue_id] = issue
        tickets = {int(ticket_id): TicketRecord.from_dict(raw) for ticket_id, raw in data["tickets"].items()}
        db = cls(
            embedding_model=str(data.get("embedding_model", "")),
            embedding_text=str(data.get("embedding_text", "")),
            next_issue_number=int(data["next_issue_number"]),
            issues=issues,
            tickets=tickets,
            runs=[RunRecord.from_dict(run) for run in data.get("runs", [])],
            history=[HistoryEntry.from_dict(entry) for entry in data.get("history", [])],
            merge_suggestions=[MergeSuggestion.from_dict(s) for s in data.get("merge_suggestions", [])],
        )
        db.check_consistency()
        return db

    def to_dict(self) -> JSONObject:
        # Shallow copies (vars, not asdict's deep copy): a 10,000-ticket DB is checkpointed often.
        issues = []
        for issue_id in sorted(self.issues):
            record = dict(vars(self.issues[issue_id]))
            record["ticket_ids"] = sorted(record["ticket_ids"])
            issues.append(record)
        return {
            "schema_version": SCHEMA_VERSION,
            "embedding_model": self.embedding_model,
            "embedding_text": self.embedding_text,
            "next_issue_number": self.next_issue_number,
            "issues": issues,
            "tickets": {str(t): self.tickets[t].to_dict() for t in sorted(self.tickets)},
            "runs": [run.to_dict() for run in self.runs],
            "history": [entry.to_dict() for entry in self.history],
            "merge_suggestions": [s.to_dict() for s in sorted(self.merge_suggestions, key=MergeSuggestion.order)],
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

    def confirmed_issues(self) -> list[Issue]:
        return [self.issues[i] for i in sorted(self.issues) if not self.issues[i].provisional]

    def newest_updated_at(self) -> str | None:
        dates = [record.updated_at for record in self.tickets.values() if record.updated_at]
        return max(dates) if dates else None

    def flagged_pending(self) -> list[int]:
        return sorted(t for t, r in self.tickets.items() if r.flagged and not r.reviewed)

    def issues_created_since(self, number: int) -> list[str]:
        """The confirmed issues this DB created from issue number `number` on, oldest first."""
        ids = (issue_id_for(n) for n in range(number, self.next_issue_number))
        return [i for i in ids if i in self.issues and not self.issues[i].provisional]

    def log(self, now: str, action: str, details: JSONObject) -> None:
        """Record a change in `history`."""
        self.history.append(HistoryEntry(now, action, details))

    # ---- decisions ---------------------------------------------------------------------------

    def apply(
        self,
        outcome: Outcome,
        *,
        threshold: float | None,
        updated_at: str,
        now: str,
    ) -> Applied:
        """Apply one classifier outcome following SPEC's decision table.

        `threshold` None: the classifier's confidence is not a model's (offline), so it never makes
        a decision provisional.
        """
        ticket_id = outcome.ticket_id
        if ticket_id in self.tickets:
            raise ValueError(f"ticket {ticket_id} is already decided; remove it before reclassifying")
        answer = outcome.answer
        if answer is None:
            answer = Answer(None, UNCLASSIFIED, [], "", [], 0.0, "")
            issue = self._new_issue(answer, provisional=True, updated_at=updated_at, now=now)
            reason = "; ".join(r for r in (outcome.reason, outcome.doubt) if r)
            return self._record(ticket_id, issue, None, 0.0, (True, reason), updated_at, now)
        flag = (bool(outcome.flag_reason), outcome.flag_reason)
        unsure = threshold is not None and answer.confidence < threshold
        if unsure or outcome.doubt:
            # An answer in doubt waits for review like an unsure one: its own provisional issue, the
            # model's choice as the suggestion.
            issue = self._new_issue(answer, provisional=True, updated_at=updated_at, now=now)
            below = f"confidence {answer.confidence:.2f} below threshold {threshold:.2f}" if unsure else ""
            flag = (True, "; ".join(r for r in (below, outcome.doubt) if r))
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
            answer=answer,
        )
        self._refresh(issue, now)
        return Applied(ticket_id, issue.issue_id, created, flag[0], issue.provisional)

    def _new_issue(self, answer: Answer, *, provisional: bool, updated_at: str, now: str) -> Issue:
        issue_id = issue_id_for(self.next_issue_number)
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
        member_keywords = [r.answer.keywords if r.answer else [] for r in records]
        issue.keywords = rank_keywords(issue.keywords, member_keywords)
        dates = [r.updated_at for r in records if r.updated_at]
        if dates:
            issue.first_seen, issue.last_seen = min(dates), max(dates)
        issue.updated_at = now

    # ---- review ---------------------------------------------------------------------------------

    def move_ticket(self, ticket_id: int, target_issue_id: str, now: str) -> None:
        """Move a ticket to another issue as a reviewer's decision."""
        self._known(target_issue_id)
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
            answer = _split_answer(record.answer, issue)
            self.remove_ticket(ticket_id, now)
            issue = self._new_issue(answer, provisional=False, updated_at=record.updated_at, now=now)
            self.tickets[ticket_id] = record
            record.issue_id = issue.issue_id
            issue.ticket_ids.append(ticket_id)
            self._refresh(issue, now)
        self._mark_reviewed(record, now)
        return issue.issue_id

    def merge(self, keep_id: str, other_id: str, now: str, *, action: str | None = "merge",
              details: JSONObject | None = None) -> None:
        """Merge issue `other_id` into `keep_id`: the kept issue keeps its names, and `other_id` (with its own
        aliases) becomes an alias of it. `action` names the change in `history` (None: not recorded, for
        issues no run has shown anyone yet)."""
        for issue_id in (keep_id, other_id):
            self._known(issue_id)
        if keep_id == other_id:
            raise UsageError(f"cannot merge {keep_id} into itself", "name two different issues")
        keep, other = self.issues[keep_id], self.issues.pop(other_id)
        for ticket_id in other.ticket_ids:
            self.tickets[ticket_id].issue_id = keep_id
            keep.ticket_ids.append(ticket_id)
        keep.provisional = keep.provisional and other.provisional
        if action is not None:
            keep.aliases = sorted({*keep.aliases, other_id, *other.aliases})
            self.log(now, action, {"kept": keep_id, "merged": other_id, "ticket_ids": sorted(other.ticket_ids),
                                   **(details or {})})
        self._refresh(keep, now)

    def renumber(self, mapping: dict[str, str]) -> None:
        """Give issues new ids (old -> new), for issues a run started and no output has shown yet;
        `next_issue_number` follows the highest id."""
        issues = {mapping.get(i, i): issue for i, issue in self.issues.items()}
        if len(issues) != len(self.issues):
            raise ValueError("renumbering would give two issues one id")
        for new in mapping.values():
            issues[new].issue_id = new
            for ticket_id in issues[new].ticket_ids:
                self.tickets[ticket_id].issue_id = new
        self.issues = issues
        self.next_issue_number = max([0, *map(issue_number, self.issues)]) + 1

    def resolve(self, issue_id: str) -> str | None:
        """The issue an id names now: itself, or the issue it was merged into; None when it is gone."""
        if issue_id in self.issues:
            return issue_id
        return next((i.issue_id for i in self.issues.values() if issue_id in i.aliases), None)

    def pair_settled(self, first: str, second: str) -> bool:
        """True when consolidation already asked about these two issues and did not merge them."""
        pair = {first, second}
        return any({s.keep_issue_id, s.other_issue_id} == pair for s in self.merge_suggestions)

    def _known(self, issue_id: str) -> None:
        if issue_id not in self.issues:
            raise UnknownIssueError(f"issue {issue_id} does not exist", "use an issue id from the DB")

    def _mark_reviewed(self, record: TicketRecord, now: str) -> None:
        record.reviewed = True
        record.flagged = False
        record.decided_at = now


@dataclass
class MergeSuggestion:
    """A pair consolidation did not merge: `pending` (the model was unsure: a reviewer decides), `rejected`
    (a reviewer said no) or `different` (the model said no). None of them is asked about again."""

    keep_issue_id: str
    other_issue_id: str
    confidence: float
    reason: str
    status: str
    at: str

    def order(self) -> tuple[str, str]:
        return (self.keep_issue_id, self.other_issue_id)

    def to_dict(self) -> JSONObject:
        return dict(vars(self))

    @classmethod
    def from_dict(cls, raw: JSONObject) -> MergeSuggestion:
        return cls(**{name: raw[name] for name in cls.__dataclass_fields__})  # type: ignore[arg-type]


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


def _split_answer(answer: Answer | None, issue: Issue) -> Answer:
    """The fields of a new issue split off for one ticket: its own answer, the issue's names where it has none."""
    answer = answer or Answer(None, "", [], "", [], 0.0)
    return replace(answer, issue_id=None, category=answer.category or issue.category,
                   keywords=list(answer.keywords or issue.keywords))


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


# ---- side files ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SideFiles:
    """The files that live beside a DB (SPEC: --output)."""

    db: Path
    checkpoint: Path
    flagged_csv: Path
    merge_csv: Path
    report: Path
    lock: Path

    @classmethod
    def for_db(cls, db: Path) -> SideFiles:
        db = Path(db)
        stem = db.stem
        if db.name == "silo_issues_db.json":
            flagged, merges, report = "flagged_for_review.csv", "merge_suggestions.csv", "report.html"
        else:
            flagged, merges, report = (f"{stem}.flagged_for_review.csv", f"{stem}.merge_suggestions.csv",
                                       f"{stem}.report.html")
        return cls(
            db=db,
            checkpoint=db.with_name(f"{stem}.tmp.json"),
            flagged_csv=db.with_name(flagged),
            merge_csv=db.with_name(merges),
            report=db.with_name(report),
            lock=db.with_name(f"{stem}.lock"),
        )


def check_embedding_model(db: IssueDB, path: Path, embedding_model: str) -> None:
    """Refuse a DB whose vectors came from another embedding model: similarities would be meaningless."""
    if db.embedding_model and db.embedding_model != embedding_model:
        raise EmbeddingModelMismatch(
            f"{path} was built with embeddings from {db.embedding_model}, not {embedding_model}",
            "use the same embedding settings, or another DB file",
        )


def load_for_run(files: SideFiles, embedding_model: str,
                 embedding_text: str = EMBEDDED_TEXT) -> tuple[IssueDB, bool]:
    """The DB to continue from: an interrupted run's checkpoint, else the DB, else a new one.

    A DB whose vectors stood for other text (`embedding_text`) is taken as it is: the run re-embeds its
    tickets from their stored conversations when it indexes them.
    """
    for path, resumed in ((files.checkpoint, True), (files.db, False)):
        if not path.exists():
            continue
        db = IssueDB.load(path)
        check_embedding_model(db, path, embedding_model)
        if db.embedding_text != embedding_text:
            if db.tickets:
                log.info("%s was embedded by %s; re-embedding its tickets by %s", path,
                         db.embedding_text or "whole threads", embedding_text)
            db.embedding_text = embedding_text
        return db, resumed
    return IssueDB(embedding_model=embedding_model, embedding_text=embedding_text), False


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


def cannot_write(path: Path, exc: OSError) -> DatabaseWriteError:
    return DatabaseWriteError(
        f"cannot write {path} ({exc.strerror or exc})",
        "free disk space or choose a writable place for the DB; the previous file was left as it is",
    )
