"""The files a run leaves for people: the issue DB, the flagged-for-review CSV, the HTML report and its digest."""

from __future__ import annotations

from conversation_utils import ConversationStore
from digest import write_digest
from issue_clusterer import IssueDB, SideFiles, save_final
from report import write_report
from review_csv import write_flagged_csv, write_merge_csv


def write_outputs(db: IssueDB, files: SideFiles, store: ConversationStore) -> int:
    """End a run: the DB (by renaming the final checkpoint over it), then the CSV and the report.

    Returns the number of rows in the CSV.
    """
    save_final(db, files)
    return refresh_outputs(db, files, store)


def refresh_outputs(db: IssueDB, files: SideFiles, store: ConversationStore) -> int:
    """The CSVs, the report and the digest from the DB as saved (after a run, a review or a merge).

    Reviewed rows leave the CSVs; pending rows keep whatever the reviewer typed. Returns the CSV's rows.
    """
    tickets = store.ticket_info(db.tickets)
    rows = write_flagged_csv(files.flagged_csv, db, tickets=tickets)
    write_merge_csv(files.merge_csv, db)
    write_report(files.report, db, tickets=tickets, files=files)
    write_digest(files.report, db)
    return rows
