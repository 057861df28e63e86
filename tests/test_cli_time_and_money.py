"""Issue 16: a CLI that checks the model before fetching, shows honest progress, prints the issues, speaks
JSON, finds its DB, follows command-line conventions and leaves no litter.

Runs go through main.main in-process against FakeFreshdesk and FakeOpenAI over real sockets (embeddings
from the fake's /v1/embeddings, so no model loads); the model outage runs the real LLMClient and
ClassifyLoop against a fake that stops answering after its first calls.
"""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

import main
from candidates import IssueIndex
from cli_args import DEMO_OUTPUT, version
from db_choice import choose_db, db_for_review_csv
from errors import LLMConfigError, LLMError
from issue_clusterer import IssueDB
from issue_trends import anchor_for
from issues_table import format_table, issue_rows, sort_rows
from llm_classifier import LLMClassifier
from llm_client import LLMClient
from pipeline import ClassifyConfig, ClassifyLoop
from progress import RunProgress
from records import Answer, Outcome, SourceStats
from review_csv import read_review_decisions
from tests.fake_freshdesk import FakeFreshdesk, make_desk
from tests.fake_openai import FakeOpenAI, hashed_embedding

NOW = datetime(2026, 11, 30, tzinfo=timezone.utc)
DB = Path("output/silo_issues_db.json")


def free_port_url() -> str:
    """A loopback URL nothing listens on: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def answer_by_subject(request: dict) -> str:
    text = request["messages"][-1]["content"]
    subject = text.split("Subject: ", 1)[1].split("\n", 1)[0].strip() if "Subject: " in text else "x"
    return json.dumps({"issue_id": None, "category": subject, "keywords": [], "root_cause": "",
                       "resolution_steps": ["fix"], "confidence": 0.95, "notes": ""})


@pytest.fixture
def fakes(tmp_path, monkeypatch):
    desk = make_desk(12, seed=3, days=30, end=NOW)
    with FakeFreshdesk(desk) as freshdesk, FakeOpenAI(answer_by_subject) as llm:
        for name in list(os.environ):
            if name.startswith(("FRESHDESK_", "LLM_", "EMBEDDING_")) or name in ("BATCH_SIZE", "CONFIDENCE_THRESHOLD"):
                monkeypatch.delenv(name)
        for name, value in {"FRESHDESK_DOMAIN": freshdesk.url, "FRESHDESK_API_KEY": "test-key",
                            "LLM_API_BASE_URL": llm.base_url, "LLM_MODEL": "fake-model",
                            "EMBEDDING_API_BASE_URL": llm.base_url, "EMBEDDING_MODEL": "fake-embed"}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        yield freshdesk, llm


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---- 1. preflight ----------------------------------------------------------------------------------


def test_an_unreachable_model_stops_the_run_before_any_ticket_is_fetched(fakes, capsys, monkeypatch, tmp_path):
    freshdesk, _ = fakes
    monkeypatch.setenv("LLM_API_BASE_URL", free_port_url())
    code, out, err = run(capsys, "--pages", "1")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "does not answer" in err and "connection failed" in err
    assert freshdesk.requests_total == 0
    assert not list(tmp_path.rglob("*.json"))  # no DB, no checkpoint, no conversation


def test_a_model_the_server_does_not_serve_is_named_before_fetching(fakes, capsys, monkeypatch):
    freshdesk, _ = fakes
    with FakeOpenAI(models={"other-model"}) as other:
        monkeypatch.setenv("LLM_API_BASE_URL", other.base_url)
        code, _, err = run(capsys, "--pages", "1")
    assert code == 2 and "'fake-model'" in err and "other-model" in err and err.count("\n") == 1
    assert freshdesk.requests_total == 0


def test_dry_run_says_whether_the_model_answers_and_to_which_name(fakes, capsys, monkeypatch):
    _, llm = fakes
    code, out, err = run(capsys, "--pages", "1", "--dry-run", "--json")
    assert code == 0, err
    estimate = json.loads(out)
    assert estimate["model"]["reachable"] is True and estimate["model"]["answers_to"] == "fake-model"
    assert llm.calls == 0  # the models list is not a chat call
    assert all(isinstance(estimate[key], int) for key in ("model_calls", "prompt_tokens", "completion_tokens",
                                                          "listing_credits", "fetch_credits"))
    code, out, _ = run(capsys, "--pages", "1", "--dry-run")
    assert "Model endpoint: " in out and " answers as fake-model" in out

    monkeypatch.setenv("LLM_API_BASE_URL", free_port_url())
    code, out, err = run(capsys, "--pages", "1", "--dry-run")
    assert code == 2  # the run would stop there, so the dry run does not pass
    assert "does NOT answer (connection failed)" in out and "Dry run:" in out
    assert err.count("\n") == 1 and "a run would stop here" in err


def embed(texts: list[str]) -> np.ndarray:
    return np.array([hashed_embedding(text) for text in texts], dtype=np.float32)


def conversation(ticket_id: int, subject: str) -> dict:
    stamp = "2026-11-01T00:00:00Z"
    return {"ticket_id": ticket_id, "subject": subject, "status": 4, "created_at": stamp, "updated_at": stamp,
            "url": "", "messages": [{"speaker": "user", "text": subject.lower(), "private": False,
                                     "incoming": True, "created_at": stamp}]}


SUBJECTS = ["Printer jams paper", "Invoice shows wrong VAT", "Calendar sync stopped", "Webhook never fires",
            "Password reset mail missing", "Export CSV empty"]


class DiesAfter:
    """Answers the first `good` calls, then drops every connection (a server that went away)."""

    def __init__(self, good: int) -> None:
        self.good = good
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, request: dict) -> object:
        with self._lock:
            self.calls += 1
            call = self.calls
        return answer_by_subject(request) if call <= self.good else FakeOpenAI.drop()


def classify(responder: DiesAfter, *, reached: bool) -> tuple[list[int], pytest.ExceptionInfo[LLMError]]:
    db = IssueDB(embedding_model="bag-of-words")
    index = IssueIndex(db, embed, 384)
    index.build(None)
    checkpoints: list[int] = []
    with FakeOpenAI(responder) as server:
        client = LLMClient(server.base_url, "key", "fake-model", sleep=lambda seconds: None, max_tries=3,
                           reached=reached)
        loop = ClassifyLoop(db, index, LLMClassifier(client, threshold=0.7, concurrency=1),
                            config=ClassifyConfig(), checkpoint=lambda db: checkpoints.append(len(db.tickets)))
        with pytest.raises(LLMError) as failure:
            loop.run([conversation(n, subject) for n, subject in enumerate(SUBJECTS, start=1)])
    return checkpoints, failure


def test_a_model_that_dies_mid_run_is_exit_1_with_a_checkpoint_and_one_warning(caplog):
    caplog.set_level(logging.DEBUG, logger="llm_client")
    checkpoints, failure = classify(DiesAfter(2), reached=True)
    assert failure.value.exit_code == 1 and not isinstance(failure.value, LLMConfigError)
    assert "run again later" in str(failure.value)
    assert checkpoints == [2]  # the two decided tickets are kept to resume from
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == "llm_client"]
    assert len(warnings) == 1 and "1 call(s) waiting" in warnings[0].getMessage()
    retries = [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) == 2 and all(r.levelno == logging.DEBUG for r in retries)


# ---- 6. no litter ----------------------------------------------------------------------------------


def test_a_run_that_decided_nothing_writes_no_checkpoint():
    checkpoints, failure = classify(DiesAfter(0), reached=False)
    assert isinstance(failure.value, LLMConfigError)
    assert checkpoints == []


def test_an_empty_cache_fails_the_same_in_a_dry_run_and_a_run_and_leaves_nothing(fakes, capsys, tmp_path):
    Path("conversations").mkdir()
    code, _, err = run(capsys, "--from-cache")
    dry_code, _, dry_err = run(capsys, "--from-cache", "--dry-run")
    assert code == dry_code == 2
    assert err == dry_err and "no conversations in conversations" in err
    assert not (tmp_path / "output" / "silo_issues_db.tmp.json").exists()
    assert not list((tmp_path / "output").glob("*.json"))


# ---- 2. progress -----------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_counts_decided_tickets_against_the_known_total_and_ends_its_line():
    stats = SourceStats()
    screen = Terminal()
    with RunProgress(stats, enabled=True, stream=screen) as progress:
        for item in progress.fetching(["a", "b"]):
            stats.fetched += 1
            if item == "a":
                stats.expected = 4  # the search's total arrived with its first page
            progress.decided()
    assert screen.getvalue().endswith("\n")  # an error printed next starts on its own line
    last = screen.getvalue().rstrip("\n").split("\r")[-1]
    assert "2/4" in last and "fetched 2" in last and "<" in last  # count, total, fetching, ETA


def test_progress_is_silent_when_stderr_is_not_a_terminal(capsys):
    progress = RunProgress.for_terminal(SourceStats(expected=3), quiet=False)
    with progress:
        progress.decided()
    assert not progress.enabled and capsys.readouterr().err == ""


def test_the_search_total_is_known_after_the_first_page(fakes):
    from conversation_utils import ConversationStore
    from data_fetcher import FreshdeskClient
    from ticket_sources import FreshdeskSource, SourceRequest

    freshdesk, _ = fakes
    with FreshdeskClient(freshdesk.url, "test-key") as client:
        source = FreshdeskSource(client, SourceRequest(pages=1), ConversationStore(Path("conversations")),
                                 batch_size=1, base_url=freshdesk.url)
        stream = source.conversations()
        next(stream)
        assert source.stats.expected == len(freshdesk.resolved_ids())
        assert source.stats.listed < 30 or source.stats.expected <= 30


# ---- 3. issues in the terminal, JSON for scripts ---------------------------------------------------


def dated_db() -> IssueDB:
    """Three issues: one busy long ago, one growing, one provisional and recent."""
    db = IssueDB(embedding_model="m")
    plans = [("Old export bug", 0.95, ["2026-10-15T00:00:00Z"] * 5),
             ("Growing login bug", 0.95, ["2026-10-20T00:00:00Z", "2026-11-20T00:00:00Z", "2026-11-25T00:00:00Z"]),
             ("Unsure billing", 0.4, ["2026-11-28T00:00:00Z"])]
    ticket = 0
    for category, confidence, stamps in plans:
        for stamp in stamps:
            ticket += 1
            known = next((i.issue_id for i in db.issues.values() if i.category == category), None)
            db.apply(Outcome(ticket, Answer(known, category, [], "", ["fix"], confidence)), threshold=0.7,
                     updated_at=stamp, now=stamp)
    return db


def test_issue_rows_count_the_last_4_weeks_and_sort_three_ways():
    rows = issue_rows(dated_db(), NOW)
    by_name = {row.name: row for row in rows}
    assert (by_name["Growing login bug"].last_4_weeks, by_name["Growing login bug"].previous_4_weeks) == (2, 1)
    assert by_name["Old export bug"].last_4_weeks == 0 and by_name["Old export bug"].trend == "down -5"
    assert by_name["Unsure billing"].provisional and by_name["Unsure billing"].trend == "new"
    assert [r.name for r in sort_rows(rows, "tickets")][0] == "Old export bug"
    assert [r.name for r in sort_rows(rows, "growth")][0] == "Growing login bug"
    assert [r.name for r in sort_rows(rows, "recency", top=1)] == ["Unsure billing"]
    table = format_table(sort_rows(rows, "tickets", top=2), total=3)
    assert table.splitlines()[0].split() == ["id", "name", "tickets", "last", "4", "wk", "trend", "provisional"]
    assert table.splitlines()[-1] == "2 of 3 issues"


def test_issues_command_prints_a_table_or_one_json_object(fakes, capsys):
    DB.parent.mkdir()
    dated_db().save(DB)
    code, out, err = run(capsys, "--issues", "--top", "2")
    assert code == 0, err
    assert out.splitlines()[0].startswith("id") and "2 of 3 issues" in out
    code, out, err = run(capsys, "--issues", "--sort", "growth", "--json")
    data = json.loads(out)
    assert data["total"] == 3 and isinstance(data["issues"][0]["tickets"], int)
    code, _, err = run(capsys, "--top", "3")
    assert code == 2 and "--issues" in err


def test_issues_of_a_historical_desk_count_weeks_back_from_its_newest_ticket():
    # The report counts weeks the same way: a desk that stopped months ago must not show only zeros.
    db = dated_db()
    months_later = NOW + timedelta(days=120)
    anchor = anchor_for(db.tickets, months_later)
    assert anchor.from_newest_ticket and anchor.at <= NOW
    rows = issue_rows(db, anchor.at)
    assert [row.last_4_weeks for row in rows] == [row.last_4_weeks for row in issue_rows(db, NOW)]
    assert not any(row.last_4_weeks for row in issue_rows(db, months_later))
    table = format_table(rows, len(rows), anchor.describe())
    assert table.splitlines()[-1].endswith("weeks counted back from the newest ticket in the DB "
                                           f"({anchor.at:%Y-%m-%d}), which is older than today")


def test_a_run_prints_its_summary_as_json_with_integers(fakes, capsys):
    freshdesk, _ = fakes
    code, out, err = run(capsys, "--pages", "1", "--json", "--quiet")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["tickets_classified"] == len(freshdesk.resolved_ids())
    assert isinstance(summary["model_calls"], int) and summary["files"]["db"] == str(DB)
    assert summary["credits"] == freshdesk.credits_charged and isinstance(summary["credits"], int)


# ---- 4. --db ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("csv_name", "db_name"), [
    ("output/flagged_for_review.csv", "output/silo_issues_db.json"),
    ("output/merge_suggestions.csv", "output/silo_issues_db.json"),
    ("output/demo_issues_db.flagged_for_review.csv", "output/demo_issues_db.json"),
    ("x/seed.merge_suggestions.csv", "x/seed.json"),
    ("mine.csv", None),
])
def test_a_review_csv_names_its_db(csv_name, db_name):
    found = db_for_review_csv(Path(csv_name))
    assert found == (Path(db_name) if db_name else None)


def test_read_only_commands_find_the_demo_db_when_it_is_the_only_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = main.build_parser().parse_args(["--similar", "password reset"])
    assert choose_db(args) == Path("output/silo_issues_db.json")
    DEMO_OUTPUT.parent.mkdir()
    DEMO_OUTPUT.write_text("{}")
    assert choose_db(args) == DEMO_OUTPUT
    assert choose_db(main.build_parser().parse_args(["--issues", "--db", "mine.json"])) == Path("mine.json")
    assert choose_db(main.build_parser().parse_args(["--output", "mine.json"])) == Path("mine.json")
    assert choose_db(main.build_parser().parse_args(["--pages", "1"])) == Path("output/silo_issues_db.json")


@pytest.mark.parametrize("separator", [",", ";", "\t"])
def test_apply_review_finds_the_db_from_the_csv_and_reads_spreadsheet_csvs(fakes, capsys, separator):
    db = dated_db()
    demo_db = Path("output/demo_issues_db.json")
    demo_db.parent.mkdir()
    db.save(demo_db)
    flagged = db.flagged_pending()
    assert len(flagged) == 1
    header = ["ticket_id", "ticket_url", "subject", "assigned_issue_id", "suggested_issue_id", "category",
              "confidence", "reason", "decision"]
    row = [str(flagged[0]), "", "", db.tickets[flagged[0]].issue_id, "", "Unsure billing", "0.40", "", "new"]
    csv_path = Path("output/demo_issues_db.flagged_for_review.csv")
    csv_path.write_text("\ufeff" + separator.join(header) + "\n" + separator.join(row) + "\n", encoding="utf-8")
    assert read_review_decisions(csv_path) == {flagged[0]: "new"}
    code, out, err = run(capsys, "--apply-review", str(csv_path))
    assert code == 0, err
    assert out.startswith("Applied 1 review decision; 0 still pending. DB: output/demo_issues_db.json")
    assert not IssueDB.load(demo_db).issues[db.tickets[flagged[0]].issue_id].provisional


# ---- 5. conventions ---------------------------------------------------------------------------------


def test_version_help_examples_and_contradictory_flags(capsys):
    with pytest.raises(SystemExit) as shown:
        main.main(["--version"])
    assert shown.value.code == 0 and capsys.readouterr().out.strip() == f"python -m main {version()}"
    assert version() != "unknown"
    with pytest.raises(SystemExit):
        main.main(["--help"])
    help_text = capsys.readouterr().out
    assert "examples:" in help_text and "--issues" in help_text and "--db PATH" in help_text
    with pytest.raises(SystemExit) as refused:
        main.main(["--quiet", "--verbose"])
    err = capsys.readouterr().err
    assert refused.value.code == 2 and err.count("\n") == 1 and "--quiet" in err


def test_a_db_folder_that_cannot_be_written_is_exit_2_before_fetching(fakes, capsys, tmp_path):
    freshdesk, _ = fakes
    (tmp_path / "blocker").write_text("a file, not a folder")  # root ignores chmod, so block with a file
    code, _, err = run(capsys, "--pages", "1", "--db", "blocker/db.json")
    assert code == 2 and err.count("\n") == 1
    assert "cannot write the DB's folder blocker" in err and "choose a writable --db" in err
    assert freshdesk.requests_total == 0 and (tmp_path / "blocker").read_text() == "a file, not a folder"


# ---- Done when: --demo, then the README's next commands as a newcomer types them ---------------------


def readme_demo_commands() -> list[list[str]]:
    """The commands of the README's block after "Then try these on the demo DB", as argument lists."""
    import shlex

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = text.split("Then try these on the demo DB", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]
    assert all(command[:3] == ["python", "-m", "main"] for command in commands)
    return [command[3:] for command in commands]


@pytest.mark.slow
def test_the_readme_commands_after_the_demo_work_as_printed(tmp_path):
    from tests.e2e_support import clean_environ, run_cli

    env = {**clean_environ(), "PYTHONPATH": str(Path(main.__file__).resolve().parent)}
    demo = run_cli(["--demo"], tmp_path, env)
    assert demo.returncode == 0, demo.stderr
    commands = readme_demo_commands()
    assert any("--similar" in command for command in commands) and any("--issues" in c for c in commands)
    for command in commands:
        result = run_cli(command, tmp_path, env)
        assert result.returncode == 0, (command, result.stderr)
        assert result.stdout.strip(), command
        if "--json" in command:
            assert json.loads(result.stdout)["issues"]
    assert not (tmp_path / "output" / "silo_issues_db.json").exists()  # nothing wrote a DB of its own


def test_a_server_that_lists_another_name_is_asked_for_one_token():
    from env import LLMSettings
    from preflight import probe_model

    # llama.cpp lists its model file but answers to any name: one 1-token completion settles it.
    with FakeOpenAI(answer_by_subject) as server:
        status = probe_model(LLMSettings(server.base_url, "", "local-model"))
        assert status.reachable and server.calls == 1 and server.requests[0]["max_tokens"] == 1
    with FakeOpenAI(answer_by_subject) as server:
        assert probe_model(LLMSettings(server.base_url, "", "fake-model")).reachable and server.calls == 0


def test_fetch_only_and_prompt_debug_speak_json_too(fakes, capsys):
    freshdesk, llm = fakes
    code, out, err = run(capsys, "--pages", "1", "--fetch-only", "--json")
    assert code == 0, err
    fetched = json.loads(out)
    assert fetched["tickets_fetched"] == len(freshdesk.resolved_ids()) and fetched["files"]["conversations"]
    ticket_id = freshdesk.resolved_ids()[0]
    code, out, err = run(capsys, "--ticket-ids", str(ticket_id), "--prompt-debug", "--json")
    assert code == 0, err
    shown = json.loads(out)["tickets"]
    assert [t["ticket_id"] for t in shown] == [ticket_id]
    assert shown[0]["messages"][1]["content"] == llm.requests[-1]["messages"][1]["content"]
