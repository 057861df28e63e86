"""Command-line entry: parse arguments, build the run context, call the command, map errors to exit codes."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from env import Settings, load_settings
from errors import (
    DatabaseWriteError,
    EmbeddingModelMismatch,
    LockError,
    SiloError,
    UnknownIssueError,
    UnreadableDatabaseError,
    UsageError,
    cli_message,
)
from log_setup import configure_logging
from source_options import SOURCE_FIXES
from source_options import add_arguments as add_source_arguments

if TYPE_CHECKING:
    from run_context import RunContext
    from ticket_sources import SourceRequest

DEFAULT_OUTPUT = Path("output") / "silo_issues_db.json"
DEMO_OUTPUT = Path("output") / "demo_issues_db.json"

# The command line's own fix for errors whose library wording cannot name a flag.
CLI_FIXES: dict[type[SiloError], str] = {
    UnreadableDatabaseError: "restore it from a backup, or pass a different --output; the file was left as it is",
    DatabaseWriteError: "free disk space or choose a writable --output; the previous file was left as it is",
    EmbeddingModelMismatch: "use the same embedding settings, or a new --output",
    UnknownIssueError: "use issue ids from the DB to --merge",
    LockError: "wait for it to finish, or use a different --output",
    **SOURCE_FIXES,
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line naming the problem, instead of argparse's usage dump.
        self.exit(2, f"error: {message} (see python -m main --help)\n")


def _pages(text: str) -> int:
    from data_fetcher import MAX_SEARCH_PAGES

    if not text.isdigit() or not 1 <= int(text) <= MAX_SEARCH_PAGES:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a page count: give a whole number from 1 to {MAX_SEARCH_PAGES} "
            "(Freshdesk search stops at page 10; use --since for more)"
        )
    return int(text)


def _ticket_ids(text: str) -> list[int]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a list of ticket ids: give ticket numbers separated by commas, e.g. 169,167"
        )
    return list(dict.fromkeys(int(p) for p in parts))


def _ticket_id(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a ticket id: give a ticket number such as 169")
    return int(text)


def _since(text: str) -> str:
    if text == "last":
        return text
    try:
        if len(text) != 10:
            raise ValueError
        date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date: give YYYY-MM-DD, or 'last' for everything since the last run"
        ) from None
    return text


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not text.isdigit() or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is invalid: give a whole number from {low} to {high}")
        return int(text)

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m main",
        description="Find the recurring problems in a Freshdesk desk: fetch resolved/closed tickets, "
        "clean them, and sort each into a growing issue DB.",
    )
    pick = parser.add_mutually_exclusive_group()
    pick.add_argument("--pages", type=_pages, metavar="N",
                      help="search pages of resolved/closed tickets, 30 a page (1-10, Freshdesk's limit; default 5)")
    pick.add_argument("--since", type=_since, metavar="YYYY-MM-DD|last",
                      help="every resolved/closed ticket updated since then; 'last' = since the newest "
                      "ticket the DB has seen (the weekly run)")
    pick.add_argument("--ticket-ids", type=_ticket_ids, metavar="1,2,3",
                      help="exactly these tickets, in this order")
    pick.add_argument("--from-cache", action="store_true",
                      help="classify the conversations already in conversations/, no Freshdesk calls")
    pick.add_argument("--demo", action="store_true",
                      help="run offline on the bundled sample desk: no credentials, no network")
    pick.add_argument("--apply-review", type=Path, metavar="CSV",
                      help="apply the decisions typed into a flagged_for_review.csv to the DB")
    pick.add_argument("--merge", nargs=2, metavar=("KEEP", "OTHER"), help="merge issue OTHER into issue KEEP")
    pick.add_argument("--consolidate", action="store_true",
                      help="look for confirmed issues of the DB that are one problem and merge them (or suggest)")
    pick.add_argument("--similar", metavar="TEXT",
                      help="print the 5 nearest confirmed issues and 3 nearest past tickets to TEXT (offline)")
    pick.add_argument("--similar-to", type=_ticket_id, metavar="TICKET_ID",
                      help="the same for a ticket already in conversations/")
    pick.add_argument("--reclean", action="store_true",
                      help="rebuild conversations/ from the raw API answers in conversations/raw/ with the "
                      "current cleaning code; no Freshdesk calls")
    parser.add_argument("--query", metavar="CLAUSE",
                        help="extra search terms ANDed to the status filter, e.g. 'group_id:12 AND tag:billing' "
                        "(Freshdesk) or 'tags:billing' (Zendesk, with --pages)")
    add_source_arguments(parser)
    parser.add_argument("--output", type=Path, metavar="PATH",
                        help=f"issue DB (default {DEFAULT_OUTPUT}; {DEMO_OUTPUT} with --demo); "
                        "its CSV, report and checkpoint are written beside it")
    parser.add_argument("--fetch-only", action="store_true", help="stop after writing conversations/")
    parser.add_argument("--classifier", choices=("llm", "embedding"),
                        help="llm (default): ask the model; embedding: offline, by similarity (default with --demo)")
    parser.add_argument("--prompt-debug", action="store_true",
                        help="print each prompt, the raw answer and the parsed answer; write nothing")
    parser.add_argument("--reclassify", action="store_true",
                        help="decide the selected tickets again (except those a reviewer decided)")
    parser.add_argument("--concurrency", type=_bounded_int(1, 64), default=8, metavar="N",
                        help="model calls in parallel (default 8)")
    parser.add_argument("--batch-size", type=_bounded_int(1, 50), metavar="N",
                        help="parallel Freshdesk requests (default BATCH_SIZE, else 3)")
    parser.add_argument("--no-redact", action="store_true",
                        help="send ticket text to the model without masking emails, phones and card numbers")
    parser.add_argument("--verbose", action="store_true", help="debug logs and per-stage timings on stderr")
    parser.add_argument("--quiet", action="store_true", help="only errors on stderr")
    parser.add_argument("--dry-run", action="store_true",
                        help="list the tickets and say what a run would fetch and classify, with Freshdesk "
                        "credits, model calls, tokens and cost; write nothing")
    parser.add_argument("--json", action="store_true",
                        help="with --similar, --similar-to or --dry-run: print JSON on stdout for scripts")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    scrubber = configure_logging(args.verbose, args.quiet)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        settings = load_settings(os.environ)
        scrubber = configure_logging(args.verbose, args.quiet, settings.secrets())
        _check_combinations(args)
        return _dispatch(args, settings)
    except SiloError as exc:
        print(f"error: {scrubber.scrub(cli_message(exc, CLI_FIXES))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted before any checkpoint was needed; nothing was lost", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (e.g. `| head`): not an error worth a message.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silences the interpreter's flush at exit
        return 0
    except OSError as exc:
        # A full disk or an --output inside a file: one line naming the path, not a traceback.
        where = f" {exc.filename}" if exc.filename else ""
        why = exc.strerror or str(exc)
        if isinstance(exc, (FileExistsError, NotADirectoryError)):
            why = "a file is in the way of a folder"
        print(f"error: cannot write{where} ({why}): free disk space or choose a writable --output",
              file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum: int, frame: object) -> None:
    # SIGTERM takes the same path as Ctrl-C: checkpoint, then exit 130.
    raise KeyboardInterrupt


def _check_combinations(args: argparse.Namespace) -> None:
    if args.prompt_debug and (args.demo or args.classifier == "embedding"):
        raise UsageError("--prompt-debug shows the model's prompts: use it with the llm classifier, not --demo")
    if args.fetch_only and (args.from_cache or args.demo):
        raise UsageError("--fetch-only fetches from Freshdesk: drop --from-cache or --demo")
    if args.demo and args.classifier == "llm":
        raise UsageError("--demo runs offline with the embedding classifier: drop --classifier llm")
    lookup = args.similar is not None or args.similar_to
    if (lookup or args.reclean) and (args.fetch_only or args.prompt_debug or args.reclassify or args.dry_run):
        raise UsageError("--similar, --similar-to and --reclean run on their own: drop --fetch-only, "
                         "--prompt-debug, --reclassify and --dry-run")
    if args.dry_run and (args.prompt_debug or args.demo or args.apply_review or args.merge or args.consolidate):
        raise UsageError("--dry-run estimates a Freshdesk or --from-cache run: drop --prompt-debug, --demo, "
                         "--apply-review, --merge or --consolidate")
    if args.json and not (lookup or args.dry_run):
        raise UsageError("--json prints the result of --similar, --similar-to or --dry-run: use it with one of them")
    if args.merge:
        args.merge = [issue_id.upper() for issue_id in args.merge]
        if args.merge[0] == args.merge[1]:
            raise UsageError(f"--merge needs two different issues, got {args.merge[0]} twice")


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    import commands

    ctx = _context(args, settings)
    if args.apply_review:
        print(commands.apply_review(ctx, args.apply_review))
    elif args.reclean:
        print(commands.reclean(ctx))
    elif args.similar is not None or args.similar_to:
        print(commands.similar(ctx, text=args.similar, ticket_id=args.similar_to, as_json=args.json))
    elif args.merge:
        print(commands.merge(ctx, *args.merge))
    elif args.consolidate:
        print(commands.consolidate(ctx))
    elif args.dry_run:
        print(commands.dry_run(ctx, _request(args), fetch_only=args.fetch_only, as_json=args.json))
    elif args.prompt_debug:
        for block in commands.prompt_debug(ctx, _request(args)):
            print(block)
    elif args.fetch_only:
        print(commands.fetch_only(ctx, _request(args)))
    else:
        print(commands.run(ctx, _request(args)))
    return 0


def _context(args: argparse.Namespace, settings: Settings) -> RunContext:
    """The run context, with every setting the mode needs checked before any network call."""
    from conversation_utils import ConversationStore
    from issue_clusterer import SideFiles
    from run_context import RunContext
    from source_options import choose

    db = args.output or (DEMO_OUTPUT if args.demo else DEFAULT_OUTPUT)
    files = SideFiles.for_db(db)
    if files.db.exists() and files.db.is_dir():
        raise UsageError(f"--output {files.db} is a folder: give a file path such as {files.db / 'issues.json'}")
    # The demo DB's conversations live apart from the real desk's.
    demo_store = args.demo or files.db.resolve() == DEMO_OUTPUT.resolve()
    classifier = args.classifier or ("embedding" if args.demo else "llm")
    chosen = choose(args, settings, files.db, demo=demo_store)
    source = chosen.source
    looks_up = args.similar is not None or bool(args.similar_to)
    runs = not (args.apply_review or args.merge or args.reclean or looks_up or args.consolidate)
    fetches = runs and source in ("freshdesk", "zendesk")
    asks_model = (runs or args.consolidate) and classifier == "llm" and not (args.fetch_only or args.dry_run)
    return RunContext(
        settings=settings,
        files=files,
        store=ConversationStore(chosen.store_dir),
        source=source,
        desk=chosen.desk,
        classifier=classifier,
        freshdesk=settings.freshdesk() if fetches and source == "freshdesk" else None,
        zendesk=settings.zendesk() if fetches and source == "zendesk" else None,
        export_file=chosen.export_file,
        field_map=chosen.field_map,
        llm=settings.llm() if asks_model else None,
        embedding=settings.embedding() if runs or looks_up or args.consolidate else None,
        concurrency=args.concurrency,
        batch_size=args.batch_size or settings.batch_size,
        reclassify=args.reclassify,
        redact=not args.no_redact,
        verbose=args.verbose,
        quiet=args.quiet,
    )


def _request(args: argparse.Namespace) -> SourceRequest:
    from ticket_sources import SourceRequest

    return SourceRequest(pages=args.pages, since=args.since, ticket_ids=args.ticket_ids, query=args.query)


if __name__ == "__main__":
    sys.exit(main())
