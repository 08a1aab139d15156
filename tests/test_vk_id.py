"""VK ID accounts: sign-in, short-lived tokens refreshed with single-use refresh tokens, from one process,
from the daemon, and from two processes at once; no token in any output, log or database.

The real vk_api and requests over real HTTP against the VK emulator, whose id.vk.com part
(:mod:`crosspost.platforms.vk.emulator_id`) spends each refresh token once and records every one it
receives: a refresh token sent twice would show there. Tokens expire on the emulator's clock, which
the tests move on (``advance``), so nothing waits for real time.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from daemon_world import crosspost_argv, run_crosspost
from PIL import Image as PILImage

from crosspost.adapters import adapter_for
from crosspost.adapters.base import AuthError, Rejected
from crosspost.adapters.transport import new_session
from crosspost.config import ConfigError, load_config
from crosspost.model import Draft, Image, Progress
from crosspost.platforms.vk.adapter import VkAdapter
from crosspost.platforms.vk.emulator import RIGHT_GROUPS, RIGHT_PHOTOS, VkEmulator
from crosspost.platforms.vk.token import Tokens, read_tokens, write_tokens
from crosspost.sandbox import CREDENTIALS
from crosspost.sandbox.core import Sandbox
from crosspost.store.sql import SqlStore

REPO = Path(__file__).resolve().parent.parent
GROUP = int(CREDENTIALS["vk"]["group_id"])
CLIENT = 51234567
HOUR = 3600


class World:
    """The VK emulator alone, a config with one VK ID account, and its token file."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.emulator = VkEmulator(group_id=GROUP, access_token="vk1.a.long-lived-unused", vk_id_client_id=CLIENT)
        self.sandbox = Sandbox([self.emulator])
        self.url = self.sandbox.start()
        self.config = tmp / "crosspost.toml"
        self.config.write_text(
            '[crosspost]\ntimezone = "UTC"\ndatabase = "crosspost.db"\nposts_dir = "posts"\n'
            'retry_delay = "1s"\nrequest_timeout = "5s"\n\n'
            f'[accounts.vk-id]\nplatform = "vk"\ngroup_id = {GROUP}\nvk_id_client_id = {CLIENT}\n'
            f'token_file = "secrets/vk-id.json"\napi_base = "{self.url}"\n',
            encoding="utf-8",
        )
        self.token_file = tmp / "secrets" / "vk-id.json"
        (tmp / "posts").mkdir()
        self.outputs: list[str] = []
        self.count = 0

    def provision(self, expires_in: int = HOUR) -> Tokens:
        """A token file as `accounts login` leaves it (the emulator's tokens, our clock)."""
        answer = self.emulator.vk_id.issue()
        tokens = Tokens(
            answer["access_token"], answer["refresh_token"], int(time.time()) + expires_in, answer["device_id"]
        )
        write_tokens(self.token_file, tokens)
        return tokens

    def account(self):  # type: ignore[no-untyped-def]
        return load_config(self.config, {}).accounts["vk-id"]

    def adapter(self, clock_ahead: float = 0.0) -> VkAdapter:
        session = new_session("vk", self.url, 5.0)
        return VkAdapter(self.account(), session, clock=lambda: time.time() + clock_ahead)

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        done = run_crosspost(*args, config=self.config, stdin=stdin)
        self.outputs += [done.stdout, done.stderr]
        return done

    def queue(self) -> int:
        self.count += 1
        path = self.tmp / "posts" / f"p{self.count}.md"
        path.write_text(f'+++\ntitle = "post {self.count}"\n+++\nNews number {self.count}.\n', encoding="utf-8")
        done = self.cli("queue", str(path), "--at", datetime.now(UTC).isoformat())
        assert done.returncode == 0, done.stderr
        return int(done.stdout.strip())

    def every_token(self) -> set[str]:
        ids = self.emulator.vk_id
        return set(ids.access) | set(ids.live) | ids.spent

    def assert_no_token_anywhere(self) -> None:
        tokens = self.every_token()
        assert tokens
        texts = list(self.outputs)
        texts += [p.read_bytes().decode("utf-8", "replace") for p in self.tmp.glob("crosspost.db*")]
        for text in texts:
            assert not [t for t in tokens if t in text]

    def refreshes_never_repeat(self) -> list[str]:
        sent = self.emulator.vk_id.refreshes
        assert len(sent) == len(set(sent)), "a refresh token was sent twice"
        return sent


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    try:
        yield w
    finally:
        w.sandbox.stop()


def draft(text: str, images: tuple[Image, ...] = ()) -> Draft:
    return Draft(account="vk-id", platform="vk", parts=(text,), images=images, key=f"crosspost-{hash(text)}")


def photo(tmp: Path, name: str, fmt: str) -> Image:
    path = tmp / name
    PILImage.new("RGB", (8, 8), (200, 30, 30)).save(path, fmt)
    return Image(path=path, alt="", mime=f"image/{fmt.lower()}")


# ------------------------------------------------------------ config


def test_the_vk_id_form_reads_and_its_path_is_relative_to_the_config(world: World) -> None:
    account = world.account()
    assert account.token_file == world.token_file and account.vk_id_client_id == CLIENT
    assert "access_token" not in account.credentials


@pytest.mark.parametrize(
    ("keys", "named"),
    [
        ('access_token = "vk1.a.x"\nvk_id_client_id = 5\ntoken_file = "t.json"\n', "accounts.v.vk_id_client_id"),
        ("vk_id_client_id = 5\n", "accounts.v.token_file: missing"),
        ('token_file = "t.json"\n', "accounts.v.vk_id_client_id: missing"),
        ('vk_id_client_id = "abc"\ntoken_file = "t.json"\n', "accounts.v.vk_id_client_id: must be"),
        ("", "accounts.v.access_token: missing"),
    ],
)
def test_a_half_or_double_token_form_is_one_clear_line(tmp_path: Path, keys: str, named: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'[accounts.v]\nplatform = "vk"\ngroup_id = 5\n{keys}', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert named in str(caught.value) and "\n" not in str(caught.value)


# ------------------------------------------------------------ the token file


def test_the_token_file_is_written_0600_atomically_and_keeps_extra_fields(world: World) -> None:
    tokens = Tokens("a1", "r1", 100, "d1", (("user_id", 7),))
    write_tokens(world.token_file, tokens)
    assert stat.S_IMODE(world.token_file.stat().st_mode) == 0o600
    assert read_tokens(world.token_file, "vk-id") == tokens
    assert json.loads(world.token_file.read_text())["user_id"] == 7
    assert [p.name for p in world.token_file.parent.iterdir()] == ["vk-id.json"]  # no temporary left behind


def test_a_missing_or_broken_token_file_says_to_log_in(world: World) -> None:
    with pytest.raises(AuthError, match="crosspost accounts login vk-id"):
        world.adapter().publish(draft("No file yet."), Progress())
    world.token_file.parent.mkdir(parents=True, exist_ok=True)
    world.token_file.write_text('{"access_token": "x"}')
    with pytest.raises(AuthError, match="no refresh_token, expires_at, device_id: run `crosspost accounts login"):
        world.adapter().publish(draft("Broken file."), Progress())


# ------------------------------------------------------------ the emulator holds VK ID's rules


def test_the_emulator_spends_a_refresh_token_once_and_checks_pkce(world: World) -> None:
    pair = world.emulator.vk_id.issue("dev-1")
    form = {"grant_type": "refresh_token", "client_id": str(CLIENT), "device_id": "dev-1"}
    first = requests.post(f"{world.url}/oauth2/auth", data={**form, "refresh_token": pair["refresh_token"]}, timeout=5)
    assert first.status_code == 200 and first.json()["refresh_token"] != pair["refresh_token"]
    again = requests.post(f"{world.url}/oauth2/auth", data={**form, "refresh_token": pair["refresh_token"]}, timeout=5)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    query = {"response_type": "code", "client_id": str(CLIENT), "redirect_uri": "http://localhost", "state": "s"}
    query |= {"code_challenge": "not-the-challenge-of-anything", "code_challenge_method": "S256"}
    landed = requests.get(f"{world.url}/authorize", params=query, allow_redirects=False, timeout=5)
    got = dict(p.split("=", 1) for p in landed.headers["Location"].split("?", 1)[1].split("&"))
    exchange = {"grant_type": "authorization_code", "client_id": str(CLIENT), "code": got["code"]}
    exchange |= {"code_verifier": "a-wrong-verifier", "device_id": got["device_id"], "redirect_uri": "http://localhost"}
    refused = requests.post(f"{world.url}/oauth2/auth", data=exchange, timeout=5)
    assert refused.json() == {
        "error": "invalid_grant",
        "error_description": "code_verifier does not match code_challenge",
    }
    world.emulator.vk_id.advance(HOUR + 1)
    assert world.emulator.vk_id.check(first.json()["access_token"]) == "expired"


# ------------------------------------------------------------ refresh in one process


def test_publishes_across_several_expiries_rotating_the_refresh_token(world: World, tmp_path: Path) -> None:
    first = world.provision()
    adapter = world.adapter()  # one long-lived adapter, as a daemon keeps
    seen = {first.refresh_token}
    for n in range(4):
        adapter.publish(draft(f"Post {n} of the week.", (photo(tmp_path, f"p{n}.png", "PNG"),)), Progress())
        world.emulator.vk_id.advance(HOUR + 60)  # VK's clock: the access token has expired
        seen.add(read_tokens(world.token_file, "vk-id").refresh_token)
    assert [p.text for p in world.emulator.posts] == [f"Post {n} of the week." for n in range(4)]
    sent = world.refreshes_never_repeat()
    assert len(sent) == 3  # one refresh per expiry (on VK's 1117), none before the first post
    assert len(seen) == 4  # every refresh rotated the refresh token in the file


def test_refreshes_before_expiry_without_a_refused_call(world: World) -> None:
    world.provision(expires_in=60)  # inside the margin: refreshed before the first call
    world.adapter().publish(draft("Refreshed first."), Progress())
    assert len(world.refreshes_never_repeat()) == 1
    paths = [r["path"] for r in world.sandbox.requests]
    assert paths[:2] == ["/oauth2/auth", "/method/wall.post"]  # no call was refused first
    assert read_tokens(world.token_file, "vk-id").expires_at > time.time() + HOUR - 60


def test_a_refresh_another_process_made_is_used_not_repeated(world: World) -> None:
    world.provision()
    slow = world.adapter()
    slow.publish(draft("First."), Progress())  # holds the old access token in memory
    world.emulator.vk_id.advance(HOUR + 60)
    world.adapter().publish(draft("Second, from another process."), Progress())  # refreshes: the file rotates
    slow.publish(draft("Third."), Progress())  # VK refuses its old token; it re-reads the file under the lock
    assert len(world.refreshes_never_repeat()) == 1
    assert len(world.emulator.posts) == 3


def test_a_refused_refresh_is_an_auth_error_that_says_log_in_again(world: World) -> None:
    world.provision(expires_in=60)
    world.emulator.vk_id.live.clear()  # the refresh token was revoked (or spent elsewhere)
    with pytest.raises(AuthError) as caught:
        world.adapter().publish(draft("Cannot refresh."), Progress())
    assert "run `crosspost accounts login vk-id` again" in caught.value.message
    assert not [t for t in world.every_token() if t in str(caught.value)]
    assert world.emulator.posts == []


def test_webp_is_refused_by_the_wall_upload_server(world: World, tmp_path: Path) -> None:
    world.provision()
    with pytest.raises(Rejected, match="not JPG, PNG or GIF"):
        world.adapter().publish(draft("A WebP photo.", (photo(tmp_path, "p.webp", "WEBP"),)), Progress())


# ------------------------------------------------------------ two processes at once

RACER = """
import sys, time
from crosspost.adapters.transport import new_session
from crosspost.config import load_config
from crosspost.model import Draft, Progress
from crosspost.platforms.vk.adapter import VkAdapter

config, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
account = load_config(__import__("pathlib").Path(config), {}).accounts["vk-id"]
# Its clock jumps two hours each time it is read: the tokens it holds always look expired, so it refreshes
# before every call, racing the other process for the one refresh token (the worst case).
ticks = __import__("itertools").count(1)
adapter = VkAdapter(account, new_session("vk", account.api_base, 10.0), clock=lambda: time.time() + 7200 * next(ticks))
for n in range(count):
    adapter.publish(Draft(account="vk-id", platform="vk", parts=(f"{name} post {n}",), key=f"{name}-{n}"), Progress())
print("done")
"""


def test_two_processes_refreshing_at_once_never_spend_one_refresh_token_twice(world: World) -> None:
    world.provision()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(world.config), name, "5"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for name in ("alpha", "beta")
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        world.outputs += [out, err]
        assert proc.returncode == 0 and out.strip() == "done", err
    assert len(world.emulator.posts) == 10
    assert len(world.refreshes_never_repeat()) >= 5  # many refreshes, each with a refresh token never sent before
    world.assert_no_token_anywhere()


# ------------------------------------------------------------ the daemon


def test_the_daemon_publishes_across_expiries_and_keeps_no_token(world: World) -> None:
    world.provision()
    SqlStore(f"sqlite:///{world.tmp / 'crosspost.db'}", world.tmp / "media").close()
    for _ in range(3):
        world.queue()
        done = world.cli("daemon", "--once")
        assert done.returncode == 0, done.stderr
        world.emulator.vk_id.advance(HOUR + 60)
    assert [p.text for p in world.emulator.posts] == [f"News number {n}." for n in (1, 2, 3)]
    assert len(world.refreshes_never_repeat()) == 2
    world.cli("log")
    world.assert_no_token_anywhere()


# ------------------------------------------------------------ accounts login / --check


def login(world: World, *, tamper: bool = False) -> tuple[int, str, str]:
    proc = subprocess.Popen(
        crosspost_argv("accounts", "login", "vk-id", config=world.config),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert proc.stderr is not None and proc.stdin is not None
    shown = []
    while True:
        line = proc.stderr.readline()
        assert line, "accounts login printed no URL"
        shown.append(line)
        if line.startswith("https://id.vk.com/authorize?"):
            break
    # The browser: id.vk.com signs the admin in and redirects to the app's redirect URL.
    answer = requests.get(line.strip().replace("https://id.vk.com", world.url), allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    landed = answer.headers["Location"]
    if tamper:
        landed = landed.replace("state=", "state=x")
    out, err = proc.communicate(landed + "\n", timeout=60)
    world.outputs += [out, err, *shown]
    return proc.returncode, out, "".join(shown) + err


def test_accounts_login_end_to_end_writes_a_working_token_file(world: World) -> None:
    code, out, err = login(world)
    assert code == 0, err
    assert "signed in" in out and str(world.token_file) in out
    assert stat.S_IMODE(world.token_file.stat().st_mode) == 0o600
    tokens = read_tokens(world.token_file, "vk-id")
    assert world.emulator.vk_id.check(tokens.access_token) == "ok"
    assert "code_challenge_method=S256" in err
    world.adapter().publish(draft("Signed in, then posted."), Progress())
    assert len(world.emulator.posts) == 1
    world.assert_no_token_anywhere()


def test_accounts_login_refuses_a_redirect_from_another_sign_in(world: World) -> None:
    code, _, err = login(world, tamper=True)
    assert code == 1 and "another sign-in" in err
    assert not world.token_file.exists()


def test_accounts_check_says_the_form_the_expiry_and_the_rights(world: World) -> None:
    world.provision()
    done = world.cli("accounts", "--check")
    assert done.returncode == 0, done.stderr
    line = done.stdout.splitlines()[0]
    assert "token: VK ID (vk-id.json), access token valid until" in line
    assert "may post on the wall; may upload photos" in line
    world.emulator.rights = RIGHT_PHOTOS | RIGHT_GROUPS
    done = world.cli("accounts", "--check")
    assert done.returncode == 1
    assert "may not post on the wall (no wall right): run `crosspost accounts login vk-id` again" in done.stderr
    world.assert_no_token_anywhere()


def test_accounts_check_of_the_long_lived_form_says_so(world: World) -> None:
    account = world.account()
    long_lived = type(account)(
        name="vk",
        platform="vk",
        credentials={"access_token": "vk1.a.long-lived-unused"},
        group_id=GROUP,
        api_base=world.url,
    )
    said = adapter_for(long_lived, 5.0).verify()
    assert "token: long-lived access_token" in said and "may upload photos" in said
    assert os.environ.get("VK_TOKEN") is None or "vk1.a" not in said


def test_accounts_login_of_a_long_lived_or_unknown_account_is_one_clear_line(world: World) -> None:
    text = world.config.read_text()
    world.config.write_text(
        text + f'\n[accounts.vk-old]\nplatform = "vk"\ngroup_id = {GROUP}\naccess_token = "vk1.a.x"\n', encoding="utf-8"
    )
    world.config.chmod(0o600)  # a literal token in a readable config is warned about, rightly
    done = world.cli("accounts", "login", "vk-old")
    assert done.returncode == 1 and "has a long-lived access_token, not the VK ID form" in done.stderr
    done = world.cli("accounts", "login", "nobody")
    assert done.returncode == 1 and "the accounts are: vk-id, vk-old" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
