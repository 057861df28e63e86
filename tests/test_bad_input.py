"""Bad input: CLI values, settings, damaged files, odd tickets, full disks and rejected credentials.

Each case asserts the exact one-line message and exit code, and, where the SPEC promises it, that no
request reached a server and that no file was overwritten.
"""

from __future__ import annotations

import errno
import json
import logging
from pathlib import Path

import pytest

import atomic_io
import main
from issue_clusterer import IssueDB
from tests.e2e_support import FRESHDESK_KEY, Oracle, clean_environ, cli_env, make_e2e_desk, run_cli
from tests.fake_freshdesk import FakeFreshdesk, make_thread
from tests.fake_openai import FakeOpenAI, ticket_in

DB = Path("output") / "silo_issues_db.json"
CHECKPOINT = Path("output") / "silo_issues_db.tmp.json"
HELP = " (see python -m main --help)"


@pytest.fixture(scope="module")
def desk():
    threads, _ = make_e2e_desk(12, seed=3)
    return threads


@pytest.fixture
def fakes(desk):
    with FakeFreshdesk(desk, api_key=FRESHDESK_KEY) as freshdesk, FakeOpenAI(Oracle()) as llm:
        yield freshdesk, llm


def one_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# --------------------------------------------------------------------------- CLI values


@pytest.mark.parametrize("args, message", [
    (["--pages", "0"], "error: argument --pages: '0' is not a page count: give a whole number from 1 to 10 "
                       "(Freshdesk search stops at page 10; use --since for more)" + HELP),
    (["--pages", "11"], "error: argument --pages: '11' is not a page count: give a whole number from 1 to 10 "
                        "(Freshdesk search stops at page 10; use --since for more)" + HELP),
    (["--ticket-ids", "abc"], "error: argument --ticket-ids: 'abc' is not a list of ticket ids: give ticket "
                              "numbers separated by commas, e.g. 169,167" + HELP),
    (["--ticket-ids", "1,,-2"], "error: argument --ticket-ids: '1,,-2' is not a list of ticket ids: give ticket "
                                "numbers separated by commas, e.g. 169,167" + HELP),
    (["--since", "2026-13-01"], "error: argument --since: '2026-13-01' is not a date: give YYYY-MM-DD, or "
                                "'last' for everything since the last run" + HELP),
    (["--concurrency", "0"], "error: argument --concurrency: '0' is invalid: give a whole number from 1 to 64"
     + HELP),
    (["--batch-size", "51"], "error: argument --batch-size: '51' is invalid: give a whole number from 1 to 50"
     + HELP),
    (["--pages", "2", "--since", "2026-01-01"], "error: argument --since: not allowed with argument --pages"
     + HELP),
    (["--ticket-ids", "1", "--pages", "1"], "error: argument --pages: not allowed with argument --ticket-ids"
     + HELP),
    (["--demo", "--classifier", "llm"], "error: --demo runs offline with the embedding classifier: drop "
                                        "--classifier llm"),
    (["--fetch-only", "--from-cache"], "error: --fetch-only fetches from Freshdesk: drop --from-cache or --demo"),
    (["--query", "tag:x", "--ticket-ids", "1"], "error: --query scopes a Freshdesk search: use it with --pages "
                                                "or --since"),
    (["--since", "last"], "error: --since last needs an existing DB, and output/silo_issues_db.json does not "
                          "exist yet: start with --since YYYY-MM-DD or --pages N"),
])
def test_bad_cli_values(fakes, tmp_path, args, message):
    freshdesk, llm = fakes
    result = run_cli(args, tmp_path, cli_env(freshdesk, llm))
    assert (result.returncode, one_line(result)) == (2, message)
    assert freshdesk.requests_total == 0 and llm.calls == 0


# --------------------------------------------------------------------------- settings

LLM_UNSET = ("error: LLM_API_BASE_URL not set: the LLM classifier needs an OpenAI-compatible endpoint; set it in "
             ".env, or use --classifier embedding to run without a model")


@pytest.mark.parametrize("changes, message", [
    ({"FRESHDESK_DOMAIN": None}, "error: FRESHDESK_DOMAIN is not set: set it in .env to your subdomain (acme), "
                                 "acme.freshdesk.com, or a full URL (see .env.example)"),
    ({"FRESHDESK_DOMAIN": "acme corp"}, "error: FRESHDESK_DOMAIN='acme corp' is not a domain: set it to your "
                                        "subdomain (acme), acme.freshdesk.com, or a full URL such as "
                                        "https://acme.freshdesk.com"),
    ({"FRESHDESK_DOMAIN": "ftp://127.0.0.1:1"}, "error: FRESHDESK_DOMAIN='ftp://127.0.0.1:1' is not an http(s) "
                                                "URL: set it to a base URL such as http://127.0.0.1:8080/v1"),
    ({"FRESHDESK_API_KEY": None}, "error: FRESHDESK_API_KEY is not set: set it in .env to the API key from your "
                                  "Freshdesk profile settings (see .env.example)"),
    ({"FRESHDESK_API_KEY": "   "}, "error: FRESHDESK_API_KEY is not set: set it in .env to the API key from your "
                                   "Freshdesk profile settings (see .env.example)"),
    ({"LLM_API_BASE_URL": None}, LLM_UNSET),
    ({"LLM_API_BASE_URL": "localhost:1234/v1"}, "error: LLM_API_BASE_URL='localhost:1234/v1' is not an http(s) "
                                                "URL: set it to a base URL such as http://127.0.0.1:8080/v1"),
    ({"BATCH_SIZE": "three"}, "error: BATCH_SIZE='three' is invalid: set it to a whole number from 1 to 50"),
    ({"BATCH_SIZE": "0"}, "error: BATCH_SIZE='0' is invalid: set it to a whole number from 1 to 50"),
    ({"CONFIDENCE_THRESHOLD": "1.5"}, "error: CONFIDENCE_THRESHOLD='1.5' is invalid: set it to a number from "
                                      "0.0 to 1.0"),
    ({"CONFIDENCE_THRESHOLD": "high"}, "error: CONFIDENCE_THRESHOLD='high' is invalid: set it to a number from "
                                       "0.0 to 1.0"),
])
def test_missing_or_malformed_settings_exit_2_before_any_request(fakes, tmp_path, changes, message):
    freshdesk, llm = fakes
    env = cli_env(freshdesk, llm)
    for name, value in changes.items():
        if value is None:
            env.pop(name)
        else:
            env[name] = value
    result = run_cli(["--pages", "1"], tmp_path, env)
    assert (result.returncode, one_line(result)) == (2, message)
    assert freshdesk.requests_total == 0 and llm.calls == 0
    assert not (tmp_path / "output").exists() and not (tmp_path / "conversations").exists()


def test_a_setting_in_dot_env_is_checked_too(fakes, tmp_path):
    freshdesk, llm = fakes
    env = cli_env(freshdesk, llm)
    (tmp_path / ".env").write_text("BATCH_SIZE=-4\n")
    result = run_cli(["--pages", "1"], tmp_path, env)
    assert (result.returncode, one_line(result)) == (
        2, "error: BATCH_SIZE='-4' is invalid: set it to a whole number from 1 to 50")
    assert freshdesk.requests_total == 0


@pytest.mark.slow
def test_wrong_freshdesk_key_exits_2_with_one_line(fakes, tmp_path):
    freshdesk, llm = fakes
    result = run_cli(["--pages", "1"], tmp_path, cli_env(freshdesk, llm, FRESHDESK_API_KEY="not-the-key"))
    assert (result.returncode, one_line(result)) == (
        2, "error: Freshdesk rejected FRESHDESK_API_KEY (401) on GET /api/v2/search/tickets: check the key in .env "
           "(Profile settings > API key) and that the agent may view tickets")
    assert freshdesk.unauthorized == 1 and llm.calls == 0


def test_unresolvable_domain_exits_2_with_one_line(tmp_path):
    env = clean_environ() | {"PYTHONPATH": str(Path(main.__file__).parent),
                             "FRESHDESK_DOMAIN": "http://silo-no-such-host.invalid", "FRESHDESK_API_KEY": "k" * 8}
    result = run_cli(["--pages", "1", "--fetch-only"], tmp_path, env, timeout=60)
    assert (result.returncode, one_line(result)) == (
        2, "error: cannot resolve the Freshdesk host of http://silo-no-such-host.invalid: check FRESHDESK_DOMAIN "
           "in .env")


@pytest.mark.slow
def test_wrong_model_key_exits_2_with_one_line(desk, tmp_path):
    with FakeFreshdesk(desk, api_key=FRESHDESK_KEY) as freshdesk, FakeOpenAI(Oracle(), api_key="right") as llm:
        result = run_cli(["--ticket-ids", "3"], tmp_path, cli_env(freshdesk, llm))
    # Found by the preflight, before any ticket is fetched.
    assert (result.returncode, one_line(result)) == (
        2, f"error: the model endpoint {llm.base_url} does not answer for model 'fake-model' (it rejected "
           "LLM_API_KEY (401): Incorrect API key provided.): check LLM_API_KEY in .env; nothing was fetched")
    assert freshdesk.requests_total == 0


# --------------------------------------------------------------------------- damaged DB and checkpoint

GOOD_RUN = ["--ticket-ids", "1,2,3"]


@pytest.mark.parametrize("which", ["db", "checkpoint"])
@pytest.mark.parametrize("content, detail", [
    (b'{"schema_version": 1, "issues": [', "Expecting value: line 1 column 34 (char 33)"),
    (b"\xff\xfe\x00garbage", "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"),
    (b"", "Expecting value: line 1 column 1 (char 0)"),
])
@pytest.mark.slow
def test_unreadable_db_or_checkpoint_is_refused_and_left_as_it_is(fakes, tmp_path, which, content, detail):
    freshdesk, llm = fakes
    path = tmp_path / (DB if which == "db" else CHECKPOINT)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    result = run_cli(GOOD_RUN, tmp_path, cli_env(freshdesk, llm))
    assert (result.returncode, one_line(result)) == (
        1, f"error: cannot read the issue DB {path.relative_to(tmp_path)} ({detail}): restore it from a backup, "
           "or pass a different --db; the file was left as it is")
    assert path.read_bytes() == content
    assert freshdesk.requests_total == 0 and llm.calls == 0


@pytest.mark.slow
def test_db_in_the_wrong_shape_is_refused_and_left_as_it_is(fakes, tmp_path):
    freshdesk, llm = fakes
    assert run_cli(GOOD_RUN, tmp_path, cli_env(freshdesk, llm)).returncode == 0
    data = json.loads((tmp_path / DB).read_text())
    # The same ticket in two issues breaks "each ticket belongs to exactly one issue".
    data["issues"].append(dict(data["issues"][0], issue_id="ISS-0099"))
    damaged = json.dumps(data).encode()
    (tmp_path / DB).write_bytes(damaged)
    calls = llm.calls
    result = run_cli(["--ticket-ids", "4"], tmp_path, cli_env(freshdesk, llm))
    line = one_line(result)
    assert result.returncode == 1
    assert line.startswith("error: the issue DB output/silo_issues_db.json is not in the expected format (ticket ")
    assert line.endswith("): restore it from a backup, or pass a different --db; the file was left as it is")
    assert (tmp_path / DB).read_bytes() == damaged and llm.calls == calls


def test_db_path_that_is_a_folder_is_refused(fakes, tmp_path):
    freshdesk, llm = fakes
    (tmp_path / "out.json").mkdir()
    result = run_cli([*GOOD_RUN, "--output", "out.json"], tmp_path, cli_env(freshdesk, llm))
    assert (result.returncode, one_line(result)) == (
        2, "error: --db out.json is a folder: give a file path such as out.json/issues.json")


# --------------------------------------------------------------------------- damaged conversation files


@pytest.mark.slow
def test_corrupt_conversation_is_skipped_from_cache_and_refetched_by_a_fetch_run(fakes, tmp_path):
    freshdesk, llm = fakes
    assert run_cli(["--ticket-ids", "1,2,3", "--fetch-only"], tmp_path, cli_env(freshdesk, llm)).returncode == 0
    damaged = tmp_path / "conversations" / "2.json"
    damaged.write_bytes(b'{"ticket_id": 2, "subj')
    freshdesk.reset_counters()

    result = run_cli(["--from-cache"], tmp_path, cli_env(None, llm))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    assert warnings == ["WARNING: conversations/2.json is not valid JSON (Unterminated string starting at: line 1 "
                        "column 18 (char 17)): delete it and re-run to fetch it again; skipped"]
    assert sorted(IssueDB.load(tmp_path / DB).tickets) == [1, 3]
    assert damaged.read_bytes() == b'{"ticket_id": 2, "subj'
    assert freshdesk.requests_total == 0

    result = run_cli(["--ticket-ids", "1,2,3", "--fetch-only"], tmp_path, cli_env(freshdesk, llm))
    assert result.returncode == 0, result.stderr
    assert json.loads(damaged.read_text())["ticket_id"] == 2
    assert any(p.startswith("/api/v2/tickets/2/conversations") for p in freshdesk.paths)
    assert not any(p.startswith("/api/v2/tickets/1/conversations") for p in freshdesk.paths)


# --------------------------------------------------------------------------- odd tickets


def _odd_desk() -> list[dict]:
    empty = make_thread(101, 0, topic=0)
    empty["ticket"].update(subject="", description="", description_text="")
    surrogate = make_thread(102, 1, topic=1)
    # A lone surrogate (valid JSON, not valid UTF-8) and Latin-1 mojibake, as broken mail gateways send.
    surrogate["ticket"]["description"] = ("<div>broken \udcff byte and caf\u00c3\u00a9</div>"
                                          + surrogate["ticket"]["description"])
    reply = surrogate["conversations"][0]
    reply["body"] = "<div>\ud800 lone high surrogate</div>" + reply["body"]
    huge = make_thread(103, 2, topic=2)
    huge["ticket"]["description"] += "<div>" + "The export log repeats this line. " * 12_000 + "</div>"
    return [empty, surrogate, huge]


@pytest.mark.slow
def test_empty_non_utf8_and_huge_tickets(tmp_path):
    llm_oracle = Oracle()
    with FakeFreshdesk(_odd_desk(), api_key=FRESHDESK_KEY) as freshdesk, FakeOpenAI(llm_oracle) as llm:
        result = run_cli(["--ticket-ids", "101,102,103"], tmp_path, cli_env(freshdesk, llm))
        assert result.returncode == 0, result.stderr
        texts = {}
        for request in llm.requests:
            text = ticket_in(request)
            texts[103 if "export log" in text else 102 if "VAT" in text else 101] = text
    db = IssueDB.load(tmp_path / DB)
    assert sorted(db.tickets) == [101, 102, 103]
    assert db.tickets[102].answer.category.startswith("Topic 1:")
    assert db.tickets[103].answer.category.startswith("Topic 2:")
    # The huge ticket reached the model trimmed to the prompt budget, and the trim is noted in its text.
    assert 5000 < len(texts[103]) <= 6000
    assert "characters trimmed ...]" in texts[103]
    assert texts[103].startswith("Subject: CSV export times out")
    # The broken characters were replaced, not passed on or fatal; the stored file is valid UTF-8.
    stored = (tmp_path / "conversations" / "102.json").read_bytes().decode("utf-8")
    assert "\udcff" not in stored and "\ud800" not in stored
    assert "broken \ufffd byte and caf\u00c3\u00a9" in stored and "\ufffd lone high surrogate" in stored
    assert texts[101].startswith("Subject:")


# --------------------------------------------------------------------------- full disk, unwritable output


def _first_db(fakes, tmp_path: Path) -> bytes:
    freshdesk, llm = fakes
    assert run_cli(GOOD_RUN, tmp_path, cli_env(freshdesk, llm)).returncode == 0
    return (tmp_path / DB).read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("where, message", [
    ("output", "error: cannot write output/silo_issues_db.json (No space left on device): free disk space or "
               "choose a writable --db; the previous file was left as it is"),
    ("conversations", "error: cannot write conversations/4.json (No space left on device): check that "
                      "conversations is a writable folder with free space"),
])
def test_full_disk_fails_with_one_line_and_keeps_the_previous_db(fakes, tmp_path, monkeypatch, capsys, where,
                                                                  message):
    freshdesk, llm = fakes
    before = _first_db(fakes, tmp_path)
    real = atomic_io.write_bytes_atomic

    def full_disk(path, data):
        if Path(path).parts[0] == where:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(atomic_io, "write_bytes_atomic", full_disk)
    monkeypatch.chdir(tmp_path)
    for name, value in cli_env(freshdesk, llm).items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        code = main.main(["--ticket-ids", "1,2,3,4,5", "--quiet"])
    finally:
        # main.main sets up logging for a whole process; give pytest its handlers and level back.
        root.handlers[:] = handlers
        root.setLevel(level)
    err = capsys.readouterr().err.strip().splitlines()
    assert (code, err) == (1, [message])
    assert (tmp_path / DB).read_bytes() == before
    assert not (tmp_path / "output" / "silo_issues_db.lock").exists()


@pytest.mark.slow
def test_output_inside_a_regular_file_fails_with_one_line(fakes, tmp_path):
    freshdesk, llm = fakes
    before = _first_db(fakes, tmp_path)
    (tmp_path / "blocker").write_text("not a folder")
    result = run_cli([*GOOD_RUN, "--output", "blocker/db.json"], tmp_path, cli_env(freshdesk, llm))
    # Found before anything is fetched: a usage error (exit 2) naming the flag to change.
    assert (result.returncode, one_line(result)) == (
        2, "error: cannot write the DB's folder blocker (a file is in the way of a folder): choose a writable --db; "
           "nothing was fetched")
    assert (tmp_path / "blocker").read_text() == "not a folder"
    assert (tmp_path / DB).read_bytes() == before

