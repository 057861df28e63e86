"""The HTML report: escaping, links, ordering, flagged counts, weekly buckets, empty DB, and headless Chromium."""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser

import browser
import pytest

import report
from issue_clusterer import IssueDB
from records import TicketInfo
from report import render_report, weekly_counts, write_report

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
XSS = "<script>alert(1)</script>"
BAR_BLUE = bytes((0x3B, 0x6F, 0xD8))
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def issue(issue_id: str, ticket_ids: list[int], **fields) -> dict:
    base = {
        "issue_id": issue_id, "category": f"Category of {issue_id}", "keywords": ["login"],
        "root_cause": "cause", "resolution_steps": ["step one", "step two"], "ticket_ids": ticket_ids,
        "provisional": False, "first_seen": "2026-01-01T00:00:00Z", "last_seen": "2026-02-01T00:00:00Z",
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-02-01T00:00:00Z",
    }
    base.update(fields)
    return base


def ticket(issue_id: str, *, flagged: bool = False, reviewed: bool = False, updated_at: str = "") -> dict:
    return {"issue_id": issue_id, "confidence": 0.9, "flagged": flagged, "reviewed": reviewed, "reason": "",
            "updated_at": updated_at or stamp(NOW - timedelta(days=1)), "decided_at": stamp(NOW), "answer": None}


def make_db(issues: list[dict], tickets: dict | None = None, runs: list | None = None) -> IssueDB:
    if tickets is None:
        tickets = {str(t): ticket(i["issue_id"]) for i in issues for t in i["ticket_ids"]}
    return IssueDB.from_dict({"schema_version": 1, "embedding_model": "all-MiniLM-L6-v2",
                              "next_issue_number": len(issues) + 1, "issues": issues, "tickets": tickets,
                              "runs": runs or [], "history": []})


def links(base: str, ticket_ids: list[int], subjects: dict[int, str] | None = None) -> dict[int, TicketInfo]:
    """Ticket info as stored conversations give it: a subject and the ticket's page under `base`."""
    return {t: TicketInfo((subjects or {}).get(t, ""), f"{base.rstrip('/')}/a/tickets/{t}") for t in ticket_ids}


def article(html: str, issue_id: str) -> str:
    start = html.index(f'<article class="card issue" id="{issue_id}"')
    return html[start : html.index("</article>", start)]


class _Nesting(HTMLParser):
    """Checks that every non-void element is closed in order."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: Counter[str] = Counter()

    def handle_starttag(self, tag, attrs):
        self.tags[tag] += 1
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def check_well_formed(html: str) -> Counter[str]:
    assert html.startswith("<!DOCTYPE html>\n<html lang=\"en\">")
    parser = _Nesting()
    parser.feed(html)
    parser.close()
    assert parser.errors == [] and parser.stack == []
    assert parser.tags["html"] == parser.tags["head"] == parser.tags["body"] == parser.tags["title"] == 1
    return parser.tags


def test_every_db_text_is_escaped():
    db = make_db(
        [issue("ISS-0001", [7], category=XSS, keywords=[XSS, "ok"], root_cause=XSS, resolution_steps=[XSS])],
        runs=[{"summary": {"classifier": XSS, "new_issue_ids": ["ISS-0001"]}}],
    )
    html = render_report(db, tickets=links('https://acme.example/"><b>', [7], {7: XSS}), now=NOW)
    # The page's own search script is its only one; no DB text opens another.
    assert html.lower().count("<script") == 1 and f"<script>{report._SCRIPT}</script>" in html
    # category (title, chart, new list), keywords, root cause, step, subject, classifier
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 8
    assert 'href="https://acme.example/&quot;&gt;&lt;b&gt;/a/tickets/7"' in html
    tags = check_well_formed(html)
    assert tags["script"] == 1 and tags["b"] == 0


def test_ticket_links_come_from_stored_conversations_or_plain_ids():
    db = make_db([issue("ISS-0001", [101, 102])])
    linked = render_report(db, tickets=links("http://127.0.0.1:8080/", [101, 102], {101: "Cannot log in"}), now=NOW)
    assert '<a href="http://127.0.0.1:8080/a/tickets/101">' in linked
    assert '<a href="http://127.0.0.1:8080/a/tickets/102">' in linked
    assert "Cannot log in" in linked
    plain = render_report(db, now=NOW)
    assert "/a/tickets/" not in plain
    assert "#101" in plain and "#102" in plain


def test_issues_ordered_by_ticket_count_then_id():
    db = make_db([
        issue("ISS-0001", [1, 2]), issue("ISS-0002", [3, 4, 5, 6, 7]), issue("ISS-0003", [8]),
        issue("ISS-0004", [9, 10, 11, 12, 13]),
    ])
    html = render_report(db, now=NOW)
    order = re.findall(r'<article class="card issue" id="(ISS-\d+)"', html)
    assert order == ["ISS-0002", "ISS-0004", "ISS-0001", "ISS-0003"]
    chart = html[html.index('id="chart"') : html.index('id="review"')]
    assert re.findall(r'href="#(ISS-\d+)"', chart) == order
    assert "width:100.0%" in chart and "width:20.0%" in chart


def test_flagged_counts_only_unreviewed():
    tickets = {
        "1": ticket("ISS-0001", flagged=True), "2": ticket("ISS-0001", flagged=True, reviewed=True),
        "3": ticket("ISS-0001"), "4": ticket("ISS-0001", flagged=True), "5": ticket("ISS-0002", reviewed=True),
    }
    db = make_db([issue("ISS-0001", [1, 2, 3, 4]), issue("ISS-0002", [5], provisional=True)], tickets)
    html = render_report(db, now=NOW)
    first, second = article(html, "ISS-0001"), article(html, "ISS-0002")
    assert "2 flagged for review" in first
    assert first.count('<span class="flag">flagged</span>') == 2
    assert "flagged" not in second and "provisional</span>" in second
    assert "1 provisional · 2 flagged for review" in html


def test_weekly_counts_for_fixed_now():
    week = timedelta(days=7)
    times = [
        stamp(NOW), stamp(NOW - week + timedelta(seconds=1)),  # newest week
        stamp(NOW - week),  # the edge belongs to the older week
        stamp(NOW - 3 * week - timedelta(hours=5)),
        stamp(NOW - 8 * week + timedelta(minutes=1)),  # oldest week
        stamp(NOW - 8 * week), stamp(NOW + timedelta(hours=1)),  # outside the window: dropped
        "not a date", "", "2026-02-27",  # date-only: midnight UTC, 4.5 days back
    ]
    assert weekly_counts(times, NOW) == [1, 0, 0, 0, 1, 0, 1, 3]
    assert weekly_counts(times, NOW.replace(tzinfo=None)) == [1, 0, 0, 0, 1, 0, 1, 3]
    tickets = {str(i): ticket("ISS-0001", updated_at=t or "x") for i, t in enumerate(times, start=1)}
    db = make_db([issue("ISS-0001", list(range(1, len(times) + 1)))], tickets)
    html = render_report(db, now=NOW)
    assert 'aria-label="Tickets per week, oldest first: 1, 0, 0, 0, 1, 0, 1, 3"' in html
    assert "week to 2026-03-02: 3" in html and "week to 2026-01-12: 1" in html


def test_empty_db_is_a_friendly_page():
    html = render_report(make_db([]), now=NOW)
    assert "No issues yet" in html and "No runs recorded yet" in html
    assert "<article" not in html and 'id="chart"' not in html
    check_well_formed(html)
    assert "No issues yet" in render_report(IssueDB(embedding_model=""), now=NOW)


def test_run_summary_shows_what_is_there(tmp_path):
    summary = {"tickets_seen": 1500, "estimated_cost": 0.5, "seconds": 42, "new_issue_ids": ["ISS-0002", "ISS-0009"],
               "grown_issue_ids": [["ISS-0001", 7], ["ISS-0002", 1]]}
    db = make_db([issue("ISS-0001", [1]), issue("ISS-0002", [2])],
                 runs=[{"summary": {"tickets_seen": 1}}, {"started_at": "2026-03-02T11:00:00Z", "summary": summary}])
    html = render_report(db, now=NOW)
    assert "<dd>1,500</dd>" in html and "<dd>$0.5000</dd>" in html and "<dd>42.0 s</dd>" in html
    assert "Model calls" not in html and "Prompt tokens" not in html
    assert "2026-03-02 11:00 UTC" in html
    new = html[html.index("New in this run") : html.index("Growing fastest")]
    # A new issue merged away since the run is left out of the list rather than linked dead.
    assert '<a class="iid" href="#ISS-0002">ISS-0002</a> Category of ISS-0002' in new and "ISS-0009" not in new
    grown = html[html.index("Grew in this run") :]
    assert grown.index("+7 <a href=\"#ISS-0001\"") < grown.index("+1 <a href=\"#ISS-0002\"")
    path = tmp_path / "out" / "silo.report.html"
    write_report(path, db, now=NOW)
    assert path.read_text(encoding="utf-8") == html
    assert [p.name for p in path.parent.iterdir()] == ["silo.report.html"]


def sample_db(count: int = 12, seed: int = 7) -> tuple[IssueDB, dict[int, str]]:
    """A DB of `count` issues with seeded ticket counts, dates and flags."""
    rng = random.Random(seed)
    issues, tickets, subjects, next_id = [], {}, {}, 1000
    for k in range(count):
        issue_id = f"ISS-{k + 1:04d}"
        ids = list(range(next_id, next_id + rng.randint(1, 25)))
        next_id += len(ids)
        for t in ids:
            tickets[str(t)] = ticket(issue_id, flagged=rng.random() < 0.15,
                                     updated_at=stamp(NOW - timedelta(days=rng.uniform(0, 70))))
            subjects[t] = f"Customer {t} reports problem {k}"
        category = XSS if k == 3 else f"Recurring problem number {k}"
        issues.append(issue(issue_id, ids, category=category, provisional=k % 5 == 4,
                            keywords=["login", "email", "reset", "sso"][: rng.randint(1, 4)]))
    summary = {"tickets_seen": 150, "tickets_classified": 130, "flagged": 7, "new_issue_ids": ["ISS-0010"],
               "grown_issue_ids": [["ISS-0003", 9]], "classifier": "llm"}
    return make_db(issues, tickets, runs=[{"summary": summary}]), subjects


@pytest.mark.slow
def test_report_renders_in_headless_chromium(tmp_path):
    db, subjects = sample_db()
    html_path, png_path = tmp_path / "report.html", tmp_path / "report.png"
    write_report(html_path, db, tickets=links("https://acme.freshdesk.com", list(subjects), subjects), now=NOW)
    check_well_formed(html_path.read_text(encoding="utf-8"))

    # Tall enough to reach the issue cards' weekly bars below the first screen.
    browser.screenshot(html_path, png_path, width=1280, height=5000)
    assert png_path.stat().st_size > 50_000
    width, height, bpp, rows = browser.png_rows(png_path)
    assert (width, height) == (1280, 5000)
    assert len(set(rows)) > 200  # text and bars, not a blank page
    pixels = Counter(row[i : i + 3] for row in rows[::8] for i in range(0, len(row), bpp * 2))
    assert pixels[BAR_BLUE] > 500  # the CSS bar chart was drawn
    assert pixels.most_common(1)[0][1] < 0.8 * sum(pixels.values())

    dom = browser.dump_dom(html_path)
    for issue_id in db.issues:
        assert f'id="{issue_id}"' in dom
    assert dom.lower().count("<script") == 1 and "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    # Every ticket is linked from its issue's card; the top issues' example tickets link again.
    cards = dom[dom.index('id="issues"'):]
    assert cards.count('href="https://acme.freshdesk.com/a/tickets/') == len(db.tickets)


# The test adds this to a copy of the report: where the first screen's parts are laid out, and what was fetched.
_MEASURE = """<script>
window.addEventListener('load', function () {
  function top(el) { return el ? el.getBoundingClientRect().top : -1; }
  var cards = Array.prototype.map.call(document.querySelectorAll('#fix article.top'),
    function (el) { var r = el.getBoundingClientRect(); return [r.top, r.bottom]; });
  document.body.setAttribute('data-measure', JSON.stringify({
    cards: cards, stats: top(document.querySelector('#run')), issues: top(document.querySelector('#issues')),
    tiles: top(document.querySelector('.stat')), fetched: performance.getEntriesByType('resource').length}));
});
</script></body>"""


@pytest.mark.slow
@pytest.mark.parametrize("width", [1400, 390])
def test_first_screen_shows_the_top_issues_in_chromium(tmp_path, width):
    import json

    db, subjects = sample_db()
    html_path = tmp_path / "report.html"
    write_report(html_path, db, tickets=links("https://acme.freshdesk.com", list(subjects), subjects), now=NOW)
    html = html_path.read_text(encoding="utf-8")
    # Nothing on the page can fetch: no sources, stylesheets, imports or CSS urls.
    assert not re.search(r"\ssrc=|<link|@import|url\(", html)
    png_path = tmp_path / f"report-{width}.png"
    browser.screenshot(html_path, png_path, width=width, height=900)
    assert browser.png_rows(png_path)[:2] == (width, 900)

    measured_path = tmp_path / "measured.html"
    measured_path.write_text(html.replace("</body>", _MEASURE), encoding="utf-8")
    dom = browser.dump_dom(measured_path, width=width, height=900)
    found = json.loads(html_module_unescape(re.search(r'data-measure="([^"]*)"', dom).group(1)))
    cards = found["cards"]
    assert len(cards) >= 3
    assert cards[0][1] <= 900  # the top issue is entirely on the first screen
    if width >= 1400:
        assert sum(1 for _, bottom in cards if bottom <= 900) >= 3
    # Operational tiles and the full list come after the top issues.
    assert found["tiles"] > cards[-1][1] and found["stats"] > cards[-1][1] and found["issues"] > cards[0][1]
    assert found["fetched"] == 0
    # With scripts on, the search box shows; the issues are all there either way.
    assert '<div id="filter" class="filter">' in dom
    for issue_id in db.issues:
        assert f'id="{issue_id}"' in html


def html_module_unescape(text: str) -> str:
    import html as html_module

    return html_module.unescape(text)
