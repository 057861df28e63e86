"""A Markdown digest beside the report: top, new and growing issues and the review queue, ready to paste."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

from atomic_io import write_text_atomic
from issue_clusterer import IssueDB
from issue_trends import NEW_SHOWN, Trend, anchor_for, growing, top_issues, trends

logger = logging.getLogger(__name__)


def digest_path(report: Path) -> Path:
    """`digest.md` beside `report.html`, `<stem>.digest.md` beside `<stem>.report.html`."""
    name = report.name
    stem = name[: -len(".report.html")] if name.endswith(".report.html") else ""
    return report.with_name(f"{stem}.digest.md" if stem else "digest.md")


def render_digest(db: IssueDB, *, report_name: str, now: datetime | None = None) -> str:
    """The digest's Markdown; links point at the report's issue anchors."""
    anchor = anchor_for(db.tickets, now or datetime.now(timezone.utc))
    ranked = trends(db, anchor)
    by_id = {t.issue.issue_id: t for t in ranked}
    run = db.runs[-1] if db.runs else None
    fresh = [by_id[i] for i in (run.summary.new_issue_ids or []) if i in by_id] if run else []
    lines = [f"# Recurring issues, week of {anchor.at:%Y-%m-%d}", "",
             f"{len(db.issues)} issues, {len(db.tickets)} tickets; {anchor.describe()}. "
             f"Full report: [{report_name}]({report_name})", ""]
    lines += _block("Top issues", top_issues(ranked), report_name, len(ranked))
    lines += _block("New in this run", fresh, report_name, NEW_SHOWN)
    lines += _block("Growing fastest", growing(ranked), report_name, NEW_SHOWN)
    flagged = sum(1 for r in db.tickets.values() if r.flagged and not r.reviewed)
    provisional = sum(1 for i in db.issues.values() if i.provisional)
    merges = sum(1 for s in db.merge_suggestions if s.status == "pending")
    lines += ["## Review queue", "",
              f"- {flagged} flagged decisions, {provisional} provisional issues, {merges} merge suggestions "
              f"([review queue]({report_name}#review))", ""]
    return "\n".join(lines)


def write_digest(report: Path, db: IssueDB, *, now: datetime | None = None) -> Path:
    """Write the digest beside `report` atomically; returns its path."""
    path = digest_path(report)
    write_text_atomic(path, render_digest(db, report_name=report.name, now=now))
    logger.info("wrote digest %s", path)
    return path


def _block(title: str, items: list[Trend], report_name: str, limit: int) -> list[str]:
    lines = [f"## {title}", ""]
    if not items:
        return [*lines, "- none", ""]
    for trend in items[:limit]:
        issue = trend.issue
        name = _markdown_text(issue.category)
        lines.append(f"- [{issue.issue_id}]({report_name}#{issue.issue_id}) {name}: {trend.describe()}")
    if len(items) > limit:
        lines.append(f"- and {len(items) - limit} more")
    return [*lines, ""]


def _markdown_text(text: str) -> str:
    """Ticket-derived text as plain Markdown: no links, images, HTML or formatting it did not ask for."""
    for char in "\\`*_[]()<>#!|":
        text = text.replace(char, f"\\{char}")
    return " ".join(text.split())
