"""Times as the outputs read them: ISO timestamps or dates, always in UTC."""

from __future__ import annotations

from datetime import date, datetime, timezone


def parse_time(text: object) -> datetime | None:
    """Parse an ISO timestamp or date (Freshdesk's `...Z` included) as UTC; None when it is not one."""
    if not isinstance(text, str) or not text.strip():
        return None
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        try:
            when = datetime.combine(date.fromisoformat(raw[:10]), datetime.min.time())
        except ValueError:
            return None
    return as_utc(when)


def as_utc(when: datetime) -> datetime:
    """`when` in UTC; a naive time is taken as UTC."""
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
