"""`--issues`: the DB's issues as rows for a terminal or a script, sorted by tickets, growth or recency."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

from issue_clusterer import IssueDB
from records import JSONObject

WINDOW = timedelta(weeks=4)
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


def _parse(stamp: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def issue_rows(db: IssueDB, now: datetime) -> list[IssueRow]:
    """Every issue with its ticket counts in the 4 weeks up to `now` and the 4 weeks before."""
    rows = []
    for issue in db.issues.values():
        recent = previous = 0
        for ticket_id in issue.ticket_ids:
            record = db.tickets.get(ticket_id)
            when = _parse(record.updated_at) if record is not None and record.updated_at else None
            if when is None or when > now:
                continue
            if now - when < WINDOW:
                recent += 1
            elif now - when < 2 * WINDOW:
                previous += 1
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
    when = _parse(stamp) if stamp else None
    return -when.timestamp() if when is not None else float("inf")


def format_table(rows: list[IssueRow], total: int) -> str:
    """A fixed-width table; the last line says how many issues of how many are shown."""
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
    return "\n".join([render(header), *(render(cells) for cells in lines), shown])


def _cut(name: str) -> str:
    name = " ".join(name.split())
    return name if len(name) <= NAME_WIDTH else name[: NAME_WIDTH - 1] + "…"
