"""A person's acts on deliveries crosspost could not finish: ``crosspost retry`` and ``crosspost resolve``.

``retry``: a delivery that may already be public (``unknown``, or any earlier
try that may have landed and that no look-up or person settled) is looked up
first, through the same :mod:`crosspost.delivery.reconcile` the daemon uses:
found, it becomes ``sent`` (a thread found half-way resumes after its last public
part); provably absent, it is requeued; a look-up that cannot settle leaves it as
it is and points to ``resolve``: resending then could publish it twice.

``resolve``: a person who checked the platform says what is there. Recorded in
the history with who and when; ``--not-sent`` clears the doubts, so the next
``retry`` resends without a look-up.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from crosspost.adapters import adapter_for
from crosspost.adapters.base import Adapter
from crosspost.config import AccountConfig, Settings
from crosspost.delivery import reconcile
from crosspost.delivery.policy import LOOKUP_MARGIN
from crosspost.delivery.reconcile import ABSENT, FOUND, LookUp
from crosspost.delivery.run import RESUMES, platform_name, post_url, public_parts
from crosspost.errors import CrosspostError
from crosspost.redact import redact
from crosspost.statuses import (
    FAILED,
    OUT_LOOKUP_UNAVAILABLE,
    OUT_RESOLVED_NOT_SENT,
    OUT_RESOLVED_SENT,
    PERSON,
    RETRYABLE,
    RETRYING,
    SENT,
    UNKNOWN,
)
from crosspost.store.records import DeliveryRecord
from crosspost.store.sql import SqlStore

AdapterFactory = Callable[[AccountConfig, float], Adapter]

# What retry_post says it did with each delivery.
REQUEUED = "requeued"
FOUND_SENT = "sent"
UNSETTLED = "unsettled"  # looked up, not settled: left as it was; the message names `resolve`


def retry_post(
    store: SqlStore,
    settings: Settings,
    post_id: int,
    account: str | None,
    *,
    now: datetime,
    adapter_factory: AdapterFactory = adapter_for,
) -> list[tuple[DeliveryRecord, str]]:
    """Requeue the post's failed/missed/unknown deliveries (of ``account`` if given), each looked up
    first when it may already be public.

    Returns each touched delivery (as it is now) with what happened to it: ``"requeued"``, ``"sent"``
    (found on the platform), or ``"unsettled"`` (left as it was; its error says why and names
    ``crosspost resolve``). Raises NotFound for an unknown post id.
    """
    results: list[tuple[DeliveryRecord, str]] = []
    post = store.get_post(post_id)
    histories = {d.id: d.history for d in post.deliveries}
    retryable = store.retryable(post_id, account)
    looked_up = [
        r.account
        for r in retryable
        if r.account in settings.accounts
        and (r.status == UNKNOWN or reconcile.open_doubts(histories.get(r.id, ()), since=None))
    ]
    # Before anything changes: a look-up needs the account's secrets (an unset ${VAR} stops here, one line).
    settings.require_credentials(looked_up)
    for record in retryable:
        doubts = reconcile.open_doubts(histories.get(record.id, ()), since=None)
        if (record.status == UNKNOWN or doubts) and record.account in settings.accounts:
            began = doubts[0].at if doubts else record.due_at
            what = _look_up(store, settings, record, began, now=now, adapter_factory=adapter_factory)
            if what is not None:
                results.append((store.delivery(record.id), what))
                continue
        results.append((store.requeue(record.id, now=now, note="crosspost retry"), REQUEUED))
    return results


def _look_up(
    store: SqlStore,
    settings: Settings,
    record: DeliveryRecord,
    began: datetime,
    *,
    now: datetime,
    adapter_factory: AdapterFactory,
) -> str | None:
    """Look ``record`` up; "sent" or "unsettled" when that settled what to do, None to requeue it."""
    draft, progress = store.draft_of(record.id)
    account = settings.accounts[record.account]
    progress.on_change = lambda p: store.save_progress(record.id, p)

    def clean(text: str) -> str:
        return redact(text, settings.secrets)

    since = reconcile.window_start(min(began, record.due_at), LOOKUP_MARGIN)
    try:
        adapter = adapter_factory(account, settings.request_timeout)
    except Exception as exc:  # noqa: BLE001 - an account that cannot be built settles nothing
        found = LookUp(reconcile.UNSETTLED, None, OUT_LOOKUP_UNAVAILABLE, None, clean(str(exc)), now, 0.0)
    else:
        found = reconcile.look_up(adapter, draft, progress, since, now=now, clean=clean)
    name = platform_name(record.platform)
    if found.verdict == FOUND and found.receipt is not None:
        history = found.history()
        if store.settle(
            record.id,
            SENT,
            by=PERSON,
            now=now,
            history=history,
            remote_id=found.receipt.remote_id,
            url=found.receipt.url,
            sent_at=now,
            error=None,
        ):
            return FOUND_SENT
        raise CrosspostError(f"delivery {record.id} to {record.account} changed meanwhile; look again with show")
    if found.verdict in (FOUND, ABSENT):
        note = (
            f"found part {len(progress.parts)} of {len(draft.parts)}; the rest will be published"
            if found.verdict == FOUND
            else f"not found on {name}; requeued"
        )
        store.record_attempt(record.id, **{**found.history(), "error": note})
        return None
    # Cannot settle, or the look-up failed: resending could publish twice. A person checks.
    why = found.reason
    store.record_attempt(record.id, **found.history())
    message = (
        f"still {record.status}: the look-up on {name} could not settle it ({why}); check on {name}, then "
        f"`crosspost resolve {record.post_id} --account {record.account} --sent URL` or `--not-sent`"
    )
    kept = public_parts(draft, progress, record.platform)
    values: dict[str, Any] = {}
    if kept is not None:
        message += f"; {kept[2]}"
        values = {"remote_id": kept[0], "url": kept[1]}
    if not store.settle(record.id, record.status, by=PERSON, now=now, error=message, **values):
        raise CrosspostError(f"delivery {record.id} to {record.account} changed meanwhile; look again with show")
    return UNSETTLED


def resolve_delivery(
    store: SqlStore,
    post_id: int,
    account: str,
    *,
    sent: str | None,
    user: str,
    now: datetime,
) -> tuple[DeliveryRecord, str]:
    """``crosspost resolve``: a person's verdict on one delivery. ``sent`` is the post's URL or id (for a
    thread stopped half-way: its last public part), None for ``--not-sent``. Returns the delivery as it
    is now and a sentence saying what changed. Raises NotFound, or CrosspostError with the fix."""
    post = store.get_post(post_id)
    record = next((d for d in post.deliveries if d.account == account), None)
    if record is None:
        names = ", ".join(d.account for d in post.deliveries)
        raise CrosspostError(f"post {post_id} has no delivery to account {account!r}; its accounts are: {names}")
    if record.status not in (RETRYING, *RETRYABLE):
        raise CrosspostError(
            f"post {post_id} {account} is {record.status}; only a failed, unknown, missed or retrying delivery "
            "can be resolved"
        )
    draft, progress = store.draft_of(record.id)
    name = platform_name(record.platform)
    history: dict[str, Any] = {"at": now, "seconds": 0.0, "code": None, "is_try": False}
    if sent is None:
        note = f"checked by {user}: not on {name}; `crosspost retry` resends it without a look-up"
        history.update(outcome=OUT_RESOLVED_NOT_SENT, error=f"by {user}: not sent")
        values: dict[str, Any] = {"error": note, "next_try_at": None}
        _settle(store, record, FAILED, now, history, values)
        return store.delivery(record.id), f"failed, checked by {user}: `crosspost retry` resends it"
    remote_id, url = _parse_sent(sent, record.platform)
    history.update(outcome=OUT_RESOLVED_SENT, error=f"by {user}: sent as {url or remote_id}")
    if len(draft.parts) > 1:
        if remote_id not in progress.parts:
            progress.parts.append(remote_id)
        if len(progress.parts) < len(draft.parts):
            # A thread stopped half-way: the person named its last public part; retry resumes after it.
            kept = public_parts(draft, progress, record.platform)
            assert kept is not None
            note = f"checked by {user}: {kept[2]}: {RESUMES}"
            values = {"error": note, "next_try_at": None, "progress": progress.to_json()}
            values.update(remote_id=kept[0], url=kept[1])
            _settle(store, record, FAILED, now, history, values)
            return store.delivery(record.id), f"{kept[2]}, checked by {user}: {RESUMES}"
        remote_id = progress.parts[0]
        url = post_url(record.platform, remote_id) if url is None or not url.endswith(remote_id) else url
    values = {"remote_id": remote_id, "url": url, "sent_at": now, "error": None, "next_try_at": None}
    values["progress"] = progress.to_json()
    _settle(store, record, SENT, now, history, values)
    return store.delivery(record.id), f"sent, checked by {user}: {url or remote_id}"


def _settle(
    store: SqlStore,
    record: DeliveryRecord,
    to: str,
    now: datetime,
    history: dict[str, Any],
    values: dict[str, Any],
) -> None:
    if not store.settle(record.id, to, by=PERSON, now=now, history=history, **values):
        current = store.delivery(record.id)
        raise CrosspostError(
            f"post {record.post_id} {record.account} is {current.status} now (the daemon took it meanwhile); "
            "nothing changed: look again with `crosspost show`"
        )


# An id at the end of a post's URL: X's status id, VK's wall-1_2, a Graph page_post id.
_ID_AT_END = re.compile(r"(-?\d+(?:_\d+)?)/?(?:[?#].*)?$")


def _parse_sent(value: str, platform: str) -> tuple[str, str | None]:
    """(remote id, url) from what a person typed: a post's URL, or its id."""
    value = value.strip()
    if re.match(r"https?://", value):
        match = _ID_AT_END.search(value)
        if match is None:
            raise CrosspostError(
                f"--sent {value}: no post id at the end of that URL; give the post's id instead (--sent ID)"
            )
        return match.group(1), value
    if not value or any(c.isspace() for c in value):
        raise CrosspostError(f"--sent {value!r}: give the post's URL or its id")
    return value, post_url(platform, value)
