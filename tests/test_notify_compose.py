"""The words of a notice (issue 13): pure functions of outbox rows and the config, checked exactly."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from crosspost.config import AccountConfig
from crosspost.notify.compose import body_of, command_for, profile_url, public_line, subject_of
from crosspost.notify.outbox import Notice

VK = AccountConfig(name="vk-ru", platform="vk", credentials={}, group_id=123456)
FB = AccountConfig(name="facebook", platform="facebook", credentials={}, page_id="1234567890")
X = AccountConfig(name="x", platform="twitter", credentials={})
ACCOUNTS = {a.name: a for a in (VK, FB, X)}
BASE = Notice(
    id=1,
    kind="delivery",
    post_id=12,
    title="The Ambassador's statement on the 75th anniversary of the Agreement on cooperation",
    account="vk-ru",
    platform="vk",
    status="failed",
    reason="VK refused access: VK error 1117 on wall.post: token expired",
    outcome="auth",
    code="1117",
    url=None,
    subject=None,
    body=None,
    created_at=datetime(2026, 12, 1, tzinfo=UTC),
    tries=0,
    done_targets=frozenset(),
)


def test_an_expired_vk_token_points_to_accounts_login_then_retry() -> None:
    assert command_for(BASE, VK) == "`crosspost accounts login vk-ru`, then `crosspost retry 12 --account vk-ru`"


def test_other_auth_errors_point_to_accounts_check() -> None:
    notice = replace(BASE, code="5", reason="VK refused access: VK error 5: User authorization failed")
    assert command_for(notice, VK) == (
        "`crosspost accounts --check` to see what is wrong with the credentials, "
        "then `crosspost retry 12 --account vk-ru`"
    )


def test_a_rejected_post_points_to_show_then_retry() -> None:
    notice = replace(BASE, outcome="rejected", code="100", reason="VK refused the post: message is undefined")
    assert command_for(notice, VK) == (
        "`crosspost show 12` for the platform's words; fix the cause, then `crosspost retry 12 --account vk-ru`"
    )


def test_out_of_tries_points_to_retry() -> None:
    notice = replace(BASE, outcome="transient", code=None, reason="gave up after 5 tries: HTTP 503")
    assert command_for(notice, VK) == "`crosspost retry 12 --account vk-ru`"


def test_unknown_says_where_to_look_for_each_platform() -> None:
    notice = replace(BASE, status="unknown", outcome="ambiguous")
    assert public_line(notice, VK) == "it may be public: check https://vk.com/club123456"
    assert public_line(replace(notice, account="facebook"), FB) == (
        "it may be public: check https://www.facebook.com/1234567890"
    )
    assert profile_url(X) == "https://x.com (the account's own timeline)"
    assert profile_url(None) == "the account's page"


def test_a_thread_stopped_half_way_is_partly_public() -> None:
    notice = replace(BASE, reason="gave up: HTTP 503; parts 1-2 of 4 already on X (first id 9): `crosspost retry`")
    assert public_line(notice, X) == "partly: see the reason"


def test_subject_orders_by_urgency_and_cuts_a_long_title() -> None:
    group = [
        BASE,
        replace(BASE, id=2, account="facebook", platform="facebook", status="unknown"),
        replace(BASE, id=3, account="x", platform="twitter", status="missed"),
    ]
    assert subject_of(group) == (
        "crosspost: UNKNOWN facebook; FAILED vk-ru; MISSED x · post 12 \"The Ambassador's statement on the 75th "
        'anniversary of the A…"'
    )
    body = body_of(group, ACCOUNTS)
    assert body.splitlines()[:4] == [
        'Post 12 "The Ambassador\'s statement on the 75th anniversary of the Agreement on cooperation"',
        "",
        "facebook (facebook): unknown",
        "  Reason: VK refused access: VK error 1117 on wall.post: token expired",
    ]
    assert [line for line in body.splitlines() if not line.startswith(" ")] == [
        'Post 12 "The Ambassador\'s statement on the 75th anniversary of the Agreement on cooperation"',
        "",
        "facebook (facebook): unknown",
        "",
        "vk-ru (vk): failed",
        "",
        "x (twitter): missed",
        "",
        "Details: crosspost show 12",
    ]


def test_an_account_gone_from_the_config_still_gets_words() -> None:
    notice = replace(BASE, account="old", platform="vk", status="unknown")
    assert "old (vk): unknown\n  Reason: " in body_of([notice], {})
    assert "  Public: it may be public: check the account's page\n" in body_of([notice], {})
