""":func:`retry_post`: ``crosspost retry``, putting failed, missed and unknown deliveries back in the queue.

An ``unknown`` delivery may already be on the platform, so it is looked up
first: found, it becomes ``sent``; provably absent or still unsettled, it is
requeued, because a person asked for it after checking (the error told them to).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from crosspost.adapters import adapter_for
from crosspost.adapters.base import Adapter, LookupUnavailable, PlatformError, Receipt
from crosspost.config import AccountConfig, Settings
from crosspost.delivery.policy import LOOKUP_MARGIN
from crosspost.delivery.run import MAYBE_LANDED, complete_receipt, platform_name
from crosspost.redact import redact
from crosspost.store.records import SENT, UNKNOWN, DeliveryRecord
from crosspost.store.sql import SqlStore

AdapterFactory = Callable[[AccountConfig, float], Adapter]


def retry_post(
    store: SqlStore,
    settings: Settings,
    post_id: int,
    account: str | None,
    *,
    now: datetime,
    adapter_factory: AdapterFactory = adapter_for,
) -> list[tuple[DeliveryRecord, str]]:
    """Requeue the post's failed/missed/unknown deliveries (of ``account`` if given).

    Returns each touched delivery (as it is now) with what happened to it:
    ``"requeued"``, or ``"sent"`` for an unknown one found on the platform.
    Raises NotFound for an unknown post id.
    """
    results: list[tuple[DeliveryRecord, str]] = []
    for record in store.retryable(post_id, account):
        if record.status == UNKNOWN and record.account in settings.accounts:
            found = _look_up(store, settings, record, now=now, adapter_factory=adapter_factory)
            if found is not None:
                store.settle_sent(record.id, remote_id=found.remote_id, url=found.url, now=now)
                results.append((store.delivery(record.id), SENT))
                continue
        results.append((store.requeue(record.id, now=now, note="crosspost retry"), "requeued"))
    return results


def _look_up(
    store: SqlStore, settings: Settings, record: DeliveryRecord, *, now: datetime, adapter_factory: AdapterFactory
) -> Receipt | None:
    """The post on the platform if a look-up finds it complete; None otherwise (absent or unsettled)."""
    draft, progress = store.draft_of(record.id)
    account = settings.accounts[record.account]
    since = _doubt_since(store, record) - LOOKUP_MARGIN
    started, clock = now, time.monotonic()
    outcome, code, error = "absent", None, None
    receipt: Receipt | None = None
    try:
        adapter = adapter_factory(account, settings.request_timeout)
        progress.on_change = lambda p: store.save_progress(record.id, p)
        receipt = adapter.find(draft, progress, since)
    except LookupUnavailable as exc:
        outcome, code, error = "lookup_unavailable", exc.code, redact(exc.message, settings.secrets)
    except PlatformError as exc:
        outcome, code, error = "lookup_failed", exc.code, redact(f"the look-up failed: {exc.message}", settings.secrets)
    except Exception as exc:  # noqa: BLE001 - a look-up that breaks settles nothing; the person asked to retry
        outcome, error = "lookup_failed", redact(f"the look-up failed: {type(exc).__name__}: {exc}", settings.secrets)
    if receipt is not None:
        outcome = "found"
        receipt = complete_receipt(draft, progress, receipt)
        if receipt is None:
            error = f"found part {len(progress.parts)} of {len(draft.parts)}; the rest will be published"
    elif error is None:
        error = f"not found on {platform_name(record.platform)}; requeued"
    store.record_attempt(
        record.id,
        at=started,
        seconds=round(time.monotonic() - clock, 3),
        outcome=outcome,
        code=code,
        error=error,
        is_try=False,
    )
    return receipt


def _doubt_since(store: SqlStore, record: DeliveryRecord) -> datetime:
    """When the try that may have landed started: the first doubtful one since its due time (a requeue
    moves due_at to the requeue), else the due time itself."""
    current = next((d for d in store.get_post(record.post_id).deliveries if d.id == record.id), record)
    doubts = [a.at for a in current.history if a.outcome in MAYBE_LANDED and a.at >= record.due_at]
    return min(doubts, default=record.due_at)

