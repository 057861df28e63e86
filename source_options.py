"""The command-line options that pick where tickets come from (`--source`, `--from-file`, `--map`), the
combinations each source cannot serve, and the source, desk and conversation folder a command uses.

One DB holds the tickets of one desk: ticket ids of two helpdesks (or of an export and a helpdesk)
would collide in the DB and in `conversations/`. So each desk has its own conversation folder
(`run_context.DESK_DIRS`), every finished run records its source in the DB, and a command that would
bring another desk's tickets into a DB is refused before anything is fetched.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from errors import (
    ColumnMapError,
    FreshdeskQueryError,
    ImportFileError,
    QueryTooLongError,
    SearchPagesError,
    SiloError,
    StartDateError,
    UnmappedColumnsError,
    UsageError,
    ZendeskQueryError,
    ZendeskSearchError,
)

if TYPE_CHECKING:
    from env import Settings

HELPDESKS = ("freshdesk", "zendesk")
_NAMES = {"freshdesk": "Freshdesk", "zendesk": "Zendesk", "file": "export-file", "demo": "demo"}
# How to point a command at a desk's tickets again.
_PICK = {"freshdesk": "--source freshdesk", "zendesk": "--source zendesk", "file": "--from-file PATH",
         "demo": "--demo"}

# The command line's own fix for the source errors whose fix is one of these options (main.CLI_FIXES).
SOURCE_FIXES: dict[type[SiloError], str] = {
    StartDateError: "give --since as YYYY-MM-DD or an ISO timestamp such as 2026-03-01T12:00:00Z",
    SearchPagesError: "give fewer --pages, or use --since for more",
    QueryTooLongError: "shorten --query",
    FreshdeskQueryError: "check the --query syntax (e.g. group_id:12 AND tag:billing)",
    ZendeskSearchError: "check --query",
    ZendeskQueryError: "check --since and this machine's clock",
    ColumnMapError: "write e.g. --map 'Ticket Number=id'",
    UnmappedColumnsError: "name them with --map COLUMN=FIELD (e.g. --map 'Ticket Number=id')",
}


@dataclass(frozen=True)
class SourceChoice:
    """What a command reads: the source to open, the desk its DB belongs to, and that desk's folder."""

    source: str  # run_context.SourceKind
    desk: str  # run_context.DeskKind
    store_dir: Path
    export_file: Path | None = None
    field_map: dict[str, str] = field(default_factory=dict)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", choices=HELPDESKS,
                        help="the helpdesk to fetch from (default TICKET_SOURCE, else freshdesk)")
    parser.add_argument("--from-file", type=Path, metavar="PATH",
                        help="take the tickets from an exported CSV, JSON or JSONL file instead of a helpdesk; "
                        "--since and --ticket-ids narrow it")
    parser.add_argument("--map", action="append", metavar="COLUMN=FIELD",
                        help="with --from-file: the field a column holds where the header is not recognised "
                        "(repeatable), e.g. --map 'Case Number=id'")


def _reads_stored(args: argparse.Namespace) -> bool:
    """The command reads the stored conversations only (no fetch, no import)."""
    return bool(args.from_cache or args.apply_review or args.merge or args.issues or args.similar is not None
                or args.similar_to or args.reclean)


def _check_file(args: argparse.Namespace) -> None:
    if args.map and args.from_file is None:
        raise UsageError("--map names the columns of an export file: use it with --from-file PATH")
    if args.from_file is None:
        return
    if args.source:
        raise UsageError("--from-file and --source both say where the tickets come from: give one of them")
    if args.query:
        raise UsageError("--query searches a helpdesk, and an export file cannot be searched: drop --query "
                         "(--since and --ticket-ids narrow a file)")
    if args.pages:
        raise UsageError("--pages counts helpdesk search pages: drop it to read the whole file "
                         "(--since and --ticket-ids narrow it)")
    if _reads_stored(args) or args.demo:
        raise UsageError("--from-file takes tickets for a run: drop --from-cache, --demo, --apply-review, "
                         "--merge, --similar, --similar-to and --reclean, or drop --from-file")
    path = args.from_file
    if not path.exists():
        raise ImportFileError(f"{path} does not exist", "give the path of an exported CSV, JSON or JSONL file")
    if path.is_dir():
        raise ImportFileError(f"{path} is a folder", "give the export file inside it")


def _check_query(args: argparse.Namespace, helpdesk: str) -> None:
    if not args.query or args.from_file is not None:
        return
    picks_other = bool(args.ticket_ids or args.demo or _reads_stored(args))
    if helpdesk == "zendesk" and (args.since or picks_other):
        raise UsageError("--query adds terms to a Zendesk search, which only --pages runs (the incremental "
                         "export behind --since takes none): use --pages N --query ..., or drop --query")
    if picks_other:
        raise UsageError("--query scopes a Freshdesk search: use it with --pages or --since")


def choose(args: argparse.Namespace, settings: Settings, db: Path, *, demo: bool) -> SourceChoice:
    """The source, desk and conversation folder for this command; UsageError for a combination that cannot
    work, or one that would mix two desks' tickets in one DB. `demo`: the demo DB, which keeps its folder."""
    from run_context import DESK_DIRS
    from ticket_import import parse_map
    from ticket_sources import recorded_source

    _check_file(args)
    helpdesk = args.source or settings.ticket_source
    _check_query(args, helpdesk)
    field_map = parse_map(args.map or [])
    recorded = recorded_source(db) if not demo and db.is_file() else None
    if recorded is not None and recorded not in DESK_DIRS:
        raise UsageError(f"{db} holds tickets from {recorded!r}, a source this version does not know",
                         "use the version that built it, or another --db")
    if demo:
        desk = "demo"
    elif args.from_file is not None:
        desk = "file"
    elif args.source or not (recorded and _reads_stored(args)):
        desk = helpdesk
    else:
        desk = recorded  # review, lookup and re-classifying follow the DB whatever TICKET_SOURCE says
    if recorded and recorded != desk:
        raise UsageError(
            f"{db} holds {_NAMES.get(recorded, recorded)} tickets and this command would bring "
            f"{_NAMES[desk]} tickets, whose ids would collide with them: use {_PICK.get(recorded, 'its source')} "
            f"for this DB, or give the {_NAMES[desk]} tickets their own --db (e.g. output/{desk}_issues_db.json)"
        )
    if args.demo:
        source = "demo"
    elif args.from_cache or (desk == "file" and _reads_stored(args)):
        source = "cache"
    elif desk == "file" and args.from_file is None:
        raise UsageError(f"{db} was built from export files: name the file with --from-file PATH, or "
                         "re-run its stored conversations with --from-cache")
    elif desk == "demo":
        source = helpdesk  # a run into the demo DB fetches, as it always did
    else:
        source = desk
    return SourceChoice(source, desk, DESK_DIRS[desk], args.from_file, field_map)
