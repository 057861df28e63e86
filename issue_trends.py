"""What a support lead acts on first: issues ranked by recent tickets and growth, new and growing issues.

Weeks are counted back from an anchor: now, or the newest ticket in the DB when that is older (a
historical desk such as the demo), so a desk that stopped last month does not show only zeros.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from issue_clusterer import Issue, IssueDB, TicketRecord
from report_time import as_utc, parse_time

WINDOW_WEEKS = 4
TOP_ISSUES = 5
NEW_SHOWN = 8
_WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Anchor:
    """The moment weeks are counted back from, and whether it is the newest ticket rather than now."""

    at: datetime
    from_newest_ticket: bool

    def describe(self) -> str:
        day = f"{self.at:%Y-%m-%d}"
        if self.from_newest_ticket:
            return f"weeks counted back from the newest ticket in the DB ({day}), which is older than today"
        return f"weeks counted back from today ({day})"


@dataclass(frozen=True)
class Trend:
    """An issue's tickets in the last window and in the window before it."""

    issue: Issue
    recent: int
    previous: int

    @property
    def growth(self) -> int:
        return self.recent - self.previous

    def describe(self) -> str:
        sign = "+" if self.growth > 0 else ""
        return f"{self.recent} in the last {WINDOW_WEEKS} weeks ({sign}{self.growth} vs the {WINDOW_WEEKS} before)"


def anchor_for(tickets: Mapping[int, TicketRecord], now: datetime) -> Anchor:
    """`now`, or the newest ticket's time when every ticket is older than the last week before `now`."""
    now = as_utc(now)
    times = [t for t in (parse_time(r.updated_at) for r in tickets.values()) if t is not None and t <= now]
    newest = max(times, default=None)
    if newest is not None and now - newest > _WEEK:
        return Anchor(newest, True)
    return Anchor(now, False)


def trends(db: IssueDB, anchor: Anchor, weeks: int = WINDOW_WEEKS) -> list[Trend]:
    """Every confirmed issue's trend, most recent tickets first, then growth, then size."""
    result = []
    for issue in db.confirmed_issues():
        recent, previous = windows((db.tickets[t].updated_at for t in issue.ticket_ids if t in db.tickets),
                                    anchor.at, weeks)
        result.append(Trend(issue, recent, previous))
    return sorted(result, key=lambda t: (-t.recent, -t.growth, -len(t.issue.ticket_ids), t.issue.issue_id))


def top_issues(ranked: list[Trend], limit: int = TOP_ISSUES) -> list[Trend]:
    """The issues with most tickets lately; one-ticket issues only when nothing else is there."""
    recurring = [t for t in ranked if len(t.issue.ticket_ids) > 1 and t.recent]
    return (recurring or [t for t in ranked if t.recent] or ranked)[:limit]


def growing(ranked: list[Trend], limit: int = TOP_ISSUES) -> list[Trend]:
    """The issues that grew most against the window before (growth of at least 2 tickets)."""
    grew = [t for t in ranked if t.growth >= 2]
    return sorted(grew, key=lambda t: (-t.growth, -t.recent, t.issue.issue_id))[:limit]


def windows(updated_ats: Iterable[str], anchor: datetime, weeks: int = WINDOW_WEEKS) -> tuple[int, int]:
    """How many of the stamps fall in the `weeks` up to `anchor`, and in the `weeks` before those."""
    recent = previous = 0
    span = _WEEK * weeks
    for text in updated_ats:
        when = parse_time(text)
        if when is None or when > anchor:
            continue
        if anchor - when < span:
            recent += 1
        elif anchor - when < 2 * span:
            previous += 1
    return recent, previous
