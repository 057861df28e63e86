"""`--issues`: the DB's issues as rows for a terminal or a script, sorted by tickets, growth or recency."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from issue_clusterer import IssueDB
from issue_trends import windows
from records import JSONObject
from report_time import parse_time

NAME_WIDTH = 48


@dataclass(frozen=True)
class IssueRow:
    """One issue as the table shows it: `last_4_weeks` against `previous_4_weeks` makes the trend."""

    issue_id: str
    name: str
    tickets: int
    last_4_weeks: int
    previous_4_weeks: int
    provisional: bool
    last_seen: str

    @property
    def growth(self) -> int:
        return self.last_4_weeks - self.previous_4_weeks

    @property
    def trend(self) -> str:
        if self.last_4_weeks and not self.previous_4_weeks:
            return "new" if self.tickets == self.last_4_weeks else "back"
        if self.growth > 0:
            return f"up +{self.growth}"
        if self.growth < 0:
            return f"down {self.growth}"
        return "steady" if self.last_4_weeks else "quiet"

    def to_dict(self) -> JSONObject:
        return {**asdict(self), "growth": self.growth, "trend": self.trend}


def issue_rows(db: IssueDB, at: datetime) -> list[IssueRow]:
    """Every issue with its tickets in the 4 weeks up to `at` and the 4 weeks before (`issue_trends.anchor_for`
    picks `at` as the report does: now, or the newest ticket of a historical desk)."""
    rows = []
    for issue in db.issues.values():
        recent, previous = windows((db.tickets[t].updated_at for t in issue.ticket_ids if t in db.tickets), at)
        rows.append(IssueRow(issue.issue_id, issue.category, len(issue.ticket_ids), recent, previous,
                             issue.provisional, issue.last_seen or ""))
    return rows


def sort_rows(rows: list[IssueRow], by: str, top: int | None = None) -> list[IssueRow]:
    """By `tickets`, `growth` or `recency` (last ticket), biggest first; ties by issue id."""
    keys = {
        "tickets": lambda row: (-row.tickets, -row.last_4_weeks, row.issue_id),
        "growth": lambda row: (-row.growth, -row.last_4_weeks, row.issue_id),
        "recency": lambda row: (_minus(row.last_seen), row.issue_id),
    }
    ordered = sorted(rows, key=keys[by])
    return ordered[:top] if top is not None else ordered


def _minus(stamp: str) -> float:
    when = parse_time(stamp) if stamp else None
    return -when.timestamp() if when is not None else float("inf")


def format_table(rows: list[IssueRow], total: int, weeks_note: str = "") -> str:
    """A fixed-width table; the last line says how many issues of how many are shown, and how weeks count."""
    if not rows:
        return "No issues in the DB yet."
    header = ("id", "name", "tickets", "last 4 wk", "trend", "provisional")
    lines = [(row.issue_id, _cut(row.name), str(row.tickets), str(row.last_4_weeks), row.trend,
              "yes" if row.provisional else "") for row in rows]
    widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header))]
    right = {2, 3}

    def render(cells: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    shown = f"{len(rows)} of {total} issues" if len(rows) < total else f"{total} issue{'s' if total != 1 else ''}"
    footer = f"{shown}; {weeks_note}" if weeks_note else shown
    return "\n".join([render(header), *(render(cells) for cells in lines), footer])


def _cut(name: str) -> str:
    name = " ".join(name.split())
    return name if len(name) <= NAME_WIDTH else name[: NAME_WIDTH - 1] + "…"
