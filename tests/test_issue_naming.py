"""Offline names and extracted resolutions: a person's wording, never a person's data."""

from __future__ import annotations

from issue_naming import clean_keywords, extract_resolution, issue_name, personal_words, resolving_reply

# A hidden-PII fixture: names, emails and company domains only the greetings, sign-offs and addresses reveal.
NAMES = ["Chloé", "Okafor", "Priyanka", "Marco"]
EMAILS = ["chloe.okafor@copperleaf.example.com", "priyanka@okaforevents.example.org"]
DOMAINS = ["copperleaf", "okaforevents"]


def conversation(ticket_id: int, subject: str, opening: str, reply: str, status: int = 4) -> dict:
    return {
        "ticket_id": ticket_id, "subject": subject, "status": status, "created_at": "", "updated_at": "",
        "url": "", "messages": [
            {"speaker": "user", "text": opening, "private": False, "incoming": True, "created_at": ""},
            {"speaker": "agent", "text": "Hi Chloé,\n\nWhich browser do you use?", "private": False,
             "incoming": False, "created_at": ""},
            {"speaker": "agent", "text": reply, "private": False, "incoming": False, "created_at": ""},
        ],
    }


DESK = [
    conversation(1, "Chloé Okafor - reset mail", "Hi, reset emails never arrive at chloe.okafor@copperleaf.example.com."
                 "\n\nChloé Okafor", "Dear Chloé,\n\nThe reset emails bounced off a stale suppression list entry. "
                 "To fix it:\n\n1. Open Settings > Email.\n2. Clear the suppression list.\n\nMarco | Silo Support"),
    conversation(2, "Password reset email not arriving", "The reset email never comes for our staff at "
                 "okaforevents.example.org.\n\nPriyanka", "Hello Priyanka,\n\nThe reset emails bounced off a stale "
                 "suppression list entry. We cleared it for your domain, Priyanka.\n\nMarco | Silo Support"),
    conversation(3, "Reset link not received", "No reset mail since Monday. Thanks, Priyanka",
                 "Hi Priyanka,\n\nThe reset emails bounced off a stale suppression list entry on our side. "
                 "I cleared it; please try again.\n\nMarco | Silo Support"),
]


def _leaks(text: str) -> list[str]:
    lowered = text.casefold()
    return [v for v in NAMES + EMAILS + DOMAINS if v.casefold() in lowered or v.casefold().replace("é", "") in lowered]


def test_names_keywords_and_extracted_texts_carry_no_personal_data():
    personal = personal_words(DESK)
    statements = [f"{c['subject']}\n\n{c['messages'][0]['text']}" for c in DESK]
    name = issue_name(statements, personal)
    keywords = clean_keywords(["chloé okafor", "copperleaf", "reset", "okaforevents example", "reset email"], personal)
    extracted = extract_resolution([resolving_reply(c) for c in DESK], personal)
    assert name == "Password reset email not arriving"  # the first subject names a person: skipped
    assert keywords == ["reset", "reset email"]
    assert extracted is not None and "suppression list" in extracted.root_cause
    for text in [name, *keywords, extracted.root_cause, *extracted.resolution_steps]:
        assert not _leaks(text), text


def test_the_resolving_reply_is_a_statement_of_a_resolved_ticket():
    assert "suppression" in resolving_reply(DESK[0])
    assert resolving_reply({**DESK[0], "status": 2}) == ""
    extracted = extract_resolution([resolving_reply(DESK[0])], personal_words(DESK))
    assert extracted is not None
    assert extracted.resolution_steps == ["Open Settings > Email.", "Clear the suppression list."]
    assert not extracted.root_cause.endswith(":")


def test_a_statement_too_short_or_personal_gives_no_name():
    assert issue_name(["Help!", "Anna Rossetti"], frozenset({"anna", "rossetti"})) == ""
