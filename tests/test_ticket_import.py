"""Export files (CSV, JSON, JSONL) read into conversations, checked against the API path of the same desk."""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fake_freshdesk import make_desk, make_thread
from fake_zendesk import FakeZendesk, VirtualClock, export_records, to_zendesk

from conversation_utils import ConversationStore, clean_conversation, conversation_from_messages, problem_statement
from errors import ImportFileError, SiloError, UsageError, cli_message
from main import CLI_FIXES
from ticket_import import ImportStats, conversation_from_raw, parse_map, read_export, status_code
from zendesk_client import ZendeskClient, fetch_threads, iter_incremental, zendesk_conversation, zendesk_ticket_url

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
HOUR_AGO = NOW - timedelta(hours=1)
STATUS_NAMES = {2: "Open", 3: "Pending", 4: "Resolved", 5: "Closed"}
# The columns of a Freshdesk ticket export (Tickets > Export, every field ticked), in Freshdesk's order.
FRESHDESK_CSV_HEADER = [
    "Ticket ID", "Subject", "Description", "Status", "Priority", "Source", "Type", "Agent", "Group",
    "Created time", "Due by Time", "Resolved time", "Closed time", "Last update time", "Initial response time",
    "Time tracked", "First response time (in hrs)", "Resolution time (in hrs)", "Agent interactions",
    "Customer interactions", "Resolution status", "First response status", "Tags", "Survey results", "Product",
    "Full name", "Contact ID", "Email",
]


@pytest.fixture(scope="module")
def desk() -> list[dict]:
    return make_desk(200, seed=21, end=HOUR_AGO)


def cli_wording(exc: SiloError) -> str:
    """What the command line prints for `exc`: the library's problem with the CLI's fix."""
    return cli_message(exc, CLI_FIXES)


def csv_time(stamp: str) -> str:
    return stamp.replace("T", " ").removesuffix("Z")


def freshdesk_csv(desk: list[dict], separator: str = ",", bom: bool = False, thread: bool = False) -> str:
    """The desk as Freshdesk's CSV ticket export writes it: plain-text descriptions, named statuses.

    With `thread`, numbered "Customer reply N" / "Agent reply N" / "Private note N" columns add every later
    message in plain text, as a script that joins the conversations to the export would."""
    longest = max(len(t["conversations"]) for t in desk) if thread else 0
    # Grouped by kind, as a spreadsheet would lay them out: the numbers give the thread order.
    replies = [f"{kind} {n}" for kind in ("Customer reply", "Agent reply", "Private note")
               for n in range(1, longest + 1)]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=separator, lineterminator="\r\n")
    writer.writerow(FRESHDESK_CSV_HEADER + replies)
    for item in desk:
        t = item["ticket"]
        solved = csv_time(t["updated_at"]) if t["status"] in (4, 5) else ""
        row = {"Ticket ID": t["id"], "Subject": t["subject"], "Description": t["description_text"],
               "Status": STATUS_NAMES[t["status"]], "Priority": "Medium", "Source": "Email", "Type": "Problem",
               "Agent": "Maria", "Group": "Billing", "Created time": csv_time(t["created_at"]),
               "Due by Time": csv_time(t["due_by"]), "Resolved time": solved,
               "Closed time": solved if t["status"] == 5 else "", "Last update time": csv_time(t["updated_at"]),
               "Agent interactions": 2, "Customer interactions": 1, "Resolution status": "Within SLA",
               "Tags": ",".join(t["tags"]), "Full name": "Jana Novak", "Contact ID": t["requester_id"],
               "Email": "jana@example.org"}
        if thread:
            for n, c in enumerate(item["conversations"], start=1):
                kind = "Private note" if c["private"] else "Customer reply" if c["incoming"] else "Agent reply"
                row[f"{kind} {n}"] = c["body_text"]
        writer.writerow([row.get(name, "") for name in FRESHDESK_CSV_HEADER + replies])
    return ("\ufeff" if bom else "") + out.getvalue()


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


def problem_text(conv: dict) -> tuple[str, str]:
    """The problem statement the embeddings see: the subject and the customer's opening message."""
    first_user = next(m["text"] for m in conv["messages"] if m["speaker"] == "user")
    return conv["subject"], first_user


def kept(desk: list[dict]) -> list[dict]:
    return [t for t in desk if t["ticket"]["status"] in (4, 5)]


def api_conversations(desk: list[dict]) -> dict[int, dict]:
    """The same desk through the Zendesk API path: export, comments, cleaning."""
    clock = VirtualClock(NOW.timestamp())
    with FakeZendesk(desk, clock=clock) as fake:
        client = ZendeskClient(fake.url, "agent@acme.test", "test-token", sleep=clock.sleep, clock=clock,
                               wall_clock=clock)
        threads = fetch_threads(client, iter_incremental(client, "2020-01-01"), batch_size=3,
                                is_cached=lambda ref: False)
        return {ref.id: zendesk_conversation(t.ticket, t.comments, zendesk_ticket_url(fake.url, ref.id))
                for ref, t in threads}


# ----------------------------------------------------------------------------- the headline equivalence


@pytest.mark.slow
def test_zendesk_json_export_and_csv_export_give_the_api_paths_conversations(desk, tmp_path):
    api = api_conversations(desk)
    ndjson = write(tmp_path, "zendesk-export.json", "\n".join(json.dumps(r) for r in export_records(desk)) + "\n")
    from_json = {t.id: t.conversation for t in read_export(ndjson)}
    from_csv = {t.id: t.conversation for t in read_export(write(tmp_path, "tickets.csv", freshdesk_csv(desk)))}
    threaded = read_export(write(tmp_path, "threads.csv", freshdesk_csv(desk, thread=True)))
    from_threads = {t.id: t.conversation for t in threaded}
    assert set(api) == set(from_json) == set(from_csv) == set(from_threads) == {t["ticket"]["id"] for t in kept(desk)}

    def said(conv: dict) -> list[tuple[str, bool, str]]:
        return [(m["speaker"], m["private"], m["text"]) for m in conv["messages"]]

    for ticket_id, conv in api.items():
        # The JSON export holds the whole thread: the same conversation, up to the link.
        assert {**from_json[ticket_id], "url": conv["url"]} == conv
        # A CSV with reply columns: the same messages (replies carry no times of their own).
        assert said(from_threads[ticket_id]) == said(conv)
        assert problem_statement(from_threads[ticket_id]) == problem_statement(conv)
        # The plain CSV export holds the description only: the same problem statement.
        assert problem_text(from_csv[ticket_id]) == problem_text(conv)
        assert from_csv[ticket_id]["status"] == from_threads[ticket_id]["status"] == conv["status"]


# ----------------------------------------------------------------------------- CSV


def test_freshdesk_csv_export_reads_its_headers_and_keeps_resolved_and_closed(desk, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    stats = ImportStats()
    tickets = read_export(write(tmp_path, "export.csv", freshdesk_csv(desk)), stats=stats,
                          ticket_url=lambda i: f"https://acme.freshdesk.com/a/tickets/{i}")
    assert [t.id for t in tickets] == [t["ticket"]["id"] for t in kept(desk)]
    assert (stats.records, stats.imported, stats.not_kept, stats.skipped) == (200, len(kept(desk)),
                                                                             200 - len(kept(desk)), 0)
    by_id = {t["ticket"]["id"]: t["ticket"] for t in desk}
    first = tickets[0]
    source = by_id[first.id]
    assert first.conversation["status"] == source["status"]
    assert first.conversation["created_at"] == source["created_at"] and first.updated_at == source["updated_at"]
    assert first.conversation["url"] == f"https://acme.freshdesk.com/a/tickets/{first.id}"
    assert first.raw["source"] == "file" and first.raw["record"]["Ticket ID"] == str(first.id)
    assert "not resolved, solved or closed; left out" in caplog.text


@pytest.mark.parametrize(("separator", "bom"), [(",", False), (";", True), ("\t", False), (",", True)])
def test_separators_bom_and_quoted_newlines(separator, bom, tmp_path):
    rows = [
        ["Ticket ID", "Subject", "Description", "Status", "Created time"],
        ["7", "Export; times out", 'The CSV export "spins", then fails.\nIt worked, last week;\ttoo.', "Closed",
         "2026-02-01 10:00:00"],
        ["8", "Login", "Cannot log in.", "resolved", "2026-02-02 10:00"],
    ]
    out = io.StringIO()
    csv.writer(out, delimiter=separator).writerows(rows)
    path = write(tmp_path, "t.csv", ("\ufeff" if bom else "") + out.getvalue())
    tickets = read_export(path)
    assert [t.id for t in tickets] == [7, 8]
    assert tickets[0].conversation["subject"] == "Export; times out"
    assert tickets[0].conversation["messages"][0]["text"] == ('The CSV export "spins", then fails.\n'
                                                              "It worked, last week; too.")
    assert tickets[1].conversation["created_at"] == "2026-02-02T10:00:00Z" and tickets[1].conversation["status"] == 4
    assert list(tickets[0].raw["record"])[0] == "Ticket ID"  # the BOM is not part of the first column's name


def test_json_with_a_bom_reads(tmp_path):
    records = export_records([make_thread(3, 1, status=4)])
    (ticket,) = read_export(write(tmp_path, "bom.json", "\ufeff" + json.dumps(records)))
    assert ticket.id == 3


def test_later_messages_come_from_reply_and_note_columns(tmp_path):
    content = ("Ticket ID,Subject,Description,Status,Updated at,Agent reply 1,Customer reply 1,Private note,"
               "Agent reply 2\n"
               '9,Sync,Events are missing.,solved,2026-02-01T10:00:00Z,Re-authorise the connector.,'
               '"Done, thanks.\n\nOn Mon, Feb 2, 2026 at 10:00 AM Maria wrote:\n> Re-authorise",'
               "Subscription expired.,Glad it works.\n")
    (ticket,) = read_export(write(tmp_path, "replies.csv", content))
    assert [(m["speaker"], m["private"], m["text"]) for m in ticket.conversation["messages"]] == [
        ("user", False, "Events are missing."),
        ("agent", False, "Re-authorise the connector."),
        ("user", False, "Done, thanks."),  # the quoted history is stripped as on the API path
        ("agent", True, "Subscription expired."),
        ("agent", False, "Glad it works."),
    ]


def test_map_overrides_the_alias_table(tmp_path):
    content = "Case Number,Headline,Problem,State,Opened\n12,VAT,Wrong VAT rate.,Closed,2026-01-03\n"
    path = write(tmp_path, "custom.csv", content)
    with pytest.raises(ImportFileError) as caught:
        read_export(path)
    message = str(caught.value)
    assert "has no column for id, description" in message and "'Case Number'" in message and "--" not in message
    assert "name them with --map COLUMN=FIELD" in cli_wording(caught.value)
    assert caught.value.exit_code == 2
    mapping = parse_map(["Case Number=id", "Problem=description", "Headline=subject"])
    (ticket,) = read_export(path, mapping=mapping)
    assert (ticket.id, ticket.conversation["subject"], ticket.conversation["messages"][0]["text"]) == (
        12, "VAT", "Wrong VAT rate.")
    assert ticket.conversation["created_at"] == "2026-01-03T00:00:00Z"


def test_bad_map_options_are_one_line_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="names 'ticket', which is not a field: use one of id, subject"):
        parse_map(["Case Number=ticket"])
    with pytest.raises(UsageError, match="is not COLUMN=FIELD") as not_a_pair:
        parse_map(["Case Number"])
    assert "--" not in str(not_a_pair.value)
    assert cli_wording(not_a_pair.value).endswith("write e.g. --map 'Ticket Number=id'")
    path = write(tmp_path, "t.csv", "Ticket ID,Subject,Description,Status,Created time\n1,a,b,Closed,2026-01-01\n")
    with pytest.raises(UsageError) as caught:
        read_export(path, mapping={"Case No": "id"})
    assert "names column 'Case No', which" in str(caught.value) and caught.value.exit_code == 2


def test_rows_lacking_a_required_field_are_reported_by_line_and_skipped(tmp_path, caplog):
    content = (
        "Ticket ID,Subject,Description,Status,Created time\n"
        '1,Multi-line,"first line\nsecond line\nthird line",Closed,2026-01-01 10:00:00\n'  # lines 2-4
        ",No id,Text,Closed,2026-01-01 10:00:00\n"  # line 5
        "3,No status,Text,,2026-01-01 10:00:00\n"  # line 6
        "4,No description,,Resolved,2026-01-01 10:00:00\n"  # line 7
        "5,Bad date,Text,Resolved,01/02/2026\n"  # line 8
        "6,Odd status,Text,Escalated,2026-01-01 10:00:00\n"  # line 9
        "7,Too many,Text,Closed,2026-01-01 10:00:00,extra\n"  # line 10
        "\n"
        "8,Fine,Text,Resolved,2026-01-01 10:00:00\n"  # line 12
    )
    stats = ImportStats()
    tickets = read_export(write(tmp_path, "rows.csv", content), stats=stats)
    assert [t.id for t in tickets] == [1, 8]
    assert stats.skipped == 6 and len(stats.problems) == 6
    lines = [p.split(": ", 1)[0].rsplit(" ", 1)[-1] for p in stats.problems]
    assert lines == ["5", "6", "7", "8", "9", "10"]
    assert "line 5: has no ticket id" in caplog.text
    assert "line 6: has no status" in caplog.text
    assert "line 7: has no description and no messages" in caplog.text
    assert "line 8: has created_at '01/02/2026', which is not a date" in caplog.text
    assert "line 9: has status 'Escalated', which is not one this tool knows" in caplog.text
    assert "line 10: has 6 cells where the header has 5" in caplog.text
    assert all(p.endswith("; skipped") for p in stats.problems)


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("latin1.csv", "Ticket ID,Subject\n1,Caf\xe9\n".encode("latin-1"), "is not UTF-8 text (byte 0xe9"),
        ("utf16.csv", "Ticket ID,Subject\n".encode("utf-16"), "is not UTF-8 text"),
        ("empty.csv", b"", "is empty"),
        ("blank.json", b"  \n\n", "is empty"),
        ("notes.txt", b"Just some notes\nabout tickets\n", "is not a table"),
        ("broken.json", b'[{"id": 1, "subject": ', "is not valid JSON (line 1"),
        ("number.json", b"42", "is not JSON (it starts with '4')"),
        ("object.json", b'{"count": 3, "next_page": null}', "holds JSON but no tickets"),
        ("binary.csv", b"Ticket ID,Subject\n1,\x00\x01\x02\n", "is not a text file"),
        ("nothing.jsonl", b"{not json}\n{nor this}\n", "no line of it parses"),
    ],
)
def test_bad_files_are_one_clear_line_with_exit_2(name, content, says, tmp_path):
    path = write(tmp_path, name, content)
    with pytest.raises(ImportFileError) as caught:
        read_export(path)
    message = str(caught.value)
    assert says in message and str(path) in message and "\n" not in message
    assert caught.value.exit_code == 2


def test_missing_file_and_folder_are_usage_errors(tmp_path):
    for path, says in ((tmp_path / "absent.csv", "does not exist"), (tmp_path, "cannot read")):
        with pytest.raises(ImportFileError, match=says) as caught:
            read_export(path)
        assert caught.value.exit_code == 2


# ----------------------------------------------------------------------------- JSON shapes


def test_zendesk_shapes_tickets_wrapper_and_ticket_comment_pairs(desk, tmp_path):
    records = export_records(desk[:30])
    for record in records:
        record["url"] = f"https://acme.zendesk.com/api/v2/tickets/{record['id']}.json"
    wrapped = write(tmp_path, "wrapped.json", json.dumps({"tickets": records, "count": len(records)}))
    pairs = write(tmp_path, "pairs.json", json.dumps(
        [{"ticket": {k: v for k, v in r.items() if k != "comments"}, "comments": r["comments"]} for r in records]))
    expected = {r["id"]: zendesk_conversation(r, r["comments"], "") for r in records
                if r["status"] in ("solved", "closed")}
    for path in (wrapped, pairs):
        tickets = read_export(path)
        assert {t.id: {**t.conversation, "url": ""} for t in tickets} == expected
        # Zendesk's API url names the account: the link is that account's agent page.
        assert tickets[0].conversation["url"] == f"https://acme.zendesk.com/agent/tickets/{tickets[0].id}"
        assert tickets[0].raw["source"] == "zendesk" and tickets[0].raw["comments"]


def test_deleted_tickets_in_a_zendesk_export_are_left_out(tmp_path):
    records = export_records([make_thread(1, 1, status=4), make_thread(2, 1, status=4)])
    records[1]["status"] = "deleted"
    stats = ImportStats()
    tickets = read_export(write(tmp_path, "z.jsonl", "\n".join(json.dumps(r) for r in records)), stats=stats)
    assert [t.id for t in tickets] == [1] and stats.not_kept == 1 and stats.skipped == 0


def test_freshdesk_tickets_with_conversations(desk, tmp_path):
    threads = desk[:40]
    path = write(tmp_path, "fd.json", json.dumps([{**t["ticket"], "conversations": t["conversations"]}
                                                   for t in threads]))
    tickets = read_export(path, ticket_url=lambda i: f"https://acme.freshdesk.com/a/tickets/{i}")
    expected = {t["ticket"]["id"]: clean_conversation(t["ticket"], t["conversations"],
                                                      f"https://acme.freshdesk.com/a/tickets/{t['ticket']['id']}")
                for t in kept(threads)}
    assert {t.id: t.conversation for t in tickets} == expected
    # A named status, as some exports write it, reads the same.
    named = [{**threads[0]["ticket"], "status": "Closed", "conversations": threads[0]["conversations"]}]
    (ticket,) = read_export(write(tmp_path, "named.json", json.dumps(named)))
    assert ticket.conversation["status"] == 5


def test_plain_tickets_with_messages_and_a_broken_jsonl_line(tmp_path, caplog):
    lines = [
        {"id": 31, "subject": "Refund", "status": "solved", "created_at": "2026-02-01T09:00:00Z",
         "updated_at": "2026-02-02T09:00:00Z", "url": "https://help.acme.test/tickets/31",
         "messages": [
             {"speaker": "customer", "text": "<p>We were charged <b>twice</b>.</p>",
              "created_at": "2026-02-01T09:00:00Z"},
             {"speaker": "agent", "text": "Refunded the duplicate.", "created_at": "2026-02-01T10:00:00Z"},
             {"speaker": "agent", "text": "Payment retry bug.", "private": True,
              "created_at": "2026-02-01T10:05:00Z"},
         ]},
        {"id": 32, "subject": "Open one", "status": "open", "updated_at": "2026-02-02T09:00:00Z",
         "messages": [{"speaker": "user", "text": "Still broken"}]},
        {"id": 33, "subject": "Who?", "status": "closed", "updated_at": "2026-02-02T09:00:00Z",
         "messages": [{"speaker": "robot", "text": "beep"}]},
    ]
    text = "\n".join([json.dumps(lines[0]), "{broken", json.dumps(lines[1]), json.dumps(lines[2])])
    stats = ImportStats()
    tickets = read_export(write(tmp_path, "plain.jsonl", text), stats=stats)
    assert [t.id for t in tickets] == [31]
    conv = tickets[0].conversation
    assert conv["url"] == "https://help.acme.test/tickets/31" and conv["status"] == 4
    assert [(m["speaker"], m["private"], m["text"]) for m in conv["messages"]] == [
        ("user", False, "We were charged twice."), ("agent", False, "Refunded the duplicate."),
        ("agent", True, "Payment retry bug.")]
    assert "plain.jsonl line 2: not valid JSON" in caplog.text
    assert "line 4: message 1 has speaker 'robot'; use user or agent" in caplog.text
    assert (stats.skipped, stats.not_kept) == (2, 1)


def test_since_keeps_later_updates_and_duplicates_keep_the_later_one(tmp_path, caplog):
    content = ("Ticket ID,Subject,Description,Status,Last update time\n"
               "1,Old,Text,Closed,2026-01-01 10:00:00\n"
               "2,New,First version,Closed,2026-02-01 10:00:00\n"
               "2,New,Second version,Closed,2026-02-03 10:00:00\n")
    stats = ImportStats()
    tickets = read_export(write(tmp_path, "t.csv", content), since="2026-01-15", stats=stats)
    assert [(t.id, t.conversation["messages"][0]["text"]) for t in tickets] == [(2, "Second version")]
    assert (stats.older, stats.duplicates) == (1, 1)
    assert "ticket 2 appears twice (line 3 and line 4)" in caplog.text
    with pytest.raises(UsageError, match="the start date 'soon' is not a date") as caught:
        read_export(write(tmp_path, "t.csv", content), since="soon")
    assert "give --since as YYYY-MM-DD" in cli_wording(caught.value)


def test_status_names_and_numbers():
    assert [status_code(v) for v in (4, 5, "4", " Resolved ", "solved", "CLOSED", "Open", "pending", "hold",
                                     "Waiting on Customer", "new")] == [4, 5, 4, 4, 4, 5, 2, 3, 3, 3, 2]
    assert [status_code(v) for v in (1, 6, "archived", "", None, True)] == [None] * 6


# ----------------------------------------------------------------------------- re-cleaning and the generic constructor


@pytest.mark.slow
def test_raw_records_of_every_source_rebuild_the_same_conversations(desk, tmp_path):
    from conversation_utils import reclean_store

    store = ConversationStore(tmp_path / "conversations")
    csv_tickets = read_export(write(tmp_path, "t.csv", freshdesk_csv(desk[:20])))
    zendesk_tickets = read_export(write(tmp_path, "z.json", json.dumps(export_records(desk[20:40]))))
    freshdesk_tickets = read_export(write(tmp_path, "f.json", json.dumps(
        [{**t["ticket"], "conversations": t["conversations"]} for t in desk[40:60]])))
    everything = csv_tickets + zendesk_tickets + freshdesk_tickets
    for ticket in everything:
        store.save(ticket.conversation, ticket.raw)
        assert conversation_from_raw(json.loads(json.dumps(ticket.raw)), ticket.conversation["url"]) == \
            ticket.conversation
    for ticket in everything:  # damage every cleaned file: the re-clean must rebuild it from raw
        store.path(ticket.id).write_text(json.dumps({**ticket.conversation, "messages": []}), encoding="utf-8")
    rebuilt, problems = reclean_store(store, lambda i: "", clean=conversation_from_raw)
    assert (rebuilt, problems) == (len(everything), [])
    assert all(store.load(t.id) == t.conversation for t in everything)
    # The Freshdesk-only re-clean refuses the raw answers it would misread.
    rebuilt, problems = reclean_store(store, lambda i: "")
    assert rebuilt == len(freshdesk_tickets) and len(problems) == len(csv_tickets) + len(zendesk_tickets)
    assert all("only a source-aware re-clean" in p for p in problems)


def test_generic_messages_are_ordered_by_time_when_every_one_has_it():
    def messages(times: list[str]) -> list[dict]:
        return [{"speaker": s, "text": t, "created_at": c}
                for s, t, c in zip(["user", "agent", "user"], ["Problem.", "Answer.", "Thanks, fixed."], times,
                                   strict=True)]

    def build(items: list[dict]) -> list[str]:
        conv = conversation_from_messages(ticket_id=1, subject=" A  subject ", status=4, created_at="", updated_at="",
                                          url="", messages=items)
        assert conv["subject"] == "A subject"
        return [m["text"] for m in conv["messages"]]

    # 09:00+01:00 is 08:00Z, before the problem; the customer's two messages then run together.
    assert build(messages(["2026-01-01T10:00:00Z", "2026-01-01T09:00:00+01:00", "2026-01-01T12:00:00Z"])) == [
        "Answer.", "Problem.\n\nThanks, fixed."]
    assert build(messages(["2026-01-01T10:00:00Z", "", "2026-01-01T12:00:00Z"])) == [
        "Problem.", "Answer.", "Thanks, fixed."]  # a message without a time: the order given stands
    collapsed = conversation_from_messages(ticket_id=1, subject="", status=5, created_at="", updated_at="", url="",
                                           messages=[{"speaker": "user", "text": "One."},
                                                     {"speaker": "user", "text": "Two."},
                                                     {"speaker": "user", "text": "-- \nJana"}])
    assert [m["text"] for m in collapsed["messages"]] == ["One.\n\nTwo."]


def test_zendesk_ticket_without_comments_uses_its_description(tmp_path):
    ticket, _ = to_zendesk(make_thread(5, 0, status=5))
    (imported,) = read_export(write(tmp_path, "bare.json", json.dumps([ticket])))
    assert imported.conversation["messages"][0]["speaker"] == "user"
    assert "marker-5-0" in imported.conversation["messages"][0]["text"]
