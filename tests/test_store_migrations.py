"""The migrations build exactly tables.py's schema, run once, and stay off the fast path."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from crosspost.model import Draft
from crosspost.store import migrations
from crosspost.store.engine import make_engine
from crosspost.store.sql import SqlStore
from crosspost.store.tables import metadata


def _schema(path: Path) -> dict[str, object]:
    """Columns, indexes (with expressions), foreign keys and the table SQL's constraints, per table."""
    conn = sqlite3.connect(path)
    try:
        tables = [
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'alembic%'")
        ]
        result: dict[str, object] = {}
        for t in sorted(tables):
            indexes = {}
            for _, name, unique, origin, _partial in conn.execute(f"PRAGMA index_list({t})"):
                cols = [(r[2], r[4]) for r in conn.execute(f"PRAGMA index_xinfo({name})") if r[5]]
                sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0]
                indexes[name if origin == "c" else (origin, tuple(cols))] = (
                    unique,
                    cols,
                    " ".join((sql or "").split()).replace('"', ""),
                )
            result[t] = {
                "columns": conn.execute(f"PRAGMA table_info({t})").fetchall(),
                "indexes": indexes,
                "fks": conn.execute(f"PRAGMA foreign_key_list({t})").fetchall(),
            }
        return result
    finally:
        conn.close()


def test_migrations_match_tables_metadata(tmp_path: Path) -> None:
    migrated = tmp_path / "migrated.db"
    SqlStore(f"sqlite:///{migrated}", tmp_path / "media").close()
    engine = make_engine(f"sqlite:///{migrated}")
    with engine.connect() as conn, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLite cannot reflect expression indexes: compared below instead
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    engine.dispose()

    created = tmp_path / "created.db"
    engine = make_engine(f"sqlite:///{created}")
    metadata.create_all(engine)
    engine.dispose()
    assert _schema(migrated) == _schema(created)


def test_head_constant_matches_the_scripts() -> None:
    config = Config()
    config.set_main_option("script_location", str(migrations.SCRIPT_LOCATION))
    assert ScriptDirectory.from_config(config).get_heads() == [migrations.HEAD]


def test_upgrade_is_idempotent_and_keeps_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    SqlStore(url, tmp_path / "media").close()
    conn = sqlite3.connect(tmp_path / "db.sqlite")
    conn.execute(
        "INSERT INTO posts (title, source, created_at, snapshot)"
        " VALUES ('t', 's', '2027-01-01T00:00:00.000000+00:00', '{}')"
    )
    conn.commit()
    conn.close()
    engine = make_engine(url)
    migrations.upgrade(engine)
    migrations.upgrade(engine)
    assert migrations.is_current(engine)
    engine.dispose()
    assert migrations.is_current_sqlite(tmp_path / "db.sqlite")
    conn = sqlite3.connect(tmp_path / "db.sqlite")
    assert conn.execute("SELECT count(*) FROM posts").fetchone() == (1,)
    assert conn.execute("SELECT count(*) FROM daemon").fetchone() == (1,)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()


def test_reading_a_current_database_imports_neither_alembic_nor_sqlalchemy(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    SqlStore(url, tmp_path / "media").close()
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from crosspost.store.sql import SqlStore\n"
        f"s = SqlStore({url!r}, Path({str(tmp_path / 'media')!r}))\n"
        "s.log(); s.list_posts(); s.daemon_status(); s.next_wakeup()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'sqlalchemy')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_new_database_in_a_new_folder(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "db.sqlite"
    with SqlStore(f"sqlite:///{path}", tmp_path / "media") as store:
        assert store.list_posts() == []
    assert migrations.is_current_sqlite(path)


def _migrate(
    path: Path, revision: str, *, down: bool = False, then: tuple[tuple[str, dict[str, str]], ...] = ()
) -> None:
    """Bring the SQLite file at ``path`` up (or ``down``) to ``revision`` through Alembic, then run the
    statements ``then`` in the same transaction: a database as an older crosspost left it."""
    from alembic import command
    from sqlalchemy import text

    engine = make_engine(f"sqlite:///{path}")
    config = Config()
    config.set_main_option("script_location", str(migrations.SCRIPT_LOCATION))
    with engine.begin() as sa_conn:
        config.attributes["connection"] = sa_conn
        (command.downgrade if down else command.upgrade)(config, revision)
        for sql, params in then:
            sa_conn.execute(text(sql), params)
    engine.dispose()


_A_POST: tuple[str, dict[str, str]] = (
    "INSERT INTO posts (title, source, created_at, snapshot) VALUES ('t', 's', '2027-01-01', '{}')",
    {},
)
_A_DELIVERY = (
    "INSERT INTO deliveries (post_id, account, platform, status, due_at, attempts, draft, updated_at)"
    " VALUES (1, 'vk', 'vk', :status, '2027-01-01T00:00:00.000000+00:00', 0, :draft, '2027-01-01')"
)


def test_0002_adds_the_lease_token_to_a_database_made_by_0001_keeping_its_deliveries(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    _migrate(path, "0001", then=(_A_POST, (_A_DELIVERY, {"status": "sending", "draft": "{}"})))
    assert not migrations.is_current_sqlite(path)
    SqlStore(f"sqlite:///{path}", tmp_path / "media").close()  # upgrades on open
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (migrations.HEAD,)
        assert conn.execute("SELECT status, lease_token FROM deliveries").fetchall() == [("sending", 0)]
    finally:
        conn.close()
    _migrate(path, "0001", down=True)  # and back down, for a rollback of the release
    conn = sqlite3.connect(path)
    try:
        assert "lease_token" not in [r[1] for r in conn.execute("PRAGMA table_info(deliveries)")]
        assert conn.execute("SELECT count(*) FROM deliveries").fetchone() == (1,)
    finally:
        conn.close()


def test_0006_moves_the_claim_to_partial_indexes_and_a_waiting_delivery_is_still_claimed(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    draft = Draft("vk", "vk", ("hello",)).to_json()
    _migrate(path, "0005", then=(_A_POST, (_A_DELIVERY, {"status": "pending", "draft": draft})))

    def indexes() -> set[str]:
        conn = sqlite3.connect(path)
        try:
            return {r[1] for r in conn.execute("PRAGMA index_list(deliveries)") if r[3] == "c"}
        finally:
            conn.close()

    old = {"ix_deliveries_status_due_at", "ix_deliveries_account_status_due_at", "ix_deliveries_status_lease_until"}
    assert old <= indexes()
    with SqlStore(f"sqlite:///{path}", tmp_path / "media") as store:  # upgrades on open
        (claim,) = store.claim_due(now=datetime(2027, 1, 2, tzinfo=UTC), owner="d", lease_seconds=60)
        assert (claim.account, claim.draft.parts) == ("vk", ("hello",))
    assert not old & indexes()
    assert {"ix_deliveries_pending_account_due_at", "ix_deliveries_sending_lease_until"} <= indexes()
    _migrate(path, "0005", down=True)  # and back down, for a rollback of the release
    assert old <= indexes() and "ix_deliveries_pending_account_due_at" not in indexes()
