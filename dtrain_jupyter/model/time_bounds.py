"""Creation-time bounds of the job history: what a person types, as the store compares it.

Records keep their creation time as RFC 3339 in UTC ("2026-12-01T10:00:00Z") and the store
compares those as text, so every bound is brought to that form: a date alone stays a date (and
as an upper bound takes in its whole day), a time becomes UTC (one without an offset is UTC).
The server, the command line and the panel all read bounds here, so they agree.
"""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["parse_bound", "within", "DATE_LENGTH"]

DATE_LENGTH = len("2026-12-01")
# Sorts after every time of a day: "2026-12-01T99" > "2026-12-01T23:59:59Z".
_WHOLE_DAY = "T99"


def parse_bound(text: str, what: str) -> str:
    """A bound as the store compares it.

    Args:
        text: "" (no bound), an ISO date ("2026-12-01") or date and time ("2026-12-01T10:00",
            "2026-12-01 10:00:00Z", "2026-12-01T10:00:00+02:00").
        what: the bound's name for the message ("From", "--since", "from").
    Returns:
        "" for no bound, the date for a date alone, else the time in UTC as RFC 3339.
    Raises:
        ValueError: neither a date nor a time, in words that say what is expected.
    """
    value = text.strip()
    if not value:
        return ""
    try:
        if len(value) == DATE_LENGTH:
            return datetime.strptime(value, "%Y-%m-%d").strftime("%Y-%m-%d")
        moment = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
    except ValueError:
        raise ValueError(f"{what}: {value!r} is not a date; write it as YYYY-MM-DD, or YYYY-MM-DDTHH:MM "
                         "(a time without an offset is UTC)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def upper(bound: str) -> str:
    """An upper bound as compared: a date alone takes in its whole day."""
    return bound + _WHOLE_DAY if len(bound) == DATE_LENGTH else bound


def within(created: str | None, since: str, until: str) -> bool:
    """Whether a creation time lies in [since, until] (bounds from `parse_bound`); a job without a
    creation time passes only when no bound is set."""
    if not since and not until:
        return True
    if not created:
        return False
    if since and created < since:
        return False
    return not until or created <= upper(until)
