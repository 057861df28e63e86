"""Which issue DB a command means: `--db`, else the one a review CSV's name belongs to, else the default,
and, for the commands that only read, the demo DB when it is the only one there."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from cli_args import DEFAULT_OUTPUT, DEMO_OUTPUT

log = logging.getLogger(__name__)

_REVIEW_SUFFIXES = (".flagged_for_review.csv", ".merge_suggestions.csv")
_DEFAULT_REVIEW_NAMES = ("flagged_for_review.csv", "merge_suggestions.csv")


def db_for_review_csv(csv_path: Path) -> Path | None:
    """The DB a review CSV was written beside (SPEC: side files), from its name; None when the name says nothing."""
    name = csv_path.name
    if name in _DEFAULT_REVIEW_NAMES:
        return csv_path.with_name(DEFAULT_OUTPUT.name)
    for suffix in _REVIEW_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return csv_path.with_name(name[: -len(suffix)] + ".json")
    return None


def choose_db(args: argparse.Namespace) -> Path:
    """The DB the command reads or writes."""
    if args.db is not None:
        return args.db
    if args.demo:
        return DEMO_OUTPUT
    if args.apply_review is not None:
        return db_for_review_csv(args.apply_review) or DEFAULT_OUTPUT
    reads_only = args.issues or args.similar is not None or bool(args.similar_to)
    if reads_only and not DEFAULT_OUTPUT.exists() and DEMO_OUTPUT.exists():
        log.info("no %s yet: reading the demo DB %s (--db names another)", DEFAULT_OUTPUT, DEMO_OUTPUT)
        return DEMO_OUTPUT
    return DEFAULT_OUTPUT
