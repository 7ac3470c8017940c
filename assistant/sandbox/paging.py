"""Page sizes and keyset page tokens shared by the sandbox's list methods."""

from __future__ import annotations

from typing import Any

from assistant.sandbox import ids
from assistant.sandbox.errors import InvalidArgument

MAX_PAGE_SIZE = 500


def _page_size(max_results: int) -> int:
    # messages.list, threads.list and history.list: default 100, at most 500.
    if max_results < 1:
        raise InvalidArgument(f"Invalid maxResults {max_results}; use 1 to {MAX_PAGE_SIZE}")
    return min(max_results, MAX_PAGE_SIZE)


def _after_token(
    token: str | None, date_column: str, seq_column: str
) -> tuple[str, list[Any]]:
    """A keyset condition for rows after the page that ended at ``token``."""
    if not token:
        return "1", []
    date, seq = ids.decode_page_token(token, 2)
    return (
        f"({date_column} < ? OR ({date_column} = ? AND {seq_column} < ?))",
        [date, date, seq],
    )
