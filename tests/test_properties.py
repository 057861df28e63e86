"""Property tests (hypothesis): the cleaner, the issue DB and the answer parser.

- Cleaner: threads whose replies quote the earlier mail in the formats conversation_utils handles keep
  each message's new text exactly once, and never a quoted copy of it.
- DB: random sequences of apply, move, merge, review and reclassify keep every ticket in exactly one
  issue, and the DB round-trips byte for byte through to_dict/from_dict and save/load.
- Parser: any reply text, and any JSON, gives an Answer or a ValueError/InvalidAnswer, never another
  exception.

Examples are capped so the file stays in the fast lane.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atomic_io import dumps_deterministic
from conversation_utils import clean_conversation, html_to_text
from issue_clusterer import IssueDB
from llm_classifier import InvalidAnswer, parse_json_answer, validate_answer, validate_verdict
from records import Answer, Outcome

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])
STAMP = "2026-11-01T00:00:00Z"

# --------------------------------------------------------------------------- the cleaner

_WORDS = ["the", "export", "invoice", "login", "page", "fails", "again", "after", "update", "shows", "wrong",
          "total", "button", "today", "still", "error", "report", "file", "slow", "missing"]
_ATTRIBUTION = "On Mon, Jan 5, 2026 at 10:{minute:02d} AM Ann Smith &lt;ann@example.org&gt; wrote:"
_OUTLOOK_HEADER = ("<b>From:</b> Ann Smith<br><b>Sent:</b> Monday, January 5, 2026 10:{minute:02d}<br>"
                   "<b>To:</b> Support<br><b>Subject:</b> Re: help")


@st.composite
def message_text(draw: st.DrawFn, number: int) -> list[str]:
    """Two or three sentences, each carrying a marker unique to this message and sentence."""
    sentences = []
    for part in range(draw(st.integers(2, 3))):
        words = draw(st.lists(st.sampled_from(_WORDS), min_size=2, max_size=6))
        sentences.append(" ".join([words[0].capitalize(), *words[1:], f"m{number}x{part}"]) + ".")
    return sentences


def _quoted_lines(previous_html: str) -> str:
    return "<br>".join(f"&gt; {line}" if line else "&gt;" for line in html_to_text(previous_html).split("\n"))


def reply(style: str, new: list[str], previous: str, minute: int) -> str:
    """A reply body in one of the quoting styles, its new sentences first (or last, bottom-posted)."""
    fresh = "".join(f"<div>{s}</div>" for s in new)
    attribution = _ATTRIBUTION.format(minute=minute)
    if style.endswith("-bare"):  # a client that puts no attribution line in its quote markup
        kind = {"gmail-bare": "gmail_quote", "freshdesk-bare": "freshdesk_quote", "yahoo-bare": "yahoo_quoted"}[style]
        return f'<div>{fresh}</div><div class="{kind}">{previous}</div>'
    if style == "gmail":
        return (f'<div dir="ltr">{fresh}</div><div class="gmail_quote"><div class="gmail_attr">{attribution}'
                f'<br></div><blockquote class="gmail_quote">{previous}</blockquote></div>')
    if style == "freshdesk":
        return (f'<div>{fresh}</div><div class="freshdesk_quote"><blockquote class="freshdesk_quote">'
                f"{attribution}<br>{previous}</blockquote></div>")
    if style == "outlook":
        return (f'<div>{fresh}</div><div id="divRplyFwdMsg">{_OUTLOOK_HEADER.format(minute=minute)}</div>'
                f"<div>{previous}</div>")
    if style == "cite":
        return f'<div>{fresh}</div><blockquote type="cite">{previous}</blockquote>'
    if style == "plain-top":
        return f"<div>{'<br>'.join(new)}<br><br>{attribution}<br>{_quoted_lines(previous)}</div>"
    if style == "plain-bottom":
        return f"<div>{attribution}<br>{_quoted_lines(previous)}<br><br>{'<br>'.join(new)}</div>"
    if style == "german":
        return (f"<div>{'<br>'.join(new)}<br><br>Am 05.01.2026 um 10:{minute:02d} schrieb Ann Smith:<br>"
                f"{_quoted_lines(previous)}</div>")
    assert style == "original"
    header = _OUTLOOK_HEADER.format(minute=minute).replace("<b>", "").replace("</b>", "")
    return (f"<div>{'<br>'.join(new)}<br><br>-----Original Message-----<br>{header}<br><br>"
            f"{html_to_text(previous).replace(chr(10), '<br>')}</div>")


STYLES = ["gmail", "freshdesk", "outlook", "cite", "plain-top", "plain-bottom", "german", "original", "gmail-bare",
          "freshdesk-bare", "yahoo-bare"]


@st.composite
def threads(draw: st.DrawFn) -> tuple[dict, list[dict], dict[str, int]]:
    """A ticket and its conversations where every reply quotes the message before it; the markers expected."""
    texts = [draw(message_text(n)) for n in range(draw(st.integers(1, 6)))]
    bodies = ["".join(f"<div>{s}</div>" for s in texts[0])]
    conversations = []
    for number, new in enumerate(texts[1:], start=1):
        body = reply(draw(st.sampled_from(STYLES)), new, bodies[-1], number)
        if draw(st.booleans()):
            body += "<div>Kind regards,<br>Ann Smith</div>"
        bodies.append(body)
        incoming = draw(st.booleans())
        conversations.append({"id": number, "body": body, "body_text": html_to_text(body), "incoming": incoming,
                              "private": not incoming and draw(st.booleans()), "source": 0,
                              "created_at": f"2026-01-05T10:{number:02d}:00Z"})
    ticket = {"id": 1, "subject": "Help", "status": 4, "description": bodies[0],
              "description_text": html_to_text(bodies[0]), "created_at": "2026-01-05T10:00:00Z",
              "updated_at": "2026-01-05T11:00:00Z"}
    markers = {m: 1 for sentences in texts for m in re.findall(r"m\d+x\d+", " ".join(sentences))}
    return ticket, conversations, markers


@FAST
@given(threads())
def test_each_message_keeps_its_new_text_once_and_no_quoted_copy(thread):
    ticket, conversations, markers = thread
    cleaned = clean_conversation(ticket, conversations, "")
    text = "\n".join(m["text"] for m in cleaned["messages"])
    found = {m: text.count(m) for m in markers}
    assert found == markers, text
    assert "wrote:" not in text and "schrieb" not in text and "Original Message" not in text
    assert not re.search(r"^\s*>", text, re.MULTILINE)


# --------------------------------------------------------------------------- the issue DB

ANSWERS = st.builds(
    lambda category, keywords, confidence: (category, keywords, confidence),
    st.sampled_from(["Login fails", "Invoice wrong", "Export slow", "Ünïcode naming ✓"]),
    st.lists(st.sampled_from(["login", "invoice", "export", "slow", "Login"]), max_size=4),
    st.sampled_from([0.2, 0.69, 0.7, 0.95, 1.0]),
)
APPLY = st.tuples(st.just("apply"), ANSWERS, st.integers(0, 30), st.booleans())
CHANGE = st.one_of(
    APPLY,
    st.tuples(st.just("invalid"), st.just(None), st.integers(0, 30), st.booleans()),
    st.tuples(st.just("move"), st.integers(0, 30), st.integers(0, 30)),
    st.tuples(st.just("merge"), st.integers(0, 30), st.integers(0, 30)),
    st.tuples(st.just("confirm"), st.integers(0, 30)),
    st.tuples(st.just("reclassify"), st.integers(0, 30)),
)
# A run's worth of decisions first, then decisions, reviews, merges and reclassifications mixed.
OPERATIONS = st.tuples(st.lists(APPLY, min_size=3, max_size=12), st.lists(CHANGE, min_size=1, max_size=30)).map(
    lambda parts: parts[0] + parts[1])


def _pick(items: list, index: int) -> object | None:
    return items[index % len(items)] if items else None


def run_operations(db: IssueDB, operations: list[tuple]) -> None:
    """Interpret each operation on the DB the way runs and reviews change it."""
    next_ticket = 1
    for operation in operations:
        kind, tickets, issues = operation[0], sorted(db.tickets), sorted(db.issues)
        if kind in ("apply", "invalid"):
            answer = None
            if kind == "apply":
                (category, keywords, confidence), target, join = operation[1], operation[2], operation[3]
                confirmed = [i.issue_id for i in db.confirmed_issues()]
                answer = Answer(_pick(confirmed, target) if join else None, category, keywords, "cause", ["step"],
                                confidence)
            db.apply(Outcome(next_ticket, answer, reason="invalid" if answer is None else ""), threshold=0.7,
                     updated_at=f"2026-01-{1 + next_ticket % 28:02d}T00:00:00Z", now=STAMP)
            next_ticket += 1
        elif kind == "move" and tickets:
            db.move_ticket(_pick(tickets, operation[1]), _pick(issues, operation[2]), STAMP)
        elif kind == "merge" and len(issues) > 1:
            keep, other = _pick(issues, operation[1]), _pick(issues, operation[2])
            if keep != other:
                db.merge(keep, other, STAMP)
        elif kind == "confirm" and tickets:
            db.confirm_ticket_issue(_pick(tickets, operation[1]), STAMP)
        elif kind == "reclassify" and tickets:
            db.remove_ticket(_pick(tickets, operation[1]), STAMP)


@FAST
@given(OPERATIONS)
def test_any_sequence_of_changes_keeps_one_issue_per_ticket_and_round_trips(tmp_path_factory, operations):
    db = IssueDB(embedding_model="m", embedding_text="problem-statement")
    run_operations(db, operations)

    db.check_consistency()
    owners = [t for issue in db.issues.values() for t in issue.ticket_ids]
    assert sorted(owners) == sorted(db.tickets) and len(owners) == len(set(owners))
    assert all(issue.ticket_ids for issue in db.issues.values())  # an emptied issue disappears
    text = dumps_deterministic(db.to_dict())
    assert dumps_deterministic(IssueDB.from_dict(json.loads(text)).to_dict()) == text
    # Deterministic (SPEC): sorted keys, and each issue's tickets in order, whatever order they came in.
    data = json.loads(text)
    assert text == json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert all(issue["ticket_ids"] == sorted(issue["ticket_ids"]) for issue in data["issues"])
    path = Path(tmp_path_factory.mktemp("db")) / "silo_issues_db.json"
    db.save(path)
    first = path.read_bytes()
    IssueDB.load(path).save(path)
    assert path.read_bytes() == first == text.encode("utf-8")


# --------------------------------------------------------------------------- the answer parser

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
FIELDS = ["issue_id", "category", "keywords", "root_cause", "resolution_steps", "confidence", "notes"]
# Answers of the right shape with values anywhere in their type's range (empty, huge, NaN, unknown ids,
# the prompt's own words), then some fields swapped for any JSON at all.
TEXT = st.text(max_size=30) | st.sampled_from(["", " ", "short general name of the problem", "null", "C1"])
TYPED = st.fixed_dictionaries({
    "issue_id": st.none() | st.sampled_from(["C1", "c2", " C10 ", "ISS-0001", "new", "C99"]) | TEXT,
    "category": TEXT, "keywords": st.lists(TEXT, max_size=4) | TEXT, "root_cause": TEXT,
    "resolution_steps": st.lists(TEXT, max_size=3) | TEXT,
    "confidence": st.floats(0, 1) | st.floats(0, 1) | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(-2, 2) | st.booleans(),
    "notes": st.none() | TEXT,
})
NEAR_ANSWERS = st.one_of(
    TYPED,
    st.tuples(TYPED, st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=2)).map(lambda p: {**p[0], **p[1]}),
    st.tuples(TYPED, st.sets(st.sampled_from(FIELDS), max_size=2)).map(
        lambda p: {k: v for k, v in p[0].items() if k not in p[1]}),
    st.dictionaries(st.sampled_from(FIELDS), JSON),
    JSON,
)
REPLIES = st.one_of(
    st.text(max_size=200),
    NEAR_ANSWERS.map(lambda data: json.dumps(data)),
    st.tuples(st.text(max_size=40), NEAR_ANSWERS, st.text(max_size=40)).map(
        lambda parts: f"{parts[0]}```json\n{json.dumps(parts[1])}\n```{parts[2]}"),
    st.tuples(st.text(max_size=30), st.text(max_size=60)).map(lambda parts: f"<think>{parts[0]}</think>{{{parts[1]}"),
)


@settings(max_examples=300, deadline=None)
@given(REPLIES, st.lists(st.sampled_from(["C1", "C2", "C10", "ISS-0001"]), max_size=3))
def test_any_reply_parses_and_validates_or_says_why(reply_text, ids):
    try:
        data = parse_json_answer(reply_text)
    except ValueError as exc:
        assert not isinstance(exc, InvalidAnswer) and str(exc)
        return
    assert isinstance(data, dict)
    try:
        answer = validate_answer(data, ids)
    except InvalidAnswer as exc:
        assert str(exc)
    else:
        assert answer.issue_id is None or answer.issue_id in ids
        assert 0.0 <= answer.confidence <= 1.0 and answer.category.strip()
        assert all(isinstance(k, str) and k for k in answer.keywords)
    try:
        verdict = validate_verdict(data, ids)
    except InvalidAnswer as exc:
        assert str(exc)
    else:
        assert verdict.keep_issue_id is None or verdict.keep_issue_id in ids
