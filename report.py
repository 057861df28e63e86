"""The HTML report: one self-contained page with the last run's summary and every issue in the DB."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from html import escape
from pathlib import Path

from atomic_io import write_text_atomic
from issue_clusterer import SCHEMA_VERSION, Issue, IssueDB, SideFiles, TicketRecord
from issue_trends import anchor_for, trends
from records import RunRecord, TicketInfo
from report_sections import lead_section, review_section, source_label, themes_section
from report_time import as_utc, parse_time
from themes import group_into_themes

logger = logging.getLogger(__name__)

WEEKS = 8
CHART_LIMIT = 30
_WEEK = timedelta(days=7)

# (summary key, label, formatter); the order is the order on the page.
_SUMMARY_FIELDS: list[tuple[str, str, str]] = [
    ("tickets_seen", "Tickets seen", "int"),
    ("tickets_skipped", "Already decided", "int"),
    ("tickets_fetched", "Fetched", "int"),
    ("tickets_classified", "Classified", "int"),
    ("issues_created", "New issues", "int"),
    ("issues_grown", "Issues grown", "int"),
    ("flagged", "Flagged", "int"),
    ("credits", "Freshdesk credits", "int"),
    ("model_calls", "Model calls", "int"),
    ("prompt_tokens", "Prompt tokens", "int"),
    ("completion_tokens", "Completion tokens", "int"),
    ("estimated_cost", "Estimated cost", "cost"),
    ("seconds", "Duration", "seconds"),
    ("classifier", "Classifier", "text"),
]

# Search and filter; without scripts the box stays hidden and every issue is on the page.
_FILTER = (
    '<div id="filter" class="filter" hidden><input id="q" type="search" placeholder="Search issues" '
    'aria-label="Search issues"><select id="kind" aria-label="Show"><option value="">All issues</option>'
    '<option value="flagged">With flagged tickets</option><option value="provisional">Provisional</option>'
    "</select></div>"
)
_SCRIPT = """
(function () {
  var box = document.getElementById('filter'); if (!box) return; box.hidden = false;
  var q = document.getElementById('q'), kind = document.getElementById('kind');
  function apply() {
    var text = q.value.trim().toLowerCase(), want = kind.value;
    document.querySelectorAll('article.issue').forEach(function (card) {
      var ok = (!text || card.dataset.search.indexOf(text) >= 0) && (!want || card.dataset.kind === want);
      card.hidden = !ok;
      var group = card.closest('details'); if (ok && (text || want) && group) group.open = true;
    });
  }
  q.addEventListener('input', apply); kind.addEventListener('change', apply);
})();
"""

_CSS = """
:root { --ink:#1f2933; --muted:#5f6b7a; --line:#d9dee5; --bg:#f5f7fa; --card:#fff;
  --bar:#3b6fd8; --bar-soft:#c9d8f5; --warn:#b45309; --warn-bg:#fef3c7; --flag:#b42318; --flag-bg:#fee4e2; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font:15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 28px 24px 48px; }
h1 { font-size: 1.7rem; margin: 0 0 4px; }
h2 { font-size: 1.25rem; margin: 32px 0 12px; }
h3 { font-size: 1rem; margin: 0 0 6px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
a { color: #1d4ed8; }
.sub { color: var(--muted); margin: 0 0 20px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 16px 20px;
  margin-top: 16px; }
.field p { margin: 0; }
.card > h2:first-child { margin-top: 0; }
.stats { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; margin: 0; }
.stat { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 8px 12px; }
.stat dt { color: var(--muted); font-size: .8rem; }
.stat dd { margin: 0; font-size: 1.25rem; font-weight: 600; font-variant-numeric: tabular-nums; }
.lists { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; margin-top: 12px; }
.lists ul { margin: 0; padding-left: 18px; }
.lists .none { color: var(--muted); margin: 0; }
.chart { display: grid; grid-template-columns: minmax(180px, 34%) 1fr 3.5em; gap: 5px 10px; align-items: center; }
.chart .label { text-decoration: none; white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
  font-size: .9rem; }
.chart .track { background: var(--bg); border-radius: 4px; height: 16px; }
.chart .fill { background: var(--bar); border-radius: 4px; height: 16px; min-width: 2px; }
.chart .fill.prov { background: #e0a23b; }
.chart .num { text-align: right; font-variant-numeric: tabular-nums; font-weight: 600; }
.key { display: inline-block; width: 12px; height: 12px; border-radius: 3px; background: #e0a23b;
  vertical-align: -1px; margin-right: 4px; }
.more { color: var(--muted); font-size: .9rem; margin: 10px 0 0; }
.issue { margin-top: 16px; break-inside: avoid; page-break-inside: avoid; }
.issue header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 6px 12px;
  border-bottom: 1px solid var(--line); padding-bottom: 8px; margin-bottom: 12px; }
.issue h2 { margin: 0; font-size: 1.15rem; }
.iid { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; color: var(--muted); font-weight: 600; }
.count { margin-left: auto; font-weight: 600; white-space: nowrap; }
.badge { display: inline-block; border-radius: 999px; padding: 1px 9px; font-size: .78rem; font-weight: 600; }
.badge.prov { color: var(--warn); background: var(--warn-bg); }
.badge.flag { color: var(--flag); background: var(--flag-bg); }
.cols { display: grid; grid-template-columns: 1fr 240px; gap: 20px; }
.kw { display: flex; flex-wrap: wrap; gap: 5px; margin: 0 0 10px; padding: 0; list-style: none; }
.kw li { background: #eef2f8; border-radius: 5px; padding: 1px 8px; font-size: .85rem; }
.field { margin: 0 0 10px; }
.field ol { margin: 0; padding-left: 22px; }
.seen { color: var(--muted); font-size: .85rem; margin: 0 0 10px; }
.weeks { display: grid; grid-template-columns: repeat(8, 1fr); gap: 4px; align-items: end; height: 64px;
  border-bottom: 1px solid var(--line); }
.weeks span { display: block; background: var(--bar); border-radius: 3px 3px 0 0; min-height: 1px; }
.weeks span.zero { background: var(--bar-soft); }
.wnums { display: grid; grid-template-columns: repeat(8, 1fr); gap: 4px; text-align: center;
  font-size: .75rem; color: var(--muted); font-variant-numeric: tabular-nums; }
.wcap { font-size: .75rem; color: var(--muted); margin: 4px 0 0; }
.tickets { columns: 2 280px; column-gap: 24px; margin: 0; padding: 0; list-style: none; font-size: .9rem; }
.tickets li { break-inside: avoid; padding: 2px 0; overflow-wrap: anywhere; }
.tickets .tid { font-variant-numeric: tabular-nums; font-weight: 600; }
.tickets .flag { color: var(--flag); font-size: .78rem; font-weight: 600; }
.empty { text-align: center; padding: 40px 20px; }
.empty p { color: var(--muted); }
code { background: #eef2f8; border-radius: 4px; padding: 1px 5px; }
footer { color: var(--muted); font-size: .8rem; margin-top: 32px; }
.filter { display: flex; gap: 8px; margin: 0 0 12px; }
.filter input { flex: 1; padding: 6px 10px; border: 1px solid var(--line); border-radius: 6px; font: inherit; }
.tops { display: grid; grid-template-columns: repeat(auto-fill, minmax(440px, 1fr)); gap: 10px; }
.top { margin-top: 0; padding: 12px 16px; }
.top header { display: flex; gap: 10px; align-items: baseline; }
.top .iid { white-space: nowrap; }
.top .name { margin: 0; font-size: 1.05rem; color: var(--ink); text-transform: none; letter-spacing: 0; }
.top p, .top ol { margin: 4px 0; }
.trend { color: var(--muted); font-size: .9rem; }
.examples { margin: 4px 0 0; padding-left: 18px; font-size: .88rem; }
.src { font-size: .72rem; font-weight: 500; color: var(--muted); text-transform: none; letter-spacing: 0;
  background: #eef2f8; border-radius: 4px; padding: 0 5px; }
summary { cursor: pointer; }
summary h2 { display: inline; }
details.group { margin-top: 16px; }
details.group > summary { font-weight: 600; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
@media (max-width: 720px) { .tops { grid-template-columns: 1fr; } .cols, .lists { grid-template-columns: 1fr; } }
@media print {
  body { background: #fff; font-size: 11pt; }
  main { max-width: none; padding: 0; }
  .card, .stat { border-color: #bbb; }
  a { color: inherit; text-decoration: none; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def render_report(
    db: IssueDB,
    *,
    tickets: Mapping[int, TicketInfo] | None = None,
    now: datetime | None = None,
    files: SideFiles | None = None,
) -> str:
    """Render the issue DB as one self-contained HTML5 page; every DB text is escaped.

    It opens with what to fix (report_sections.py), then every issue, the review queue and the run's
    statistics. `tickets` gives each ticket's subject and link; `files` the paths the review commands name.
    """
    now = as_utc(now or datetime.now(timezone.utc))
    anchor = anchor_for(db.tickets, now)
    info = tickets or {}
    issues = sorted(db.issues.values(), key=lambda i: (-len(i.ticket_ids), i.issue_id))
    run = db.runs[-1] if db.runs else None
    ranked = trends(db, anchor)
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Silo recurring issues</title>", f"<style>{_CSS}</style>", "</head>", "<body>", "<main>",
        "<h1>Silo recurring issues</h1>",
        f'<p class="sub">{_overview(issues, db.tickets)} · generated {escape(_fmt_time(now))} · '
        f"{escape(anchor.describe())}</p>",
    ]
    if issues:
        parts.append(_FILTER)
        parts.append(lead_section(db, ranked, list(run.summary.new_issue_ids or []) if run else [], info))
        parts.append(themes_section(group_into_themes(ranked)))
        parts.append(_every_issue(issues, db.tickets, info, anchor.at))
    else:
        parts.append(
            '<section class="card empty"><h2>No issues yet</h2>'
            "<p>The issue database is empty. Run <code>python -m main --pages 5</code> "
            "(or <code>--demo</code>) to classify tickets; this report fills in after the run.</p>"
            "</section>"
        )
    parts.append(review_section(db, files))
    parts.append(_run_section(run, issues))
    footer = f"Issue DB schema {SCHEMA_VERSION}"
    if db.embedding_model:
        footer += f" · embeddings: {escape(db.embedding_model)}"
    parts += [f"<footer>{footer}</footer>", "</main>", f"<script>{_SCRIPT}</script>" if issues else "",
              "</body>", "</html>", ""]
    return "\n".join(parts)


def _every_issue(issues: list[Issue], tickets: Mapping[int, TicketRecord], info: Mapping[int, TicketInfo],
                 anchor: datetime) -> str:
    """Recurring issues in full; one-ticket issues in a collapsed group; provisional ones in theirs."""
    recurring = [i for i in issues if not i.provisional and len(i.ticket_ids) > 1]
    one_offs = [i for i in issues if not i.provisional and len(i.ticket_ids) <= 1]
    provisional = [i for i in issues if i.provisional]
    html = ['<section id="issues"><h2>Every issue</h2>']
    html.extend(_issue_section(i, tickets, info, anchor) for i in recurring)
    for title, group in ((f"{_plural(len(one_offs), 'one-off issue')} (a single ticket each)", one_offs),
                         (f"{_plural(len(provisional), 'provisional issue')} (awaiting review)", provisional)):
        if group:
            html.append(f'<details class="group"><summary>{title}</summary>'
                        + "".join(_issue_section(i, tickets, info, anchor) for i in group) + "</details>")
    html.append(_chart(issues) + "</section>")
    return "".join(html)


def write_report(
    path: Path,
    db: IssueDB,
    *,
    tickets: Mapping[int, TicketInfo] | None = None,
    now: datetime | None = None,
    files: SideFiles | None = None,
) -> None:
    """Render the report and replace `path` atomically."""
    write_text_atomic(path, render_report(db, tickets=tickets, now=now, files=files))
    logger.info("wrote report %s", path)


def weekly_counts(updated_ats: Iterable[str], now: datetime, weeks: int = WEEKS) -> list[int]:
    """Tickets per week, oldest first; week k back from `now` holds times in (now-(k+1)w, now-kw]."""
    now = as_utc(now)
    counts = [0] * weeks
    for text in updated_ats:
        when = parse_time(text)
        if when is None or when > now:
            continue
        # (now - when) in [k weeks, k+1 weeks) lands in week k back; the edge belongs to the older week.
        back = int((now - when) / _WEEK)
        if back < weeks:
            counts[weeks - 1 - back] += 1
    return counts


# ---- sections ------------------------------------------------------------------------------------


def _overview(issues: list[Issue], tickets: Mapping[int, TicketRecord]) -> str:
    total = sum(len(i.ticket_ids) for i in issues)
    provisional = sum(1 for i in issues if i.provisional)
    flagged = sum(1 for r in tickets.values() if _pending(r))
    text = f"{_plural(len(issues), 'issue')} covering {_plural(total, 'ticket')}"
    if provisional:
        text += f" · {provisional} provisional"
    if flagged:
        text += f" · {flagged} flagged for review"
    return text


def _run_section(run: RunRecord | None, issues: list[Issue]) -> str:
    """The last run's operational figures, last on the page and collapsed."""
    if not run:
        return ('<details class="card" id="run"><summary><h2>Run statistics</h2></summary>'
                '<p class="none">No runs recorded yet.</p></details>')
    summary = run.summary
    started = summary.started_at or run.started_at
    finished = summary.finished_at or run.finished_at
    when = " → ".join(escape(_fmt_time(t)) for t in (started, finished) if t)
    stats = [
        f'<div class="stat"><dt>{label}</dt><dd>{escape(_fmt_value(getattr(summary, key), kind))}</dd></div>'
        for key, label, kind in _SUMMARY_FIELDS
        if getattr(summary, key) is not None
    ]
    known = {i.issue_id for i in issues}
    categories = {i.issue_id: i.category for i in issues}
    grown_items = [f"+{added} {_issue_ref(issue_id, known, categories)}"
                   for issue_id, added in (summary.grown_issue_ids or [])[:CHART_LIMIT]]
    return (
        '<details class="card" id="run"><summary><h2>Run statistics</h2></summary>'
        + (f'<p class="sub">{when}</p>' if when else "")
        + (f'<dl class="stats">{"".join(stats)}</dl>' if stats else "")
        + '<div class="lists">'
        + _ref_list("Grew in this run", grown_items, "No existing issue grew.")
        + "</div></details>"
    )


def _ref_list(title: str, items: list[str], none: str) -> str:
    body = "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>" if items else f'<p class="none">{none}</p>'
    return f"<div><h3>{title}</h3>{body}</div>"


def _issue_ref(issue_id: str, known: set[str], categories: Mapping[str, str]) -> str:
    if issue_id not in known:
        # Merged or emptied since the run: name it without a dead link.
        return f'<span class="iid">{escape(issue_id)}</span> (no longer in the DB)'
    category = categories.get(issue_id) or ""
    return f'<a href="#{escape(issue_id)}" class="iid">{escape(issue_id)}</a> {escape(category)}'


def _chart(issues: list[Issue]) -> str:
    shown = issues[:CHART_LIMIT]
    top = max(len(i.ticket_ids) for i in shown) or 1
    rows = []
    for issue in shown:
        count = len(issue.ticket_ids)
        width = 100.0 * count / top
        kind = " prov" if issue.provisional else ""
        label = f"{issue.issue_id} · {issue.category}"
        rows.append(
            f'<a class="label" href="#{escape(issue.issue_id)}" title="{escape(label)}">{escape(label)}</a>'
            f'<div class="track"><div class="fill{kind}" style="width:{width:.1f}%"></div></div>'
            f'<span class="num">{count}</span>'
        )
    more = ""
    if len(issues) > len(shown):
        more += f'<p class="more">and {len(issues) - len(shown)} smaller issues, listed below.</p>'
    if any(i.provisional for i in shown):
        more += '<p class="more"><span class="key"></span>provisional: awaiting review</p>'
    return (
        '<section class="card" id="chart"><h2>Issues by ticket count</h2>'
        f'<div class="chart" role="img" aria-label="Issues by ticket count">{"".join(rows)}</div>{more}'
        "</section>"
    )


def _issue_section(
    issue: Issue,
    tickets: Mapping[int, TicketRecord],
    info: Mapping[int, TicketInfo],
    now: datetime,
) -> str:
    issue_id = escape(issue.issue_id)
    records = {t: tickets[t] for t in issue.ticket_ids if t in tickets}
    flagged = sum(1 for r in records.values() if _pending(r))
    badges = ""
    if issue.provisional:
        badges += '<span class="badge prov">provisional</span>'
    if flagged:
        badges += f'<span class="badge flag">{flagged} flagged for review</span>'
    keywords = "".join(f"<li>{escape(k)}</li>" for k in issue.keywords)
    steps = "".join(f"<li>{escape(s)}</li>" for s in issue.resolution_steps)
    seen = f"First seen {escape(_fmt_time(issue.first_seen))} · last seen {escape(_fmt_time(issue.last_seen))}"
    weeks = weekly_counts((r.updated_at for r in records.values()), now)
    items = []
    for ticket_id in sorted(issue.ticket_ids, reverse=True):
        label = f'<span class="tid">#{ticket_id}</span>'
        ticket = info.get(ticket_id)
        if ticket and ticket.url:
            label = f'<a href="{escape(ticket.url)}">{label}</a>'
        text = f" {escape(ticket.subject)}" if ticket and ticket.subject else ""
        record = records.get(ticket_id)
        flag = ' <span class="flag">flagged</span>' if record and _pending(record) else ""
        items.append(f"<li>{label}{text}{flag}</li>")
    kind = "provisional" if issue.provisional else ("flagged" if flagged else "")
    search = " ".join([issue.issue_id, issue.category, *issue.keywords]).casefold()
    return (
        f'<article class="card issue" id="{issue_id}" data-kind="{kind}" data-search="{escape(search)}">'
        f'<header><span class="iid">{issue_id}</span><h2>{escape(issue.category)}</h2>'
        f'{badges}<span class="count">{_plural(len(issue.ticket_ids), "ticket")}</span></header>'
        '<div class="cols"><div>'
        + (f'<ul class="kw" aria-label="Keywords">{keywords}</ul>' if keywords else "")
        + f'<div class="field"><h3>Root cause{source_label(issue, tickets)}</h3>'
        + f'<p>{escape(issue.root_cause or "—")}</p></div>'
        + f'<div class="field"><h3>Resolution steps{source_label(issue, tickets)}</h3>'
        + (f"<ol>{steps}</ol>" if steps else "<p>—</p>")
        + "</div></div><div>"
        + f'<p class="seen">{seen}</p>'
        + _weeks_block(weeks, now)
        + "</div></div>"
        + f'<div class="field"><h3>Tickets</h3><ul class="tickets">{"".join(items)}</ul></div>'
        + "</article>"
    )


def _weeks_block(weeks: list[int], now: datetime) -> str:
    top = max(weeks) or 1
    bars, nums = [], []
    for index, count in enumerate(weeks):
        end = now - _WEEK * (len(weeks) - 1 - index)
        height = 100.0 * count / top if count else 2.0
        kind = ' class="zero"' if not count else ""
        bars.append(
            f'<span{kind} style="height:{height:.0f}%" title="week to {end:%Y-%m-%d}: {count}"></span>'
        )
        nums.append(f"<span>{count}</span>")
    return (
        '<div class="field"><h3>Tickets per week</h3>'
        f'<div class="weeks" role="img" aria-label="Tickets per week, oldest first: '
        f'{", ".join(map(str, weeks))}">{"".join(bars)}</div>'
        f'<div class="wnums">{"".join(nums)}</div>'
        f'<p class="wcap">last {len(weeks)} weeks to {now:%Y-%m-%d}</p></div>'
    )


# ---- small helpers -------------------------------------------------------------------------------


def _pending(record: TicketRecord) -> bool:
    return record.flagged and not record.reviewed


def _fmt_time(value: object) -> str:
    if isinstance(value, datetime):
        return as_utc(value).strftime("%Y-%m-%d %H:%M UTC")
    when = parse_time(value)
    if when is None:
        return str(value) if value else "—"
    return when.strftime("%Y-%m-%d %H:%M UTC")


def _fmt_value(value: object, kind: str) -> str:
    try:
        if kind == "int":
            return f"{int(value):,}"
        if kind == "cost":
            return f"${float(value):,.4f}"
        if kind == "seconds":
            seconds = float(value)
            return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
    except (TypeError, ValueError):
        pass
    return str(value)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
