"""crosspost.statuses: import-free, the one transition table, and the store's settle() enforcing it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import test_delivery
from test_delivery import T0, queue

from crosspost import statuses
from crosspost.adapters.base import Ambiguous, AuthError, LookupUnavailable, RateLimited, Rejected, Transient
from crosspost.statuses import CLAIM, DAEMON, PERSON, TERMINAL, TRANSITIONS, allowed_from
from crosspost.store.sql import SqlStore

store = test_delivery.store


def test_the_statuses_module_imports_nothing() -> None:
    tree = ast.parse(Path(statuses.__file__).read_text(encoding="utf-8"))
    assert [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)] == []


def test_the_table_names_only_real_statuses_and_actors() -> None:
    for (before, after), actors in TRANSITIONS.items():
        assert before in statuses.DELIVERY_STATUSES and after in statuses.DELIVERY_STATUSES
        assert actors and actors <= {DAEMON, CLAIM, PERSON}


def test_only_a_person_ever_moves_a_delivery_out_of_a_terminal_status() -> None:
    for (before, _after), actors in TRANSITIONS.items():
        if before in TERMINAL:
            assert actors == {PERSON}, before
    assert statuses.CANCELLED not in {before for before, _ in TRANSITIONS}  # cancelled is final


def test_the_error_kinds_adapters_raise_are_attempt_outcomes() -> None:
    outcomes = {v for k, v in vars(statuses).items() if k.startswith("OUT_")}
    kinds = {e.kind for e in (Transient, RateLimited, Ambiguous, AuthError, Rejected, LookupUnavailable)}
    assert kinds <= outcomes


@pytest.mark.parametrize(
    ("to", "by", "expected"),
    [
        ("sent", DAEMON, ("sending",)),
        ("missed", DAEMON, ("pending", "sending", "retrying")),
        ("cancelled", PERSON, ("pending", "retrying")),
        ("pending", PERSON, ("pending", "retrying", "failed", "unknown", "missed")),
        ("sending", CLAIM, ("pending", "sending", "retrying")),
        ("sent", CLAIM, ()),
    ],
)
def test_allowed_from(to: str, by: str, expected: tuple[str, ...]) -> None:
    assert allowed_from(to, by) == expected


def test_settle_refuses_a_move_outside_the_table_and_says_so(store: SqlStore) -> None:
    post = queue(store, "tw")
    [delivery_id] = [d.id for d in store.get_post(post).deliveries]
    assert not store.settle(delivery_id, "sent", by=DAEMON, now=T0, remote_id="1", url="u")  # pending: not claimed
    assert not store.settle(delivery_id, "cancelled", by=DAEMON, now=T0)  # a person's move, not the daemon's
    assert store.settle(delivery_id, "cancelled", by=PERSON, now=T0)
    assert not store.settle(delivery_id, "pending", by=PERSON, now=T0)  # cancelled is final
    assert store.delivery(delivery_id).status == "cancelled"
