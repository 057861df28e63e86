"""The report's sections a lead acts on: what to fix first, themes, and the review queue with its commands."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from issue_clusterer import Issue, IssueDB, SideFiles, TicketRecord
from issue_trends import NEW_SHOWN, Trend, growing, top_issues
from records import TicketInfo
from themes import Theme

EXAMPLES = 3


def is_extracted(issue: Issue, tickets: Mapping[int, TicketRecord]) -> bool:
    """Whether the root cause and steps were taken from agents' replies (offline), not written by a model."""
    answers = [tickets[t].answer for t in issue.ticket_ids if t in tickets and tickets[t].answer is not None]
    return bool(issue.root_cause) and not any(a.root_cause for a in answers if a is not None)


def source_label(issue: Issue, tickets: Mapping[int, TicketRecord]) -> str:
    if is_extracted(issue, tickets):
        return ' <span class="src">extracted from agents\' replies</span>'
    return ' <span class="src">written by the model</span>' if issue.root_cause else ""


def lead_section(db: IssueDB, ranked: list[Trend], new_ids: list[str], info: Mapping[int, TicketInfo]) -> str:
    """Top issues as cards, then the new and the fastest-growing ones as short lists."""
    top = top_issues(ranked)
    cards = "".join(_top_card(t, db.tickets, info) for t in top)
    by_id = {t.issue.issue_id: t for t in ranked}
    fresh = [by_id[i] for i in new_ids if i in by_id]
    grew = growing(ranked)
    return (
        '<section id="fix"><h2>What to fix first</h2>'
        + (f'<div class="tops">{cards}</div>' if cards else '<p class="none">No confirmed issues yet.</p>')
        + '<div class="lists">'
        + _short_list("New in this run", fresh, NEW_SHOWN, "No new issues in this run.")
        + _short_list("Growing fastest", grew, NEW_SHOWN, "No issue grew against the weeks before.")
        + "</div></section>"
    )


def _top_card(trend: Trend, tickets: Mapping[int, TicketRecord], info: Mapping[int, TicketInfo]) -> str:
    issue = trend.issue
    steps = "".join(f"<li>{escape(s)}</li>" for s in issue.resolution_steps[:3])
    examples = []
    for ticket_id in sorted(issue.ticket_ids, reverse=True)[:EXAMPLES]:
        ticket = info.get(ticket_id)
        label = f"#{ticket_id}"
        link = f'<a href="{escape(ticket.url)}">{label}</a>' if ticket and ticket.url else label
        subject = f" {escape(ticket.subject)}" if ticket and ticket.subject else ""
        examples.append(f"<li>{link}{subject}</li>")
    return (
        f'<article class="card top"><header><a class="iid" href="#{escape(issue.issue_id)}">'
        f'{escape(issue.issue_id)}</a><h3 class="name">{escape(issue.category)}</h3>'
        f'<span class="count">{len(issue.ticket_ids)} tickets</span></header>'
        f'<p class="trend">{escape(trend.describe())}</p>'
        f'<p><strong>Root cause</strong>{source_label(issue, tickets)}: '
        f'{escape(issue.root_cause or "not known yet")}</p>'
        + (f"<p><strong>Resolution steps</strong></p><ol>{steps}</ol>" if steps else "")
        + f'<ul class="examples">{"".join(examples)}</ul></article>'
    )


def _short_list(title: str, items: list[Trend], limit: int, none: str) -> str:
    if not items:
        return f'<div><h3>{title}</h3><p class="none">{none}</p></div>'
    rows = "".join(
        f'<li><a class="iid" href="#{escape(t.issue.issue_id)}">{escape(t.issue.issue_id)}</a> '
        f"{escape(t.issue.category)} · {escape(t.describe())}</li>"
        for t in items[:limit]
    )
    more = f'<p class="more">and {len(items) - limit} more</p>' if len(items) > limit else ""
    return f"<div><h3>{title}</h3><ul>{rows}</ul>{more}</div>"


def themes_section(themes: list[Theme]) -> str:
    """Themes with their share of tickets and trend, each listing its issues."""
    if not themes:
        return ""
    rows = []
    for theme in themes:
        issues = ", ".join(f'<a href="#{escape(i)}">{escape(i)}</a>' for i in theme.issue_ids)
        sign = "+" if theme.growth > 0 else ""
        rows.append(
            f"<tr><td>{escape(theme.name)}</td><td>{theme.share:.0%}</td><td>{theme.tickets}</td>"
            f"<td>{theme.recent} ({sign}{theme.growth})</td><td>{issues}</td></tr>"
        )
    return (
        '<details class="card" id="themes" open><summary><h2>Themes</h2></summary>'
        '<table><thead><tr><th>Theme</th><th>Share</th><th>Tickets</th><th>Last 4 weeks (change)</th>'
        f'<th>Issues</th></tr></thead><tbody>{"".join(rows)}</tbody></table></details>'
    )


def review_section(db: IssueDB, files: SideFiles | None) -> str:
    """Provisional issues, flagged decisions and merge suggestions, with the commands that act on them."""
    provisional = [i for i in db.issues.values() if i.provisional]
    flagged = sorted(t for t, r in db.tickets.items() if r.flagged and not r.reviewed)
    merges = [s for s in db.merge_suggestions if getattr(s, "status", "pending") == "pending"]
    db_arg = f" --db {files.db}" if files else ""
    flagged_csv = files.flagged_csv if files else "flagged_for_review.csv"
    merge_csv = files.merge_csv if files else "merge_suggestions.csv"
    items = [
        f"<li><strong>{len(flagged)} flagged decisions</strong>: type <code>accept</code>, an issue id or "
        f"<code>new</code> in the <code>decision</code> column of <code>{escape(str(flagged_csv))}</code>, then run "
        f"<code>python -m main --apply-review {escape(str(flagged_csv))}{escape(db_arg)}</code></li>",
        f"<li><strong>{len(provisional)} provisional issues</strong> wait for the same review: "
        + (", ".join(f'<a href="#{escape(i.issue_id)}">{escape(i.issue_id)}</a>' for i in provisional) or "none")
        + "</li>",
        f"<li><strong>{len(merges)} merge suggestions</strong> in <code>{escape(str(merge_csv))}</code>: apply with "
        f"<code>python -m main --apply-review {escape(str(merge_csv))}{escape(db_arg)}</code>, or merge two issues "
        f"yourself with <code>python -m main --merge KEEP OTHER{escape(db_arg)}</code></li>",
    ]
    return (f'<details class="card" id="review" open><summary><h2>Review queue</h2></summary>'
            f'<ul>{"".join(items)}</ul></details>')
