"""Direct statements (store.direct): the same rows as SQLAlchemy's execute, its errors, and the daemon's
write transaction and savepoint, on SQLite and on PostgreSQL (the ``store`` fixture runs both)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from crosspost.model import Draft
from crosspost.store.direct import Direct, DirectTransaction, savepoint
from crosspost.store.engine import direct_write
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
