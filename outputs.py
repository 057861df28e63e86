"""The files a run leaves for people: the issue DB, the flagged-for-review CSV and the HTML report."""

from __future__ import annotations

from conversation_utils import ConversationStore
from issue_clusterer import IssueDB, SideFiles, save_final
from report import write_report
from review_csv import write_flagged_csv, write_merge_csv


def write_outputs(db: IssueDB, files: SideFiles, store: ConversationStore) -> int:
    """End a run: the DB (by renaming the final checkpoint over it), then the CSV and the report.

    Returns the number of rows in the CSV.
    """
    tickets = store.ticket_info(db.tickets)
    save_final(db, files)
    rows = write_flagged_csv(files.flagged_csv, db, tickets=tickets)
    write_merge_csv(files.merge_csv, db)
    write_report(files.report, db, tickets=tickets, files=files)
    return rows


def rewrite_review_csv(db: IssueDB, files: SideFiles, store: ConversationStore) -> int:
    """The CSVs after a review: reviewed rows leave them, pending rows keep whatever the reviewer typed."""
    write_merge_csv(files.merge_csv, db)
    return write_flagged_csv(files.flagged_csv, db, tickets=store.ticket_info(db.flagged_pending()))
