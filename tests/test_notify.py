"""Notices (issue 13), in process: the [notify] config, the outbox, the sender's grouping, retries and
backoff, what log/show say, and ``notify --test``.

Real parts only: the daemon's own code runs (``run_daemon(once=True)``), the adapters talk to the
sandbox over HTTP with faults injected there, and Apprise sends real SMTP to aiosmtpd and real HTTP to a
webhook receiver, all on 127.0.0.1. Time is passed in (``now``) where a test needs a later moment.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from notify_receivers import SMTP_PASSWORD, Hook, hook_url, mail_url, smtp_server, webhook
from sqlalchemy import select, update

from benchmarks.reliability.common import CREDENTIALS, ENV, config_text, needles_for, search
from crosspost.cli import cli
from crosspost.config import load_config
from crosspost.daemon import run_daemon
from crosspost.errors import ConfigError
from crosspost.notify import outbox
from crosspost.notify.sender import BACKOFF, GROUP_WINDOW, lease_for, send_due
from crosspost.sandbox import Fault, Sandbox, build_sandbox
from crosspost.store.sql import SqlStore
from crosspost.store.tables import deliveries, notices

# The reliability harness's distinctive credentials, given through ${VAR}: a leak would be unmistakable.
VARS = {**ENV, "SMTP_PASSWORD": SMTP_PASSWORD}
SECRETS = list(VARS.values())


class World:
    def __init__(self, tmp: Path, sandbox: Sandbox, api_base: str, urls: list[str], on: list[str] | None) -> None:
        self.tmp = tmp
        self.sandbox = sandbox
        tmp.mkdir(exist_ok=True)
        self.config = tmp / "crosspost.toml"
        notify = f"\n[notify]\nurls = {json.dumps(urls)}\n" + (f"on = {json.dumps(on)}\n" if on is not None else "")
        self.config.write_text(config_text(api_base, late_limit="1h") + notify, encoding="utf-8")
        (tmp / "posts").mkdir()
        self.settings = load_config(self.config, VARS)
        self.store = SqlStore(self.settings.database_url, self.settings.media_dir)
        self.lines: list[str] = []
        self.count = 0

    def cli(self, *args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(cli, ["--config", str(self.config), *args], env=VARS, catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    def queue(self, *accounts: str, title: str = "The Ambassador's statement", at: str = "now") -> int:
        self.count += 1
        path = self.tmp / "posts" / f"p{self.count}.md"
        path.write_text(f'+++\ntitle = "{title}"\n+++\nNews number {self.count}.\n', encoding="utf-8")
        code, out, err = self.cli("queue", str(path), "--at", at, *[x for a in accounts for x in ("--to", a)])
        assert code == 0, err
        return int(out.strip())

    def run_once(self) -> int:
        return run_daemon(self.settings, once=True, log=self.lines.append)

    def rows(self) -> list[dict[str, Any]]:
        with self.store.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(notices).order_by(notices.c.id))]


@pytest.fixture
def sandbox() -> Iterator[tuple[Sandbox, str]]:
    box = build_sandbox(CREDENTIALS)
    url = box.start(port=0)
    yield box, url
    box.stop()


@pytest.fixture
def hook() -> Iterator[Hook]:
    with webhook() as h:
        yield h


def make_world(tmp_path: Path, sandbox: tuple[Sandbox, str], urls: list[str], on: list[str] | None = None) -> World:
    return World(tmp_path, sandbox[0], sandbox[1], urls, on)


def scan(*texts: str) -> None:
    """No secret, nor any 12-character piece of one, in anything a receiver got."""
    assert search("\n".join(texts).encode(), needles_for(SECRETS, [])) == []


# ---------------------------------------------------------------- the config


def write(tmp_path: Path, notify: str) -> Path:
    path = tmp_path / "crosspost.toml"
    path.write_text('[crosspost]\ntimezone = "UTC"\n\n' + notify, encoding="utf-8")
    return path


def test_notify_config_is_read_with_its_defaults_and_vars_are_secrets(tmp_path: Path) -> None:
    path = write(tmp_path, '[notify]\nurls = ["mailtos://u:${PW}@mail.example.org?to=a@example.org"]\n')
    settings = load_config(path, {"PW": "hunter2-long"})
    assert settings.notify.urls == ("mailtos://u:hunter2-long@mail.example.org?to=a@example.org",)
    assert settings.notify.on == {"failed", "unknown", "missed"}
    assert "hunter2-long" in settings.secrets
    assert "hunter2-long" not in repr(settings.notify)
    # The target id is a hash of the URL as written: nothing derived from the secret is stored.
    other = load_config(path, {"PW": "another-one"})
    assert other.notify.ids == settings.notify.ids


def test_no_notify_section_means_no_targets(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, ""), {}).notify.urls == ()


@pytest.mark.parametrize(
    ("notify", "message"),
    [
        ('[notify]\nurl = ["json://x"]\n', "notify.url: unknown key; remove it (known keys: digest, on, urls)"),
        (
            '[notify]\nurls = "json://x"\n',
            'notify.urls: must be a list of Apprise URLs; write urls = ["mailtos://..."]',
        ),
        ('[notify]\nurls = ["hooks.example.org"]\n', "notify.urls[0]: is not an Apprise URL; write scheme://..."),
        ('[notify]\nurls = ["json://h/${NOPE}"]\n', "notify.urls[0]: environment variable NOPE is not set"),
        ('[notify]\nurls = []\non = ["failed", "late"]\n', "notify.on: unknown event 'late'; use any of: failed"),
        ('[notify]\nurls = []\non = "failed"\n', 'notify.on: must be a list of events; write on = ["failed"'),
        ("notify = 3\n", "notify: must be a table; write [notify]"),
    ],
)
def test_bad_notify_config_is_one_clear_line(tmp_path: Path, notify: str, message: str) -> None:
    path = write(tmp_path, notify)
    if notify.startswith("notify = "):
        path.write_text(notify + '[crosspost]\ntimezone = "UTC"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {}).require_credentials(notify=True)  # an unset ${VAR} stops only what sends
    text = str(caught.value)
    assert text.startswith(f"{path}: {message}")
    assert "\n" not in text


# ---------------------------------------------------------------- one notice for a post


def test_three_accounts_failing_together_make_one_notice_by_mail_and_webhook(
    tmp_path: Path, sandbox: tuple[Sandbox, str], hook: Hook
) -> None:
    with smtp_server() as (port, box):
        world = make_world(tmp_path, sandbox, [mail_url(port), hook_url(hook)])
        world.sandbox.add_faults(
            [
                Fault(path="^/2/tweets$", method="POST", error="auth"),
                Fault(path="/feed$", method="POST", error="permission"),
                Fault(path=r"^/method/wall\.post$", error="auth"),
            ]
        )
        post = world.queue("twitter", "facebook", "vk")
        assert world.run_once() == 1
        assert len(box.mails) == 1 and len(hook.bodies) == 1
        mail, body = box.mails[0], hook.bodies[0]
    subject = f'crosspost: FAILED facebook, twitter, vk · post {post} "The Ambassador\'s statement"'
    assert mail.subject == body["title"] == subject
    assert body["type"] == "failure"
    assert mail.to == ["press@example.org"] and mail.sender == "crosspost@example.org"
    text = body["message"]
    assert mail.text.replace("\r\n", "\n").strip() == text.strip()
    errors = {d.account: d.error for d in world.store.get_post(post).deliveries}
    check = "`crosspost accounts --check` to see what is wrong with the credentials, then"
    assert text == "\n".join(
        [f'Post {post} "The Ambassador\'s statement"', ""]
        + [
            line
            for account in ("facebook", "twitter", "vk")
            for line in (
                f"{account} ({account}): failed",
                f"  Reason: {errors[account]}",
                "  Public: no",
                f"  Do: {check} `crosspost retry {post} --account {account}`",
                "",
            )
        ]
        + [f"Details: crosspost show {post}"]
    )
    assert str(errors["vk"]).startswith("VK refused access: VK error 5 on wall.post: User authorization failed")
    scan(*box_raw(box), *hook.raw)
    # The log says it went out, in the JSON and in show.
    code, out, _ = world.cli("log", "--json")
    assert code == 0
    assert {d["account"]: d["notice"] for d in json.loads(out)} == {
        a: {"state": "sent", "error": None} for a in ("twitter", "facebook", "vk")
    }
    code, out, _ = world.cli("show", str(post))
    assert out.count("\n  notice sent\n") == 3


def box_raw(box: object) -> list[str]:
    return [m.raw for m in box.mails]  # type: ignore[attr-defined]


def test_an_account_still_in_flight_holds_the_notice_for_the_group_window(
    tmp_path: Path, sandbox: tuple[Sandbox, str], hook: Hook
) -> None:
    world = make_world(tmp_path, sandbox, [hook_url(hook)])
    world.sandbox.add_faults([Fault(path=r"^/method/wall\.post$", error="auth")])
    post = world.queue("vk", "twitter")
    world.queue("facebook")  # another post: its own notice, if any
    deliveries = {d.account: d for d in world.store.get_post(post).deliveries}
    now = datetime.now(UTC)
    # vk fails; twitter is still pending (as if due later): the notice waits for it.
    world.store.claim_due(now=now, owner="t", lease_seconds=60, exclude_accounts=["twitter", "facebook"])
    world.store.mark_failed(deliveries["vk"].id, error="vk refused access: token revoked", now=now)
    assert send_due(world.store, world.settings, now + timedelta(seconds=5), world.lines.append) == 0
    assert hook.bodies == []
    # twitter fails a little later, within the window: both go out as one notice.
    world.store.claim_due(now=now, owner="t", lease_seconds=60, exclude_accounts=["vk", "facebook"])
    world.store.mark_unknown(deliveries["twitter"].id, error="the look-up could not settle it", now=now)
    assert send_due(world.store, world.settings, now + timedelta(seconds=6), world.lines.append) == 1
    [body] = hook.bodies
    assert body["title"] == f'crosspost: UNKNOWN twitter; FAILED vk · post {post} "The Ambassador\'s statement"'
    assert "twitter (twitter): unknown\n  Reason: the look-up could not settle it\n" in body["message"]
    assert "  Public: it may be public: check https://x.com (the account's own timeline)\n" in body["message"]
    resolve = f"crosspost resolve {post} --account twitter"
    assert (
        f"  Do: look, then `{resolve} --sent URL` if it is there or `{resolve} --not-sent` if not;" in body["message"]
    )


def test_the_window_ends_the_wait(tmp_path: Path, sandbox: tuple[Sandbox, str], hook: Hook) -> None:
    world = make_world(tmp_path, sandbox, [hook_url(hook)])
    post = world.queue("vk", "twitter")
    vk = next(d for d in world.store.get_post(post).deliveries if d.account == "vk")
    now = datetime.now(UTC)
    world.store.claim_due(now=now, owner="t", lease_seconds=60, exclude_accounts=["twitter"])
    world.store.mark_failed(vk.id, error="vk refused access: token revoked", now=now)
    assert send_due(world.store, world.settings, now + GROUP_WINDOW - timedelta(seconds=1), world.lines.append) == 0
    assert send_due(world.store, world.settings, now + GROUP_WINDOW, world.lines.append) == 1
    assert [b["title"] for b in hook.bodies] == [f'crosspost: FAILED vk · post {post} "The Ambassador\'s statement"']


def test_a_missed_delivery_and_vk_profile_in_the_words(
    tmp_path: Path, sandbox: tuple[Sandbox, str], hook: Hook
) -> None:
    world = make_world(tmp_path, sandbox, [hook_url(hook)])
    post = world.queue("vk", at="now")
    # queue refuses a past time, so the delivery is made overdue as a stopped daemon would find it.
    with world.store.engine.begin() as conn:
        conn.execute(update(deliveries).values(due_at=datetime.now(UTC) - timedelta(hours=2)))
    assert world.run_once() == 1
    [body] = hook.bodies
    assert body["title"] == f'crosspost: MISSED vk · post {post} "The Ambassador\'s statement"'
    assert "vk (vk): missed\n  Reason: not sent: 2 h overdue" in body["message"] or "vk (vk): missed" in body["message"]
    assert f"  Public: no\n  Do: `crosspost retry {post} --account vk` sends it now" in body["message"]


# ---------------------------------------------------------------- the outbox


def test_the_notice_is_written_with_the_status_change_and_never_twice(
    tmp_path: Path, sandbox: tuple[Sandbox, str]
) -> None:
    world = make_world(tmp_path, sandbox, [])
    post = world.queue("vk")
    [vk] = world.store.get_post(post).deliveries
    now = datetime.now(UTC)
    world.store.claim_due(now=now, owner="t", lease_seconds=60)
    world.store.mark_failed(vk.id, error="refused", now=now)
    world.store.mark_failed(vk.id, error="refused again", now=now)  # the guard refuses: no second notice
    rows = world.rows()
    assert [(r["delivery_id"], r["status"], r["reason"], r["state"]) for r in rows] == [
        (vk.id, "failed", "refused", "queued")
    ]
    # No [notify] urls: the sender records why nothing went out, and log/show say so.
    send_due(world.store, world.settings, now, world.lines.append)
    assert [(r["state"], r["error"]) for r in world.rows()] == [("skipped", "no [notify] urls in the config")]
    code, out, _ = world.cli("show", str(post))
    assert "\n  no notice: no [notify] urls in the config\n" in out


def test_a_retried_delivery_that_fails_again_gets_a_second_notice(
    tmp_path: Path, sandbox: tuple[Sandbox, str], hook: Hook
) -> None:
    world = make_world(tmp_path, sandbox, [hook_url(hook)])
    world.sandbox.add_faults([Fault(path=r"^/method/wall\.post$", error="auth", times=2)])
    post = world.queue("vk")
    world.run_once()
    assert world.cli("retry", str(post))[0] == 0
    world.run_once()
    assert len(hook.bodies) == 2  # one per time it reached failed, never one per try


def test_sent_is_not_told_by_default_and_told_when_asked(
    tmp_path: Path, sandbox: tuple[Sandbox, str], hook: Hook
) -> None:
    world = make_world(tmp_path, sandbox, [hook_url(hook)])
    post = world.queue("vk")
    assert world.run_once() == 0
    assert hook.bodies == []
    # No outbox row at all (issue 14): one would only be settled away, a write per delivery for nothing.
    assert world.rows() == []
    code, out, _ = world.cli("log", "--json")
    assert json.loads(out)[0]["notice"] is None

    other = make_world(tmp_path / "b", sandbox, [hook_url(hook)], on=["sent"])
    post = other.queue("vk")
    assert other.run_once() == 0
    [body] = hook.bodies
    url = other.store.get_post(post).deliveries[0].url
    assert body["title"] == f'crosspost: SENT vk · post {post} "The Ambassador\'s statement"'
    assert body["type"] == "success"
    assert f"vk (vk): sent\n  Public: yes: {url}\n  Do: nothing\n" in body["message"]


def test_a_failing_target_is_retried_with_backoff_and_the_others_not_resent(
    tmp_path: Path, sandbox: tuple[Sandbox, str], hook: Hook
) -> None:
    with smtp_server() as (port, box):
        world = make_world(tmp_path, sandbox, [mail_url(port), hook_url(hook)])
        world.sandbox.add_faults([Fault(path=r"^/method/wall\.post$", error="auth")])
        hook.fail = 2
        world.queue("vk")
        world.run_once()
        assert len(box.mails) == 1 and hook.bodies == []
        [row] = world.rows()
        assert row["state"] == "queued" and row["tries"] == 1
        assert row["error"].startswith("notify.urls[1] (json): ")
        assert any("event=notice" in line and "target=" in line for line in world.lines)
        later = row["next_try_at"]
        assert send_due(world.store, world.settings, later - timedelta(seconds=1), world.lines.append) == 0
        assert send_due(world.store, world.settings, later, world.lines.append) == 0  # the webhook fails again
        [row] = world.rows()
        assert row["tries"] == 2 and row["next_try_at"] - later >= BACKOFF * 2 - timedelta(seconds=1)
        assert send_due(world.store, world.settings, row["next_try_at"], world.lines.append) == 1
        assert len(hook.bodies) == 1 and len(box.mails) == 1  # the mail target had it: not sent again
        [row] = world.rows()
        assert row["state"] == "sent"
        # A restart (a new round, a new store) sends nothing again.
        again = SqlStore(world.settings.database_url, world.settings.media_dir)
        assert send_due(again, world.settings, row["next_try_at"] or datetime.now(UTC) + timedelta(days=1), print) == 0
        again.close()
        assert len(hook.bodies) == 1 and len(box.mails) == 1


# ---------------------------------------------------------------- notify --test


def test_notify_test_sends_to_every_target_and_names_the_ones_that_failed(
    tmp_path: Path, sandbox: tuple[Sandbox, str], hook: Hook
) -> None:
    with smtp_server() as (port, box):
        dead = f"json://127.0.0.1:{hook.port + 1 if hook.port < 65535 else 1}/nobody"
        world = make_world(tmp_path, sandbox, [mail_url(port), hook_url(hook), dead])
        code, out, err = world.cli("notify", "--test")
        assert code == 1
        assert out.splitlines() == [
            "✓ notify.urls[0] (mailto): test notice sent",
            "✓ notify.urls[1] (json): test notice sent",
        ]
        assert (
            err.splitlines()[0]
            == "✗ notify.urls[2] (json): A Connection error occurred sending JSON notification to 127.0.0.1."
        )
        assert err.splitlines()[-1] == "crosspost: error: 1 of 3 notify targets failed: notify.urls[2] (json)"
        assert [b["title"] for b in hook.bodies] == ["crosspost: test notice"]
        assert [m.subject for m in box.mails] == ["crosspost: test notice"]
        assert box.logins == [("crosspost", SMTP_PASSWORD)]  # the ${SMTP_PASSWORD} went to the server, nowhere else
        scan(out, err, *box_raw(box), *hook.raw)


def test_notify_lists_targets_without_secrets_and_needs_urls(tmp_path: Path, sandbox: tuple[Sandbox, str]) -> None:
    world = make_world(tmp_path, sandbox, [mail_url(25)])
    assert world.cli("notify") == (0, "notify.urls[0] (mailto)\non: failed, missed, unknown\n", "")
    empty = make_world(tmp_path / "e", sandbox, [])
    code, _, err = empty.cli("notify", "--test")
    assert code == 1 and "no [notify] urls; add [notify] with urls" in err


def test_the_example_config_documents_targets_apprise_understands(tmp_path: Path) -> None:
    example = (Path(__file__).resolve().parent.parent / "config.example.toml").read_text(encoding="utf-8")
    block = example[example.index("# [notify]\n") :]
    config = tmp_path / "crosspost.toml"
    config.write_text("\n".join(line.removeprefix("# ") for line in block.splitlines()), encoding="utf-8")
    env = {"SMTP_PASSWORD": "office-mail-pass", "NOTIFY_BOT_TOKEN": "123456789:AAHnotarealbottokenatall00000000000"}
    settings = load_config(config, env)
    assert [u.split("://")[0] for u in settings.notify.urls] == ["mailtos", "tgram", "json"]
    assert settings.notify.on == {"failed", "unknown", "missed"}
    assert settings.notify.digest == time(8, 0)
    assert set(env.values()) <= settings.secrets

    import apprise

    assert all(apprise.Apprise.instantiate(url) is not None for url in settings.notify.urls)


def test_two_senders_never_take_the_same_notice(tmp_path: Path, sandbox: tuple[Sandbox, str]) -> None:
    from crosspost.notify import outbox

    world = make_world(tmp_path, sandbox, [])
    post = world.queue("vk", "twitter")
    now = datetime.now(UTC)
    world.store.claim_due(now=now, owner="t", lease_seconds=60)
    for d in world.store.get_post(post).deliveries:
        world.store.mark_failed(d.id, error="refused", now=now)
    ids = [r["id"] for r in world.rows()]
    assert outbox.claim(world.store.engine, ids, now=now, lease=timedelta(minutes=5))
    assert not outbox.claim(world.store.engine, ids, now=now, lease=timedelta(minutes=5))
    assert not outbox.claim(
        world.store.engine, ids[:1] + [ids[1] + 100], now=now + timedelta(minutes=6), lease=GROUP_WINDOW
    )
    # That refused claim took nothing: the first row is still free once the first lease lapses.
    assert outbox.claim(world.store.engine, ids[:1], now=now + timedelta(minutes=6), lease=GROUP_WINDOW)


def test_a_target_that_never_answers_is_given_up_after_the_last_try(
    tmp_path: Path, sandbox: tuple[Sandbox, str], hook: Hook
) -> None:
    from crosspost.notify.sender import MAX_TRIES

    world = make_world(tmp_path, sandbox, [hook_url(hook)])
    world.sandbox.add_faults([Fault(path=r"^/method/wall\.post$", error="auth")])
    hook.fail = MAX_TRIES
    post = world.queue("vk")
    world.run_once()
    for _ in range(MAX_TRIES - 1):
        [row] = world.rows()
        assert row["state"] == "queued"
        send_due(world.store, world.settings, row["next_try_at"], world.lines.append)
    [row] = world.rows()
    assert (row["state"], row["tries"]) == ("failed", MAX_TRIES)
    assert row["error"].startswith(f"gave up after {MAX_TRIES} tries: notify.urls[0] (json): ")
    assert any("outcome=gave_up" in line for line in world.lines)
    code, out, _ = world.cli("show", str(post))
    assert f"\n  notice not sent: gave up after {MAX_TRIES} tries: notify.urls[0] (json): " in out
    assert hook.bodies == []


def test_the_daily_digest_goes_out_once_a_day_after_its_time(
    tmp_path: Path, sandbox: tuple[Sandbox, str], hook: Hook
) -> None:
    import threading

    from crosspost.notify.sender import NoticeSender

    world = make_world(tmp_path, sandbox, [hook_url(hook)])
    sent = world.queue("vk", title="Sent one")
    assert world.run_once() == 0
    world.sandbox.add_faults([Fault(path=r"^/method/wall\.post$", error="auth")])
    failed = world.queue("vk", title="Failed one")
    assert world.run_once() == 1
    assert len(hook.bodies) == 1  # the failure's own notice
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    before, after = (datetime.combine(tomorrow, t, UTC) for t in (time(7, 59), time(9, 0)))
    later = world.queue("twitter", title="Later today", at=(after + timedelta(hours=2)).isoformat())
    # The digest is switched on only now: the daemon runs above, on today's real clock, must not send today's.
    world.config.write_text(world.config.read_text() + 'digest = "08:00"\n', encoding="utf-8")
    world.settings = load_config(world.config, VARS)

    def round_at(now: datetime) -> None:
        NoticeSender(world.store, world.settings, world.lines.append, threading.Event(), clock=lambda: now).round()

    round_at(before)
    assert len(hook.bodies) == 1
    round_at(after)
    round_at(after + timedelta(hours=1))
    assert len(hook.bodies) == 2
    digest = hook.bodies[1]
    day, yesterday = f"{tomorrow:%a} {tomorrow.day} {tomorrow:%b %Y}", datetime.now(UTC).date()
    assert digest["title"] == f"crosspost: digest {day} · 1 sent yesterday, 1 queued today, 1 need attention"
    assert digest["type"] == "info"
    records = {d.post_id: d for d in world.store.log()}
    assert digest["message"] == "\n".join(
        [
            f"crosspost digest for {day} (UTC)",
            "",
            f"Went out yesterday ({yesterday:%a} {yesterday.day} {yesterday:%b %Y}): 1",
            f'  post {sent} "Sent one" to vk: {records[sent].url}',
            "",
            "Queued for the rest of today: 1",
            f'  post {later} "Later today" to twitter: due {(after + timedelta(hours=2)).isoformat(sep=" ")}',
            "",
            "Needs attention: 1",
            f'  post {failed} "Failed one" to vk: failed: {records[failed].error} (crosspost show {failed})',
        ]
    )


def test_a_bad_digest_time_is_one_clear_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[notify]\nurls = []\ndigest = "8am"\n')
    with pytest.raises(ConfigError, match=r'notify.digest: must be a time of day as "HH:MM"; write digest = "08:00"$'):
        load_config(path, {})
    assert load_config(write(tmp_path, '[notify]\ndigest = "08:30"\n'), {}).notify.digest == time(8, 30)


def test_a_group_left_by_a_killed_sender_goes_out_once_its_targets_lease_lapses(
    tmp_path: Path, sandbox: tuple[Sandbox, str], hook: Hook
) -> None:
    """The sender's lease is what trying each target once can take (issue 14: it was a fixed five minutes,
    and a soak saw notices wait that long after a kill), so another sender takes the group soon after."""
    world = make_world(tmp_path, sandbox, [hook_url(hook)])
    world.sandbox.add_faults([Fault(path=r"^/method/wall\.post$", error="auth")])
    world.queue("vk")
    assert world.run_once() == 1
    assert len(hook.bodies) == 1  # --once sent it; put it back as a sender that died mid-send leaves it
    with world.store.engine.begin() as conn:
        conn.execute(update(notices).values(state="queued", tries=0, next_try_at=None, done_targets="[]"))
    now = datetime.now(UTC)
    [row] = world.rows()
    assert outbox.claim(world.store.engine, [row["id"]], now=now, lease=lease_for(1))  # the sender that is killed
    lapse = now + lease_for(1)
    assert lease_for(1) < timedelta(minutes=1)
    assert send_due(world.store, world.settings, lapse - timedelta(seconds=1), world.lines.append) == 0
    assert send_due(world.store, world.settings, lapse, world.lines.append) == 1
    assert len(hook.bodies) == 2
