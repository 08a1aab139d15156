"""Direct statements (store.direct): the same rows as SQLAlchemy's execute, its errors, and the daemon's
write transaction and savepoint, on SQLite and on PostgreSQL (the ``store`` fixture runs both)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from crosspost.model import Draft
from crosspost.store.direct import Direct, DirectTransaction, Tx, dbapi_of, savepoint
from crosspost.store.engine import _OWN, direct_write, group_write
from crosspost.store.sql import SqlStore
from crosspost.store.tables import attempts, deliveries

T0 = datetime(2027, 3, 17, 1, 0, 0, 123456, tzinfo=UTC)
d = deliveries.c
a = attempts.c


def one_delivery(store: SqlStore) -> int:
    drafts = [Draft(account="vk", platform="vk", parts=("Привет, text",))]
    post_id = store.queue_post(title="T", source="p.md", drafts=drafts, due_at=T0, now=T0)
    return store.get_post(post_id).deliveries[0].id


def test_direct_rows_are_sqlalchemys_rows(store: SqlStore) -> None:
    delivery_id = one_delivery(store)
    for is_try in (True, False):
        store.record_attempt(delivery_id, at=T0, seconds=0.5, outcome="sent", code=None, error=None, is_try=is_try)
    statements = [
        (select(d.id, d.account, d.due_at, d.next_try_at, d.attempts, d.draft).where(d.id == bindparam("i")), {}),
        (select(a.at, a.seconds, a.is_try, a.code).where(a.delivery_id == bindparam("i")).order_by(a.id), {}),
        (
            update(deliveries)
            .where(d.id == bindparam("i"))
            .values(next_try_at=bindparam("t", type_=d.next_try_at.type))
            .returning(d.next_try_at, d.attempts),
            {"t": T0 + timedelta(minutes=5)},
        ),
    ]
    with store.engine.begin() as conn:
        for statement, extra in statements:
            params = {"i": delivery_id, **extra}
            direct = Direct(statement)(conn, params).all()
            expected = conn.execute(statement, params).all()
            assert [tuple(r) for r in direct] == [tuple(r) for r in expected]
            assert [type(v) for r in direct for v in r] == [type(v) for r in expected for v in r]
            assert [r._fields for r in direct] == [tuple(r._fields) for r in expected]
        conn.rollback()
    with store.engine.connect() as conn:
        row = Direct(statements[1][0])(conn, {"i": delivery_id}).first()
    assert (row.at, row.is_try) == (T0, True)  # an aware UTC time and a bool, on SQLite too


def test_a_direct_statement_names_what_it_lacks_and_refuses_in_lists(store: SqlStore) -> None:
    with store.engine.connect() as conn:
        with pytest.raises(KeyError, match="no value for i"):
            Direct(select(d.id).where(d.id == bindparam("i")))(conn, {})
        with pytest.raises(ValueError, match="no IN lists"):
            Direct(select(d.id).where(d.status.in_(["pending", "sent"])))(conn, {})


def test_dbapi_errors_come_out_as_sqlalchemys(store: SqlStore) -> None:
    # Callers that handle a busy or restarted database catch SQLAlchemy's exceptions; these must be the same.
    row = {"delivery_id": 999_999, "at": T0, "seconds": 0.0, "outcome": "sent", "code": None, "message": None}
    statement = Direct(insert(attempts).values({k: bindparam(k) for k in (*row, "is_try")}))
    with pytest.raises(IntegrityError), direct_write(store.engine) as tx:
        statement(tx, {**row, "is_try": False})  # no such delivery: the foreign key refuses it


def test_a_direct_write_commits_all_or_nothing_and_lets_the_next_writer_in(store: SqlStore) -> None:
    delivery_id = one_delivery(store)
    set_error = Direct(update(deliveries).where(d.id == bindparam("i")).values(error=bindparam("e")))
    with pytest.raises(RuntimeError), direct_write(store.engine) as tx:
        set_error(tx, {"i": delivery_id, "e": "never stored"})
        raise RuntimeError("the block failed")
    assert store.delivery(delivery_id).error is None
    done = threading.Event()

    def write() -> None:  # another thread: a writer lock left held would make it wait out the busy timeout
        with direct_write(store.engine) as tx:
            set_error(tx, {"i": delivery_id, "e": "stored"})
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    thread.join(10)
    assert done.is_set()
    assert store.delivery(delivery_id).error == "stored"


def test_a_savepoint_undoes_only_its_own_work_and_the_transaction_goes_on(store: SqlStore) -> None:
    # On PostgreSQL a failed statement poisons the transaction until the rollback to the savepoint: the
    # write after it (and the commit) only succeed if that rollback was made.
    delivery_id = one_delivery(store)
    set_error = Direct(update(deliveries).where(d.id == bindparam("i")).values(error=bindparam("e")))
    orphan = Direct(
        insert(attempts).values(
            delivery_id=bindparam("i"), at=T0, seconds=0.0, outcome="sent", code=None, message=None, is_try=False
        )
    )

    def fails(tx: DirectTransaction) -> None:
        set_error(tx, {"i": delivery_id, "e": "undone"})
        orphan(tx, {"i": 999_999})

    with direct_write(store.engine) as tx:
        set_error(tx, {"i": delivery_id, "e": "before"})
        assert savepoint(tx, "work", lambda: fails(tx)) is False
        assert savepoint(tx, "work", lambda: orphan(tx, {"i": delivery_id})) is True
        set_error(tx, {"i": delivery_id, "e": "after"})
    record = store.get_post(store.delivery(delivery_id).post_id).deliveries[0]
    assert record.error == "after"
    assert [h.outcome for h in record.history] == ["sent"]  # the second savepoint's row, not the first's


def test_a_group_write_returns_its_work_and_commits_it_or_nothing(store: SqlStore) -> None:
    delivery_id = one_delivery(store)
    set_error = Direct(update(deliveries).where(d.id == bindparam("i")).values(error=bindparam("e")))

    def fails(tx: Tx) -> None:
        set_error(tx, {"i": delivery_id, "e": "never stored"})
        raise RuntimeError("the work failed")

    with pytest.raises(RuntimeError, match="the work failed"):
        group_write(store.engine, fails)
    assert store.delivery(delivery_id).error is None
    assert group_write(store.engine, lambda tx: set_error(tx, {"i": delivery_id, "e": "stored"}).rowcount) == 1
    assert store.delivery(delivery_id).error == "stored"


def queued_behind_the_lock(store: SqlStore, works: list[Callable[[Tx], object]]) -> list[tuple[str, object]]:
    """Run each work through group_write on a thread of its own, all queued while this thread holds SQLite's
    writer lock; then let them in. Per work: ("ok", what it returned) or ("raised", the exception)."""
    own = _OWN[store.engine]
    outcomes: list[tuple[str, object]] = [("not run", None)] * len(works)

    def run(n: int) -> None:
        try:
            outcomes[n] = ("ok", group_write(store.engine, works[n]))
        except Exception as exc:  # noqa: BLE001 - what the test looks at
            outcomes[n] = ("raised", exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(works))]
    with own.lock:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while len(own.queued) < len(works) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(own.queued) == len(works)
    for thread in threads:
        thread.join(10)
    return outcomes


def test_writes_queued_together_commit_together_and_a_failed_one_undoes_only_itself(store: SqlStore) -> None:
    if store.sqlite_file is None:
        pytest.skip("a group commit is SQLite's: PostgreSQL's writers run side by side")
    ids = [one_delivery(store) for _ in range(3)]
    set_error = Direct(update(deliveries).where(d.id == bindparam("i")).values(error=bindparam("e")))
    ran_on: list[int] = []

    def stores(n: int) -> Callable[[Tx], object]:
        def work(tx: Tx) -> object:
            ran_on.append(threading.get_ident())
            set_error(tx, {"i": ids[n], "e": f"stored {n}"})
            if n == 1:
                raise RuntimeError("write 1 failed")
            return n

        return work

    outcomes = queued_behind_the_lock(store, [stores(n) for n in range(3)])
    assert [kind for kind, _ in outcomes] == ["ok", "raised", "ok"]
    assert [outcomes[0][1], outcomes[2][1], str(outcomes[1][1])] == [0, 2, "write 1 failed"]
    assert len(set(ran_on)) == 1  # one thread ran the group: one transaction, one commit
    assert [store.delivery(i).error for i in ids] == ["stored 0", None, "stored 2"]


def test_a_commit_that_fails_fails_every_write_of_its_group(store: SqlStore) -> None:
    if store.sqlite_file is None:
        pytest.skip("a group commit is SQLite's: PostgreSQL's writers run side by side")
    ids = [one_delivery(store) for _ in range(2)]
    set_error = Direct(update(deliveries).where(d.id == bindparam("i")).values(error=bindparam("e")))
    orphan = Direct(
        insert(attempts).values(
            delivery_id=999_999, at=T0, seconds=0.0, outcome="sent", code=None, message=None, is_try=False
        )
    )

    def breaks_the_commit(tx: Tx) -> None:
        # A deferred foreign key is checked at COMMIT: the statement succeeds, the commit does not.
        dbapi_of(tx).execute("PRAGMA defer_foreign_keys = ON")
        set_error(tx, {"i": ids[0], "e": "never stored"})
        orphan(tx)

    outcomes = queued_behind_the_lock(
        store, [breaks_the_commit, lambda tx: set_error(tx, {"i": ids[1], "e": "never stored"})]
    )
    assert [kind for kind, _ in outcomes] == ["raised", "raised"]
    assert all(isinstance(exc, IntegrityError) for _, exc in outcomes)
    assert [store.delivery(i).error for i in ids] == [None, None]
    assert group_write(store.engine, lambda tx: set_error(tx, {"i": ids[1], "e": "stored"}).rowcount) == 1
