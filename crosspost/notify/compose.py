"""The words of a notice: a subject a person can triage from a phone, and a body that says what
happened to each account, whether the post may be public, and the exact command that deals with it.

Pure functions of the outbox rows and the config; the sender runs the result through
:func:`crosspost.redact.redact` (the reasons are the platforms' words, already redacted when stored,
but a notice leaves the machine: it is checked again).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from crosspost.config import AccountConfig
from crosspost.notify.outbox import Notice
from crosspost.store.records import FAILED, MISSED, SENT, UNKNOWN

TITLE_LIMIT = 60  # a phone shows about this much of a subject line
_ORDER = (UNKNOWN, FAILED, MISSED, SENT)  # the subject names the most urgent first


def profile_url(account: AccountConfig | None) -> str:
    """Where a person looks to see whether a post went out on ``account``."""
    if account is None:
        return "the account's page"
    from crosspost.platforms import spec_for

    return spec_for(account.platform).profile_url(account)


def command_for(notice: Notice, account: AccountConfig | None) -> str:
    """What a person runs next, spelled out in full."""
    retry = f"crosspost retry {notice.post_id} --account {notice.account}"
    if notice.status == UNKNOWN:
        resolve = f"crosspost resolve {notice.post_id} --account {notice.account}"
        return (
            f"look, then `{resolve} --sent URL` if it is there or `{resolve} --not-sent` if not; "
            f"or `{retry}` to have crosspost look it up again"
        )
    if notice.status == MISSED:
        return f"`{retry}` sends it now, if it is still worth sending"
    if notice.status == SENT:
        return "nothing"
    if notice.outcome == "auth":
        if account is not None and _expired(notice):
            return f"`crosspost accounts login {notice.account}`, then `{retry}`"
        return f"`crosspost accounts --check` to see what is wrong with the credentials, then `{retry}`"
    if notice.outcome == "rejected":
        return f"`crosspost show {notice.post_id}` for the platform's words; fix the cause, then `{retry}`"
    return f"`{retry}`"


def _expired(notice: Notice) -> bool:
    text = (notice.reason or "").lower()
    # VK's error 1117 is "access token expired", which only VK ID's short-lived tokens meet; a platform
    # that signs in with short-lived tokens says "run `crosspost accounts login`" in its error.
    return notice.code == "1117" or ("expired" in text and "vk id" in text) or "token has expired" in text


def public_line(notice: Notice, account: AccountConfig | None) -> str:
    if notice.status == SENT:
        return f"yes: {notice.url}" if notice.url else "yes"
    if notice.status == UNKNOWN:
        return f"it may be public: check {profile_url(account)}"
    if "already on" in (notice.reason or ""):  # a thread stopped half-way (see delivery.run.partial_note)
        return "partly: see the reason"
    return "no"


def subject_of(group: Sequence[Notice]) -> str:
    """``crosspost: FAILED vk-ru, twitter; UNKNOWN facebook · post 12 "The Ambassador's statement"``."""
    first = group[0]
    if first.kind != "delivery":
        return first.subject or "crosspost: notice"
    parts = []
    for status in _ORDER:
        names = sorted(g.account or "?" for g in group if g.status == status)
        if names:
            parts.append(f"{status.upper()} {', '.join(names)}")
    return f"crosspost: {'; '.join(parts)} · post {first.post_id} {_quoted(first.title)}"


def body_of(group: Sequence[Notice], accounts: Mapping[str, AccountConfig]) -> str:
    first = group[0]
    if first.kind != "delivery":
        return first.body or ""
    lines = [f"Post {first.post_id} {_quoted(first.title, limit=None)}", ""]
    for notice in sorted(group, key=lambda g: (_ORDER.index(g.status or SENT), g.account or "")):
        account = accounts.get(notice.account or "")
        platform = notice.platform or (account.platform if account else "?")
        lines.append(f"{notice.account} ({platform}): {notice.status}")
        if notice.reason and notice.status != SENT:
            lines.append(f"  Reason: {notice.reason}")
        lines.append(f"  Public: {public_line(notice, account)}")
        lines.append(f"  Do: {command_for(notice, account)}")
        lines.append("")
    lines.append(f"Details: crosspost show {first.post_id}")
    return "\n".join(lines)


def _quoted(title: str | None, limit: int | None = TITLE_LIMIT) -> str:
    text = " ".join((title or "").split())
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return f'"{text}"'
