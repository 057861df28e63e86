"""Command-line entry: parse arguments, build the run context, call the command, map errors to exit codes."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cli_args import build_parser, check_combinations
from env import Settings, load_settings
from errors import (
    DatabaseWriteError,
    EmbeddingModelMismatch,
    LockError,
    SiloError,
    UnknownIssueError,
    UnreadableDatabaseError,
    UnwritableFolderError,
    UsageError,
    cli_message,
)
from log_setup import configure_logging
from source_options import SOURCE_FIXES

if TYPE_CHECKING:
    from command_result import CommandResult
    from env import LLMSettings
    from run_context import RunContext
    from ticket_sources import SourceRequest

# The command line's own fix for errors whose library wording cannot name a flag.
CLI_FIXES: dict[type[SiloError], str] = {
    UnreadableDatabaseError: "restore it from a backup, or pass a different --db; the file was left as it is",
    DatabaseWriteError: "free disk space or choose a writable --db; the previous file was left as it is",
    EmbeddingModelMismatch: "use the same embedding settings, or a new --db",
    UnknownIssueError: "use issue ids from the DB to --merge",
    LockError: "wait for it to finish, or use a different --db",
    UnwritableFolderError: "choose a writable --db; nothing was fetched",
    **SOURCE_FIXES,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    scrubber = configure_logging(args.verbose, args.quiet)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        settings = load_settings(os.environ)
        scrubber = configure_logging(args.verbose, args.quiet, settings.secrets())
        check_combinations(args)
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
        # A full disk mid-run, or a side file that cannot be written: one line naming the path, not a traceback.
        where = f" {exc.filename}" if exc.filename else ""
        why = exc.strerror or str(exc)
        if isinstance(exc, (FileExistsError, NotADirectoryError)):
            why = "a file is in the way of a folder"
        print(f"error: cannot write{where} ({why}): free disk space or choose a writable --db",
              file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum: int, frame: object) -> None:
    # SIGTERM takes the same path as Ctrl-C: checkpoint, then exit 130.
    raise KeyboardInterrupt


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    ctx = _context(args, settings)
    result = _command(args, ctx)
    if result is None:
        return 0
    print(result.render(args.json))
    if result.error:
        print(f"error: {result.error}", file=sys.stderr)
    return result.exit_code


def _command(args: argparse.Namespace, ctx: RunContext) -> CommandResult | None:
    import commands

    if args.apply_review:
        return commands.apply_review(ctx, args.apply_review)
    if args.reclean:
        return commands.reclean(ctx)
    if args.issues:
        return commands.issues(ctx, sort=args.sort, top=args.top)
    if args.similar is not None or args.similar_to:
        return commands.similar(ctx, text=args.similar, ticket_id=args.similar_to)
    if args.merge:
        return commands.merge(ctx, *args.merge)
    if args.consolidate:
        return commands.consolidate(ctx)
    if args.dry_run:
        return commands.dry_run(ctx, _request(args), fetch_only=args.fetch_only)
    if args.prompt_debug:
        return _prompt_debug(args, ctx)
    if args.fetch_only:
        return commands.fetch_only(ctx, _request(args))
    return commands.run(ctx, _request(args))


def _prompt_debug(args: argparse.Namespace, ctx: RunContext) -> CommandResult | None:
    """Blocks printed as they come; with --json, one object at the end."""
    import commands
    from command_result import CommandResult

    shown = []
    for block in commands.prompt_debug(ctx, _request(args)):
        if args.json:
            shown.append(block.data)
        else:
            print(block.text, flush=True)
    return CommandResult("", {"tickets": shown}) if args.json else None


def _context(args: argparse.Namespace, settings: Settings) -> RunContext:
    """The run context, with every setting the mode needs checked before any network call."""
    from cli_args import DEMO_OUTPUT
    from conversation_utils import ConversationStore
    from db_choice import choose_db
    from issue_clusterer import SideFiles
    from run_context import RunContext
    from source_options import choose

    files = SideFiles.for_db(choose_db(args))
    if files.db.exists() and files.db.is_dir():
        raise UsageError(f"--db {files.db} is a folder: give a file path such as {files.db / 'issues.json'}")
    # The demo DB's conversations live apart from the real desk's.
    demo_store = args.demo or files.db.resolve() == DEMO_OUTPUT.resolve()
    classifier = args.classifier or ("embedding" if args.demo else "llm")
    chosen = choose(args, settings, files.db, demo=demo_store)
    source = chosen.source
    looks_up = args.similar is not None or bool(args.similar_to) or args.issues
    runs = not (args.apply_review or args.merge or args.reclean or looks_up or args.consolidate)
    fetches = runs and source in ("freshdesk", "zendesk")
    asks_model = (runs or args.consolidate) and classifier == "llm" and not args.fetch_only
    llm = _llm_settings(settings, optional=args.dry_run) if asks_model else None
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
        llm=llm,
        embedding=settings.embedding() if runs or looks_up or args.consolidate else None,
        concurrency=args.concurrency,
        batch_size=args.batch_size or settings.batch_size,
        reclassify=args.reclassify,
        redact=not args.no_redact,
        verbose=args.verbose,
        quiet=args.quiet,
    )


def _llm_settings(settings: Settings, *, optional: bool) -> LLMSettings | None:
    """The model's settings; a dry run without them estimates anyway and says the model is not set."""
    from errors import ConfigError

    try:
        return settings.llm()
    except ConfigError:
        if optional:
            return None
        raise


def _request(args: argparse.Namespace) -> SourceRequest:
    from ticket_sources import SourceRequest

    return SourceRequest(pages=args.pages, since=args.since, ticket_ids=args.ticket_ids, query=args.query)


if __name__ == "__main__":
    sys.exit(main())
