"""The bundled demo desk: shape, coverage of real-world mail forms, and reproducibility."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parent.parent / "demo_data"


@pytest.fixture(scope="module")
def items() -> list[dict]:
    return json.loads((DEMO / "tickets.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def labels() -> dict[int, str]:
    with (DEMO / "labels.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and list(rows[0]) == ["ticket_id", "problem"]
    return {int(row["ticket_id"]): row["problem"] for row in rows}


def all_bodies(items: list[dict]) -> list[str]:
    return [item["ticket"]["description"] for item in items] + [
        conv["body"] for item in items for conv in item["conversations"]
    ]


def test_tickets_are_resolved_freshdesk_tickets_with_unique_ids(items):
    ids = [item["ticket"]["id"] for item in items]
    assert 140 <= len(items) <= 160
    assert len(set(ids)) == len(ids)
    for item in items:
        ticket = item["ticket"]
        assert ticket["status"] in (4, 5)
        assert ticket["subject"].strip()
        assert ticket["description"].strip() and ticket["description_text"].strip()
        assert ticket["created_at"] <= ticket["updated_at"] <= "2026-11-15T00:00:00Z"
    assert (DEMO / "tickets.json").stat().st_size < 1_600_000


def test_conversations_belong_to_their_ticket_in_time_order(items):
    conv_ids = []
    for item in items:
        ticket = item["ticket"]
        times = [conv["created_at"] for conv in item["conversations"]]
        assert times == sorted(times), ticket["id"]
        for conv in item["conversations"]:
            conv_ids.append(conv["id"])
            assert conv["ticket_id"] == ticket["id"]
            assert conv["created_at"] >= ticket["created_at"]
            assert conv["updated_at"] <= ticket["updated_at"]
            assert conv["body"].strip() and conv["body_text"].strip()
            if conv["private"]:
                assert conv["source"] == 2 and not conv["incoming"]
            else:
                assert conv["source"] == 0
    assert len(set(conv_ids)) == len(conv_ids)
    assert sum(conv["private"] for item in items for conv in item["conversations"]) >= 20


def test_labels_cover_every_ticket_and_problems_recur(items, labels):
    ticket_ids = {item["ticket"]["id"] for item in items}
    assert set(labels) == ticket_ids
    counts = Counter(problem for problem in labels.values() if not problem.startswith("oneoff_"))
    assert len(counts) >= 10
    assert all(6 <= count <= 20 for count in counts.values()), counts
    one_offs = [p for p in labels.values() if p.startswith("oneoff_")]
    assert len(one_offs) >= 5 and len(set(one_offs)) == len(one_offs)


def test_some_threads_are_long(items):
    long_threads = [item for item in items if len(item["conversations"]) >= 12]
    assert len(long_threads) >= 3
    assert max(len(item["conversations"]) for item in items) <= 20


@pytest.mark.parametrize("marker", [
    '<div class="freshdesk_quote">', 'class="gmail_quote"', "-----Original Message-----",
    "<b>From:</b>", "<b>Sent:</b>", '<blockquote type="cite">', " wrote:<br>&gt; ",
    "-- <br>", "Sent from my iPhone", "Best regards,<br>", "<table", "<img ", "<ol>", "<ul>", "&amp;",
])
def test_bodies_carry_each_quote_and_signature_form(items, marker):
    assert sum(marker in body for body in all_bodies(items)) >= 3, marker


def test_quote_headers_name_the_previous_writer(items):
    on_wrote = [b for b in all_bodies(items) if "gmail_attr" in b]
    assert on_wrote
    for body in on_wrote:
        head = body.split('class="gmail_attr">', 1)[1].split("<br>", 1)[0]
        assert head.startswith("On ") and head.endswith(" wrote:") and "&lt;" in head


def test_only_reserved_contact_data(items):
    text = json.dumps(items, ensure_ascii=False)
    domains = {m.split("@", 1)[1] for m in re.findall(r"[\w.+-]+@[\w.-]+", text)}
    assert domains and all(".example." in d or d.endswith((".example.com", ".example.org")) for d in domains)
    phones = re.findall(r"555-\d{4}", text)
    assert phones and all(p.startswith("555-01") for p in phones)


def test_generator_reproduces_the_files_byte_for_byte(tmp_path):
    subprocess.run([sys.executable, str(DEMO / "make_demo_tickets.py"), "--out", str(tmp_path)],
                   check=True, capture_output=True, timeout=120)
    assert (tmp_path / "tickets.json").read_bytes() == (DEMO / "tickets.json").read_bytes()
    assert (tmp_path / "labels.csv").read_bytes() == (DEMO / "labels.csv").read_bytes()
