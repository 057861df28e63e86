"""Cleaning Freshdesk bodies as Gmail, Outlook, Apple Mail and Freshdesk itself write them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conversation_utils import (
    ConversationStore,
    clean_conversation,
    html_to_text,
    problem_statement,
    strip_quoted_history,
    strip_signature,
    transcript,
)
from errors import DatabaseError

# Freshdesk API shapes (python-freshdesk test data); the shared copy serves until the repo carries its own.
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "freshdesk"
if not FIXTURES.is_dir():
    FIXTURES = Path("/work/shared/fixtures/freshdesk")


def ticket(**fields):
    base = {
        "id": 4711,
        "subject": "Export  to PDF fails",
        "status": 4,
        "source": 1,
        "created_at": "2026-01-05T09:00:00Z",
        "updated_at": "2026-01-07T12:00:00Z",
        "description": "<div>The PDF export shows a blank page.</div>",
        "description_text": "The PDF export shows a blank page.",
    }
    base.update(fields)
    return base


def reply(body, *, incoming=False, private=False, at="2026-01-05T10:00:00Z", cid=1, body_text=None):
    return {
        "id": cid,
        "body": body,
        "body_text": body_text,
        "incoming": incoming,
        "private": private,
        "source": 2 if private else 0,
        "user_id": 99,
        "created_at": at,
    }


# -- html_to_text ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<div>Tom &amp; Jerry&#39;s&nbsp;&nbsp;bill &lt;draft&gt;</div>", "Tom & Jerry's bill <draft>"),
        ("<div>line one<br>line two<br/><br />line four</div>", "line one\nline two\n\nline four"),
        ("<p>First paragraph.</p><p>Second paragraph.</p>", "First paragraph.\n\nSecond paragraph."),
        (
            "<div>Hi,</div><div><br></div><div>It    fails\n   again.</div><div><br></div><div><br></div>"
            "<div><br></div><div>Bye</div>",
            "Hi,\n\nIt fails again.\n\nBye",
        ),
        (
            "<ul><li>Open Settings</li><li>Click Export<ul><li>choose <b>PDF</b></li></ul></li>"
            "<li>Save</li></ul>",
            "- Open Settings\n- Click Export\n  - choose PDF\n- Save",
        ),
        ("<ol><li><p>Log out</p></li><li>Log in</li></ol>", "1. Log out\n2. Log in"),
        (
            "<table><tr><th>Plan</th><th>Seats</th></tr><tr><td>Pro</td><td><p>12</p></td></tr></table>",
            "Plan | Seats\nPro | 12",
        ),
        (
            '<div>See the error:</div><img src="cid:ii_1" alt="image.png"><img src="x.png">'
            '<img src="y.png" alt="Error 500 dialog"><div>after</div>',
            "See the error:\n[image: Error 500 dialog]\nafter",
        ),
        (
            "<html><head><style>p {color: red}</style><title>t</title></head><body>"
            "<script>var x = 1;</script><p>Visible</p></body></html>",
            "Visible",
        ),
        ("<div>Zürich — 東京 — naïve café ✓</div>", "Zürich — 東京 — naïve café ✓"),
        ("<div>zero\u200bwidth</div>", "zerowidth"),
        ("", ""),
    ],
    ids=[
        "entities", "br", "paragraphs", "whitespace", "nested-list", "ordered-list", "table",
        "images", "script-style", "non-ascii", "invisible", "empty",
    ],
)
def test_html_to_text(html, expected):
    assert html_to_text(html) == expected


def test_layout_table_keeps_line_breaks_and_outlook_markup():
    html = (
        '<table><tr><td><p class="MsoNormal">Hello,<o:p></o:p></p>'
        '<p class="MsoNormal">the sync stopped.<o:p></o:p></p></td></tr></table>'
        "<!--[if gte mso 9]><xml>junk</xml><![endif]-->"
    )
    assert html_to_text(html) == "Hello,\n\nthe sync stopped."


# -- quoted history -------------------------------------------------------------------------------------
QUOTED_FORMS = {
    "freshdesk": (
        '<div>Please clear the cache and retry.</div><div class="freshdesk_quote">'
        '<blockquote class="freshdesk_quote">On Mon, 5 Jan at 9:00 AM , Ann &lt;ann@acme.test&gt; wrote:'
        "<br><div>OLD the pdf is blank</div></blockquote></div>"
    ),
    "gmail": (
        '<div dir="ltr">Cache cleared, still blank.</div><br><div class="gmail_quote">'
        '<div dir="ltr" class="gmail_attr">On Mon, Jan 5, 2026 at 10:00 AM Silo Support &lt;'
        'support@silo.test&gt; wrote:<br></div><blockquote class="gmail_quote" style="margin:0 0 0 .8ex">'
        "<div>OLD please clear the cache</div></blockquote></div>"
    ),
    "outlook-web": (
        '<div dir="ltr"><div>Still broken after the update.</div></div><div id="appendonsend"></div>'
        '<hr style="display:inline-block;width:98%"><div id="divRplyFwdMsg" dir="ltr">'
        "<b>From:</b> Silo Support &lt;support@silo.test&gt;<br><b>Sent:</b> Monday, January 5, 2026 "
        "10:00 AM<br><b>To:</b> Ann<br><b>Subject:</b> RE: Export</div><div>OLD try the new build</div>"
    ),
    "outlook-desktop": (
        '<div class="WordSection1"><p class="MsoNormal">Still broken after the update.<o:p></o:p></p>'
        '<div style="border:none;border-top:solid #E1E1E1 1.0pt"><p class="MsoNormal"><b>From:</b> '
        "Silo Support<br><b>Sent:</b> Monday, January 5, 2026 10:00 AM<br><b>To:</b> Ann<br>"
        "<b>Subject:</b> RE: Export</p></div><p class=MsoNormal>OLD try the new build</p></div>"
    ),
    "new-outlook": (
        "<div>Still broken after the update.</div><div class=\"mail-editor-reference-message-container\">"
        "<div><b>From: </b>Silo Support<br><b>Date: </b>Monday, 5 January 2026</div>"
        "<div>OLD try the new build</div></div>"
    ),
    "original-message": (
        "<div>Still broken after the update.</div><div>-----Original Message-----</div>"
        "<div>From: Silo Support</div><div>OLD try the new build</div>"
    ),
    "apple-mail": (
        "<div>Still broken after the update.</div><div><br><blockquote type=\"cite\">"
        "<div>On 5 Jan 2026, at 10:00, Silo Support wrote:</div><div>OLD try the new build</div>"
        "</blockquote></div>"
    ),
    "plain-on-wrote": (
        "Still broken after the update.\n\nOn Mon, Jan 5, 2026 at 10:00 AM Silo Support <\n"
        "support@silo.test> wrote:\n\nOLD try the new build"
    ),
    "plain-header": (
        "Still broken after the update.\n\nFrom: Silo Support <support@silo.test>\nSent: Monday, "
        "January 5, 2026 10:00 AM\nTo: Ann\nSubject: RE: Export\n\nOLD try the new build"
    ),
    "plain-angle": "Still broken after the update.\n\n> OLD try the new build\n> OLD and restart",
    "german": (
        "Still broken after the update.\n\nAm 05.01.2026 um 10:00 schrieb Silo Support <s@silo.test>:"
        "\n\nOLD try the new build"
    ),
}


NEW_WORDS = {"freshdesk": "Please clear the cache and retry.", "gmail": "Cache cleared, still blank."}


@pytest.mark.parametrize("form", QUOTED_FORMS)
def test_quoted_history_is_removed_and_new_words_stay(form):
    text = strip_quoted_history(QUOTED_FORMS[form])
    assert text == NEW_WORDS.get(form, "Still broken after the update.")
    assert "OLD" not in text


def test_bottom_posted_reply_keeps_words_after_the_quote():
    body = (
        "On Mon, Jan 5, 2026 at 10:00 AM Silo Support <support@silo.test> wrote:\n"
        "> OLD did the new build help?\n> OLD let us know\n\nNo, the export is still blank."
    )
    assert strip_quoted_history(body) == "No, the export is still blank."


def test_gmail_reply_written_below_the_quote_div_stays():
    body = (
        '<div class="gmail_quote">On Mon, Jan 5, 2026 at 10:00 AM X &lt;x@y.test&gt; wrote:'
        "<blockquote>OLD question</blockquote></div><div>My answer below.</div>"
    )
    assert strip_quoted_history(body) == "My answer below."


@pytest.mark.parametrize(
    "text",
    [
        "On Monday the log wrote:\nERROR disk full",
        "Steps:\n> open the app\nthen it crashes",
        "From: the settings page I cannot reach billing.",
    ],
    ids=["on-without-date", "lone-angle-line", "from-sentence"],
)
def test_quote_like_lines_written_by_the_customer_stay(text):
    assert strip_quoted_history(text) == text


def test_forwarded_message_is_content_not_history():
    body = (
        "<div>See the mail our accountant got:</div><div class=\"gmail_quote\"><div class=\"gmail_attr\">"
        "---------- Forwarded message ---------<br>From: Billing &lt;billing@silo.test&gt;<br>"
        "Date: Mon, Jan 5, 2026<br>Subject: Invoice 123<br>To: acc@acme.test<br></div><br>"
        "<div>Your invoice could not be generated.</div></div>"
    )
    text = strip_quoted_history(body)
    assert text.startswith("See the mail our accountant got:")
    assert "Your invoice could not be generated." in text


def test_outlook_forward_is_kept():
    text = (
        "FYI, this arrived today.\n\nFrom: Billing <billing@silo.test>\nSent: Monday, January 5, 2026\n"
        "To: Ann\nSubject: FW: Invoice failed\n\nYour invoice could not be generated."
    )
    assert "Your invoice could not be generated." in strip_quoted_history(text)


# -- signatures -----------------------------------------------------------------------------------------
BODY = "The export is still blank on Safari 17."
SIGNATURES = {
    "dash-dash": f"{BODY}\n\n-- \nAnn Lee\nCTO, Acme GmbH\n+49 30 1234567",
    "iphone": f"{BODY}\n\nSent from my iPhone",
    "android": f"{BODY}\n\nSent from my Samsung Galaxy smartphone.",
    "outlook-mobile": f"{BODY}\n\nGet Outlook for Android",
    "best-regards": f"{BODY}\n\nBest regards,\nAnn Lee\nAcme GmbH | www.acme.test\n+49 30 1234567",
    "kind-regards-inline": f"{BODY}\n\nKind regards, Ann",
    "thanks": f"{BODY}\n\nThanks,\nAnn",
    "regards-then-mobile": f"{BODY}\n\nRegards,\nJosé Núñez\n\nSent from my iPad",
    "sign-off-only": f"{BODY}\n\nThanks,",
    "german": f"{BODY}\n\nMit freundlichen Grüßen\nJörg van der Berg",
}


@pytest.mark.parametrize("text", SIGNATURES.values(), ids=SIGNATURES.keys())
def test_signature_is_removed(text):
    assert strip_signature(text) == BODY


@pytest.mark.parametrize(
    "text",
    [
        "Thanks,\nthe export now works but the PDF is blank. Can you check?",
        "Thanks, I tried that and it still fails.",
        "It works now. Thanks!",
        "Regards,\nExport works now",
        "Best regards,\nAnn\n\nP.S. It also fails in Firefox",
        "Before the update:\n--\nthe report had 12 pages and now it has none, which breaks our monthly "
        "close. Finance needs the numbers by Friday. Each of the twelve regional managers signs off. "
        "We rely on it heavily.\nline\nline\nline\nline\nline\nline\nline\nline\nline",
    ],
    ids=["thanks-sentence", "thanks-inline", "closing-thanks", "lowercase-tail", "ps", "long-tail"],
)
def test_signature_like_text_that_is_content_stays(text):
    assert strip_signature(text) == text


def test_signature_like_line_mid_message_stays_and_the_real_one_goes():
    text = "Thanks,\nthe export now works but the PDF is blank.\n\nRegards,\nAnna"
    assert strip_signature(text) == "Thanks,\nthe export now works but the PDF is blank."


# -- clean_conversation ---------------------------------------------------------------------------------
def test_fixture_ticket_and_conversations():
    raw_ticket = json.loads((FIXTURES / "ticket_1.json").read_text(encoding="utf-8"))
    raw_convs = json.loads((FIXTURES / "conversations.json").read_text(encoding="utf-8"))
    conv = clean_conversation(raw_ticket, raw_convs, "https://acme.freshdesk.com/a/tickets/1")
    assert conv == {
        "ticket_id": 1,
        "subject": "This is a sample ticket",
        "status": 2,
        "created_at": "2016-05-18T04:36:04Z",
        "updated_at": "2016-05-18T23:42:50Z",
        "url": "https://acme.freshdesk.com/a/tickets/1",
        "messages": [
            {"speaker": "user", "text": raw_ticket["description_text"], "private": False,
             "incoming": True, "created_at": "2016-05-18T04:36:04Z"},
            {"speaker": "agent", "text": "This is a private note", "private": True,
             "incoming": False, "created_at": "2016-05-19T05:36:12Z"},
            {"speaker": "agent", "text": "This is a reply", "private": False,
             "incoming": False, "created_at": "2016-05-19T05:36:14Z"},
        ],
    }


@pytest.mark.parametrize("name", ["note_1.json", "reply_1.json"])
def test_fixture_single_conversations(name):
    raw = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    conv = clean_conversation(ticket(), [raw], "u")
    assert conv["messages"][1]["text"] == raw["body_text"]
    assert conv["messages"][1]["private"] is raw["private"]


def test_ticket_without_conversations():
    conv = clean_conversation(ticket(), [], "https://acme.freshdesk.com/a/tickets/4711")
    assert conv["subject"] == "Export to PDF fails"
    assert conv["status"] == 4
    assert [(m["speaker"], m["text"]) for m in conv["messages"]] == [
        ("user", "The PDF export shows a blank page.")
    ]


def test_full_thread_order_collapse_private_and_quotes():
    convs = [
        # given out of order: cleaning sorts by created_at
        reply('<div>Fixed in 4.2, please update.</div><div class="freshdesk_quote"><blockquote '
              'class="freshdesk_quote">OLD earlier text</blockquote></div>',
              at="2026-01-06T09:00:00Z", cid=5),
        reply("<div>Also: it happens only with logos &gt; 2&nbsp;MB.</div>", incoming=True,
              at="2026-01-05T09:30:00Z", cid=2),
        reply("<div>Customer on plan Pro, see INC-77.</div>", private=True, at="2026-01-05T10:00:00Z", cid=3),
        reply("<div>Escalated to dev.</div>", private=True, at="2026-01-05T10:05:00Z", cid=4),
        reply("<div><br></div>", at="2026-01-05T11:00:00Z", cid=6),  # empty: dropped
        reply('<div>Works now, danke schön!</div><div class="gmail_quote">On Tue, Jan 6, 2026 OLD</div>'
              "<div>Sent from my iPhone</div>", incoming=True, at="2026-01-06T10:00:00Z", cid=7),
    ]
    conv = clean_conversation(ticket(), convs, "u")
    assert [(m["speaker"], m["private"], m["text"]) for m in conv["messages"]] == [
        ("user", False, "The PDF export shows a blank page.\n\nAlso: it happens only with logos > 2 MB."),
        ("agent", True, "Customer on plan Pro, see INC-77.\n\nEscalated to dev."),
        ("agent", False, "Fixed in 4.2, please update."),
        ("user", False, "Works now, danke schön!"),
    ]
    assert conv["messages"][0]["created_at"] == "2026-01-05T09:00:00Z"
    assert conv["messages"][1]["created_at"] == "2026-01-05T10:00:00Z"
    assert conv["messages"][1]["incoming"] is False


def test_public_private_switch_is_not_collapsed():
    convs = [
        reply("<div>We are looking into it.</div>", at="2026-01-05T10:00:00Z", cid=1),
        reply("<div>Internal: likely the CDN.</div>", private=True, at="2026-01-05T10:01:00Z", cid=2),
        reply("<div>Update: it was the CDN.</div>", at="2026-01-05T10:02:00Z", cid=3),
    ]
    messages = clean_conversation(ticket(), convs, "u")["messages"]
    assert [(m["speaker"], m["private"]) for m in messages] == [
        ("user", False), ("agent", False), ("agent", True), ("agent", False),
    ]


def test_body_text_fallback_and_missing_description():
    convs = [reply(None, body_text="Plain reply.\n\nOn Mon, Jan 5, 2026 at 9:00 AM Ann wrote:\nOLD", cid=1)]
    conv = clean_conversation(ticket(description=None), convs, "u")
    assert [m["text"] for m in conv["messages"]] == ["The PDF export shows a blank page.", "Plain reply."]
    conv = clean_conversation(ticket(description="", description_text=""), convs, "u")
    assert [m["speaker"] for m in conv["messages"]] == ["agent"]


def test_outbound_email_description_is_the_agent():
    conv = clean_conversation(ticket(source=10, description="<div>Your renewal is due.</div>"), [], "u")
    assert conv["messages"][0]["speaker"] == "agent"
    assert conv["messages"][0]["incoming"] is False


def test_gmail_signature_markup_is_dropped():
    body = ('<div dir="ltr">Login loops back to the start page.<br clear="all"><div><br></div>-- <br>'
            '<div dir="ltr" class="gmail_signature"><div>Ann Lee | Head of Ops | Acme</div></div></div>')
    conv = clean_conversation(ticket(description=body), [], "u")
    assert conv["messages"][0]["text"] == "Login loops back to the start page."


# -- problem_statement and transcript -------------------------------------------------------------------
def _thread():
    convs = [
        reply("<div>Please update to 4.2.</div>", at="2026-01-05T10:00:00Z", cid=1),
        reply("<div>Internal: CDN bug.</div>", private=True, at="2026-01-05T10:01:00Z", cid=2),
        reply("<div>The update did not help.</div>", incoming=True, at="2026-01-05T11:00:00Z", cid=3),
    ]
    return clean_conversation(ticket(), convs, "u")


def test_problem_statement_is_the_subject_and_the_opening_message():
    text = problem_statement(_thread())
    assert text == "Export to PDF fails\n\nThe PDF export shows a blank page."
    assert "update" not in text.lower() and "CDN" not in text  # follow-ups, agents and notes are chatter


def test_problem_statement_takes_later_customer_words_while_the_opening_says_too_little():
    conv = _thread()
    conv["subject"] = "Help"
    conv["messages"][0]["text"] = "Hi there"
    assert problem_statement(conv) == "Help\n\nHi there\n\nThe update did not help."


def test_problem_statement_fits_the_budget_at_a_word_boundary():
    conv = _thread()
    conv["messages"][0]["text"] = "word " * 1000
    text = problem_statement(conv, max_chars=1000)
    assert 900 < len(text) <= 1000
    assert text.endswith("word")
    assert problem_statement(conv, max_chars=1000) == text


def test_transcript_labels():
    text, trimmed = transcript(_thread())
    assert not trimmed
    assert text == (
        "Subject: Export to PDF fails\n\n[customer] The PDF export shows a blank page.\n\n"
        "[agent] Please update to 4.2.\n\n[agent, private note] Internal: CDN bug.\n\n"
        "[customer] The update did not help."
    )


@pytest.mark.parametrize("max_chars", [150, 400, 1000])
def test_transcript_trims_the_middle(max_chars):
    conv = _thread()
    conv["messages"][1]["text"] = " ".join(f"middle{i}" for i in range(300))
    text, trimmed = transcript(conv, max_chars=max_chars)
    assert trimmed
    assert len(text) <= max_chars
    assert text.startswith("Subject: Export to PDF fails")
    assert text.endswith("help.")
    full, _ = transcript(conv, max_chars=10**6)
    dropped = int(text.split("[... ")[1].split(" characters")[0])
    assert dropped >= len(full) - len(text)


# -- ConversationStore ----------------------------------------------------------------------------------
def test_store_round_trip(tmp_path):
    store = ConversationStore(tmp_path / "conversations")
    conv = _thread()
    raw = {"ticket": ticket(), "conversations": [reply("<div>x</div>")]}
    assert store.ticket_ids() == []
    assert not store.is_fresh(4711, conv["updated_at"])
    store.save(conv, raw)
    assert store.load(4711) == conv
    assert store.load_raw(4711) == raw
    assert store.is_fresh(4711, "2026-01-07T12:00:00Z")
    assert not store.is_fresh(4711, "2026-01-08T00:00:00Z")
    other = clean_conversation(ticket(id=12), [], "u")
    store.save(other, {"ticket": ticket(id=12), "conversations": []})
    (store.root / ".13.json.abc.part").write_text("{", encoding="utf-8")
    (store.root / "notes.txt").write_text("x", encoding="utf-8")
    assert store.ticket_ids() == [12, 4711]
    text = (store.root / "4711.json").read_text(encoding="utf-8")
    assert text.endswith("\n") and json.loads(text) == conv


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"ticket_id": 12, "messa', "is not valid JSON"),
        (b"\xff\xfe\x00garbage", "is not valid JSON"),
        (b"[]", "is not a conversation"),
    ],
    ids=["truncated", "not-utf8", "wrong-shape"],
)
def test_corrupt_file_raises_database_error_naming_it(tmp_path, content, message):
    store = ConversationStore(tmp_path / "conversations")
    (tmp_path / "conversations").mkdir()
    (tmp_path / "conversations" / "12.json").write_bytes(content)
    with pytest.raises(DatabaseError) as info:
        store.load(12)
    assert message in str(info.value)
    assert str(tmp_path / "conversations" / "12.json") in str(info.value)
    assert "delete it and re-run" in str(info.value)
    assert not store.is_fresh(12, "anything")


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        ConversationStore(tmp_path).load(5)


def test_write_failure_is_a_database_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    store = ConversationStore(blocker / "conversations")
    with pytest.raises(DatabaseError, match="cannot write"):
        store.save(_thread(), {"ticket": ticket(), "conversations": []})
