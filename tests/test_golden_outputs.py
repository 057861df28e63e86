"""Golden files: the report, the digest and the review CSV of a fixed DB for a fixed "now".

After an intended change to an output, regenerate them with `SILO_UPDATE_GOLDEN=1 python -m pytest
tests/test_golden_outputs.py` and read the diff before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_report import NOW, links, sample_db

from digest import render_digest
from report import render_report
from review_csv import write_flagged_csv

GOLDEN = Path(__file__).parent / "golden"


def _check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("SILO_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    assert path.is_file(), f"{path} is missing: run with SILO_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_bytes().decode("utf-8"), f"{name} differs from its golden file"


@pytest.fixture(scope="module")
def fixed():
    db, subjects = sample_db()
    return db, links("https://acme.freshdesk.com", list(subjects), subjects)


def test_report_matches_its_golden_file(fixed):
    db, tickets = fixed
    _check("report.html", render_report(db, tickets=tickets, now=NOW))


def test_digest_matches_its_golden_file(fixed):
    db, _ = fixed
    _check("digest.md", render_digest(db, report_name="report.html", now=NOW))


def test_review_csv_matches_its_golden_file(fixed, tmp_path):
    db, tickets = fixed
    path = tmp_path / "flagged_for_review.csv"
    write_flagged_csv(path, db, tickets=tickets)
    _check("flagged_for_review.csv", path.read_bytes().decode("utf-8"))
