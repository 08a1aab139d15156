"""``list``'s filters and order, computed in SQL (crosspost.store.listing), against a plain Python
reference: the contract's words written out as a filter over every post, on SQLite and PostgreSQL.

The posts are queued through the store; each delivery is then put in its status and due time by a
plain UPDATE (the daemon could not reach every mix of statuses quickly), and a post may lose all
of its deliveries (then it is listed as due at its creation, status "failed").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from crosspost.model import Draft
from crosspost.statuses import DELIVERY_STATUSES, POST_STATUSES
from crosspost.store.records import post_status
from crosspost.store.sql import SqlStore

T0 = datetime(2027, 3, 17, 1, 0, tzinfo=UTC)
LIST_STATUSES = (*POST_STATUSES, *(s for s in DELIVERY_STATUSES if s not in POST_STATUSES))
NEEDS_A_PERSON = {"failed", "unknown", "missed"}  # CONTRACT.md: log --attention's statuses

# A post: its creation (hours after T0) and its deliveries as (status, due hours after T0). Few
# distinct hours, so equal times (ordered by id) are common.
deliveries = st.lists(st.tuples(st.sampled_from(DELIVERY_STATUSES), st.integers(0, 3)), max_size=4)
posts = st.lists(st.tuples(st.integers(0, 3), deliveries), min_size=1, max_size=8)
asks = st.lists(
    st.tuples(
        st.lists(st.sampled_from(LIST_STATUSES), max_size=3),
        st.booleans(),
        st.none() | st.integers(1, 9),
    ),
    min_size=1,
    max_size=6,
)


def reference(
    stored: dict[int, tuple[datetime, list[tuple[str, str, datetime]]]], wanted: list[str], attention: bool
) -> list[int]:
    """The post ids ``list`` shows, by the contract: any of the statuses asked for (a post status is
    the post's summary; a delivery-only one, a delivery in it), or with --attention a delivery that
    needs a person; the waiting posts soonest due first, then the rest newest first."""
    kept = []
    for post_id, (created, ds) in stored.items():
        statuses = [s for _, s, _ in ds]
        summary = post_status(statuses)
        asked = [summary == one if one in POST_STATUSES else one in statuses for one in wanted]
        if attention:
            asked.append(bool(NEEDS_A_PERSON & set(statuses)))
        if not wanted and not attention or any(asked):
            due = min((due for _, _, due in ds), default=created)
            kept.append((post_id, summary, due))
    waiting = sorted(((due, i) for i, summary, due in kept if summary in ("queued", "sending")))
    rest = sorted(((due, i) for i, summary, due in kept if summary not in ("queued", "sending")), reverse=True)
    return [i for _, i in waiting + rest]


def fill(store: SqlStore, wanted: list[tuple[int, list[tuple[str, int]]]]) -> dict[int, tuple[datetime, list]]:
    """Store these posts in an emptied database; what each holds: (created, [(account, status, due)])."""
    stored: dict[int, tuple[datetime, list[tuple[str, str, datetime]]]] = {}
    with store.engine.begin() as conn:
        for table in ("notices", "attempts", "deliveries", "posts"):
            conn.execute(text(f"DELETE FROM {table}"))
    for created_hours, ds in wanted:
        created = T0 + timedelta(hours=created_hours)
        accounts = [f"a{n}" for n in range(max(1, len(ds)))]
        drafts = [Draft(account=a, platform="twitter", parts=("hello",), images=(), link=None) for a in accounts]
        post_id = store.queue_post(title="T", source="posts/p.md", drafts=drafts, due_at=T0, now=created)
        held = []
        with store.engine.begin() as conn:
            if not ds:
                conn.execute(text("DELETE FROM deliveries WHERE post_id = :p"), {"p": post_id})
            for account, (status, due_hours) in zip(accounts, ds, strict=False):
                due = T0 + timedelta(hours=due_hours)
                due_value: object = due.isoformat(timespec="microseconds") if conn.dialect.name == "sqlite" else due
                conn.execute(
                    text("UPDATE deliveries SET status = :s, due_at = :due WHERE post_id = :p AND account = :a"),
                    {"s": status, "due": due_value, "p": post_id, "a": account},
                )
                held.append((account, status, due))
        stored[post_id] = (created, held)
    return stored


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(wanted=posts, asked=asks)
def test_the_sql_listing_is_the_contracts_filter_and_order(
    store: SqlStore, wanted: list[tuple[int, list[tuple[str, int]]]], asked: list[tuple[list[str], bool, int | None]]
) -> None:
    stored = fill(store, wanted)
    for statuses, attention, limit in asked:
        expected = reference(stored, statuses, attention)
        summaries = list(store.iter_post_summaries(status=statuses, attention=attention, limit=limit))
        assert [s.id for s in summaries] == expected[:limit], (statuses, attention, limit)
        assert store.count_posts(status=statuses, attention=attention) == len(expected)
        # A terminal's page: the same posts, and the total counted by the same query.
        assert store.post_summaries_page(status=statuses, attention=attention, limit=limit) == (
            summaries,
            len(expected),
        )
        posts_page = store.posts_page(status=statuses, attention=attention, limit=limit)
        for s in summaries:
            created, held = stored[s.id]
            assert s.states == tuple((a, status) for a, status, _ in held)
            assert s.status == post_status([status for _, status, _ in held])
            assert s.due_at == min((due for _, _, due in held), default=created)
        full = list(store.iter_posts(status=statuses, attention=attention, limit=limit))
        assert posts_page == (full, len(expected))
        shortened = [
            (p.id, p.title, p.due_at, p.status, tuple((d.account, d.status) for d in p.deliveries)) for p in full
        ]
        assert shortened == [tuple(s) for s in summaries]
        assert all(p.created_at == stored[p.id][0] for p in full)


def test_an_unknown_status_is_refused_naming_the_statuses(store: SqlStore) -> None:
    from crosspost.errors import CrosspostError

    with pytest.raises(CrosspostError, match=r"^unknown status 'bogus'; use one of: cancelled, failed, missed"):
        list(store.iter_post_summaries(status=["sent", "bogus"]))
