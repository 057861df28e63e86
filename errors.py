"""Typed errors a user can act on; each carries the exit code `main` returns for it.

An error is a problem and a fix. Layers below the command line word the fix without naming CLI
flags; `main` may give a class a CLI-specific fix (`cli_message`), so the library stays reusable
and the user still reads which flag to change.
"""

from __future__ import annotations

from collections.abc import Mapping


class SiloError(Exception):
    """A run failed; the message says what failed, for which input, and what to do."""

    exit_code = 1

    def __init__(self, problem: str, fix: str = "") -> None:
        super().__init__(f"{problem}: {fix}" if fix else problem)
        self.problem = problem
        self.fix = fix


class UsageError(SiloError):
    """Bad command-line usage or configuration."""

    exit_code = 2


class ConfigError(UsageError):
    """A setting the chosen mode needs is missing or malformed."""


class StartDateError(UsageError):
    """A start date (tickets changed since) that is not a date."""


class SearchPagesError(UsageError):
    """More search pages asked for than the helpdesk's search serves."""


class QueryTooLongError(UsageError):
    """Extra search terms that make the query longer than the helpdesk allows."""


class FreshdeskError(SiloError):
    """Freshdesk answered with an error the run cannot get past."""


class FreshdeskAuthError(FreshdeskError):
    """Freshdesk rejected the credentials (401/403): a configuration problem."""

    exit_code = 2


class FreshdeskUnreachableError(FreshdeskError):
    """The Freshdesk domain does not resolve or refuses connections at the first request."""

    exit_code = 2


class FreshdeskQueryError(FreshdeskError):
    """Freshdesk refused a search query (400 validation failure): the extra search terms are wrong."""

    exit_code = 2


class ZendeskError(SiloError):
    """Zendesk answered with an error the run cannot get past."""


class ZendeskAuthError(ZendeskError):
    """Zendesk rejected the credentials or the agent's role (401/403): a configuration problem."""

    exit_code = 2


class ZendeskUnreachableError(ZendeskError):
    """The Zendesk host does not resolve, refuses connections or redirects away at the first request."""

    exit_code = 2


class ZendeskQueryError(ZendeskError):
    """Zendesk refused an export start time (400/422)."""

    exit_code = 2


class ZendeskSearchError(ZendeskQueryError):
    """Zendesk refused a search query (400/422): the extra search terms are wrong."""


class ImportFileError(UsageError):
    """An export file cannot be read as tickets (not UTF-8, not a table, not JSON)."""


class UnmappedColumnsError(ImportFileError):
    """An export table lacks columns the import needs, under any name it knows."""


class ColumnMapError(UsageError):
    """A column mapping that is not written COLUMN=FIELD."""


class LLMError(SiloError):
    """The model endpoint kept failing after bounded retries."""


class LLMConfigError(LLMError):
    """The model endpoint rejected the configuration (bad key, unknown model)."""

    exit_code = 2


class EmbeddingError(SiloError):
    """The remote embedding endpoint kept failing."""


class EmbeddingConfigError(EmbeddingError):
    """The remote embedding endpoint rejected the configuration (bad key, unknown model)."""

    exit_code = 2


class DatabaseError(SiloError):
    """The issue DB, its checkpoint or a side file cannot be read or written."""


class UnreadableDatabaseError(DatabaseError):
    """The issue DB or its checkpoint cannot be read or parsed; the file is left as it is."""


class DatabaseWriteError(DatabaseError):
    """The issue DB or a side file cannot be written; the previous file is left as it is."""


class UnwritableFolderError(UsageError):
    """The DB's folder cannot be created or written, found before anything is fetched."""


class EmbeddingModelMismatch(UsageError):
    """The DB was built with vectors of another embedding model."""


class UnknownIssueError(UsageError):
    """An issue id that is not in the DB."""


class LockError(SiloError):
    """Another run holds the lock on this DB."""


class Interrupted(SiloError):
    """SIGINT or SIGTERM arrived; a checkpoint was written."""

    exit_code = 130


def cli_message(exc: SiloError, fixes: Mapping[type[SiloError], str]) -> str:
    """The message for `exc`, with the command line's own fix for its class when one is given."""
    for cls in type(exc).__mro__:
        if cls in fixes and exc.fix:
            return f"{exc.problem}: {fixes[cls]}"
    return str(exc)
