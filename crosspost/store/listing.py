"""``crosspost list`` in SQL: each post's overall status, the ``--status`` / ``--attention`` filters
and list's order, all computed by the database.

Summing 10,000 posts up in Python to keep a few took most of a second; one ``GROUP BY`` (the
same text on SQLite and PostgreSQL) does it in some 50 ms, and the rows come out already in
list's order, so they can be printed as they are read.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from crosspost import statuses as st
from crosspost.errors import CrosspostError
from crosspost.statuses import DELIVERY_STATUSES, POST_STATUSES

# The delivery statuses that need a person (list/log --attention): a post is listed when any of its
# deliveries is in one of them, whatever its overall status (a "partial" post may hide a "failed").
ATTENTION = (st.FAILED, st.UNKNOWN, st.MISSED)


def _counted(status: str) -> str:
    return f"SUM(CASE WHEN d.status = '{status}' THEN 1 ELSE 0 END) AS n_{status}"


# records.post_status, the contract's summary, from the counts below.
_SUMMARY = (
    "CASE WHEN c.n_sending > 0 THEN 'sending'"
    " WHEN c.n_pending + c.n_retrying > 0 THEN 'queued'"
    " WHEN c.n > 0 AND c.n_sent = c.n THEN 'sent'"
    " WHEN c.n > 0 AND c.n_cancelled = c.n THEN 'cancelled'"
    " WHEN c.n_sent > 0 THEN 'partial' ELSE 'failed' END"
)
SUMMED = (st.PENDING, st.SENDING, st.RETRYING, st.SENT, st.CANCELLED)  # the statuses _SUMMARY counts


def _posts(counted: Collection[str]) -> str:
    """Every post with its due time (its soonest delivery's, else its creation), how many of its
    deliveries are in each of the ``counted`` statuses (each sum costs: only those a query reads),
    its summary and whether it waits. Only the post's id and creation are read here: its title is
    joined for the posts picked, and its big snapshot never."""
    sums = ", ".join(_counted(one) for one in DELIVERY_STATUSES if one in counted)
    per_post = (
        f"SELECT p.id AS id, COALESCE(MIN(d.due_at), p.created_at) AS due, COUNT(d.id) AS n, {sums}"
        " FROM posts p LEFT JOIN deliveries d ON d.post_id = p.id GROUP BY p.id"
    )
    waiting = "CASE WHEN c.n_sending + c.n_pending + c.n_retrying > 0 THEN 1 ELSE 0 END"
    return f"SELECT c.*, {_SUMMARY} AS summary, {waiting} AS waiting FROM ({per_post}) c"


# list's order: waiting posts (queued or sending) soonest due first, what goes out next on top;
# then the rest newest first. Equal times keep the lower id first among the waiting, the higher
# among the rest. Each CASE is NULL on the other side, so NULL ordering never matters.
ORDER = (
    "s.waiting DESC, CASE WHEN s.waiting = 1 THEN s.due END ASC, CASE WHEN s.waiting = 1 THEN s.id END ASC,"
    " CASE WHEN s.waiting = 0 THEN s.due END DESC, CASE WHEN s.waiting = 0 THEN s.id END DESC"
)
# The post's columns of a listed row; ``total``: how many posts match without the limit (for "N more",
# counted by the same query rather than by a second pass over every post).
HEAD = "s.id, p.title, p.source, p.created_at, s.due, s.summary, s.total"
HEAD_WIDTH = HEAD.count(",") + 1  # the deliveries' columns start here


def statuses(status: str | Sequence[str] | None) -> tuple[str, ...]:
    """A status filter as a tuple: one status, several (any of them), or none (everything)."""
    if status is None:
        return ()
    return (status,) if isinstance(status, str) else tuple(dict.fromkeys(status))


def _where(wanted: Sequence[str], attention: bool) -> tuple[str, dict[str, Any], set[str]]:
    """Any of ``wanted``: a post status compares with the summary; a delivery-only status (pending,
    retrying, unknown, missed) finds the posts that have such a delivery; ``attention`` the posts
    with a delivery that needs a person. Also the delivery statuses it needs counted."""
    terms: list[str] = []
    params: dict[str, Any] = {}
    counted: set[str] = set()
    for i, one in enumerate(wanted):
        if one in POST_STATUSES:
            terms.append(f"s.summary = :status{i}")
            params[f"status{i}"] = one
        elif one in DELIVERY_STATUSES:  # a known name: safe to write into the query
            terms.append(f"s.n_{one} > 0")
            counted.add(one)
        else:
            allowed = sorted({*POST_STATUSES, *DELIVERY_STATUSES})
            raise CrosspostError(f"unknown status {one!r}; use one of: {', '.join(allowed)}")
    if attention:
        terms.append("(" + " + ".join(f"s.n_{one}" for one in ATTENTION) + ") > 0")
        counted.update(ATTENTION)
    return (" WHERE " + " OR ".join(terms) if terms else ""), params, counted


def listed(
    deliveries: str, *, status: str | Sequence[str] | None = None, attention: bool = False, limit: int | None = None
) -> tuple[str, dict[str, Any]]:
    """The query of list's posts, filtered, in list's order, at most ``limit`` of them: one row per
    delivery (``HEAD``'s columns, then ``deliveries``, columns of ``d``, NULL for a post without
    any), a post's rows together and in delivery order."""
    where, params, asked = _where(statuses(status), attention)
    picked = f"SELECT *, COUNT(*) OVER () AS total FROM ({_posts({*SUMMED, *asked})}) s{where} ORDER BY {ORDER}"
    if limit is not None:
        picked += " LIMIT :limit"
        params["limit"] = int(limit)
    sql = (
        f"SELECT {HEAD}, {deliveries} FROM ({picked}) s JOIN posts p ON p.id = s.id"
        " LEFT JOIN deliveries d ON d.post_id = s.id"
    )
    return f"{sql} ORDER BY {ORDER}, d.id", params


def counted(*, status: str | Sequence[str] | None = None, attention: bool = False) -> tuple[str, dict[str, Any]]:
    """How many posts :func:`listed` gives without a limit (for "N more")."""
    where, params, asked = _where(statuses(status), attention)
    if not where:
        return "SELECT count(*) FROM posts", params
    return f"SELECT count(*) FROM ({_posts({*SUMMED, *asked})}) s{where}", params
