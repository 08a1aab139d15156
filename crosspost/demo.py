"""``crosspost demo``: the whole path on the bundled sandbox, with the example posts, no credentials.

Everything happens in a temporary folder: a config whose accounts point
``api_base`` at an in-process sandbox, a fresh database, the example posts
queued a few seconds ahead, and the real daemon publishing them through the
real adapters over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from crosspost.config import load_config
from crosspost.store.records import TERMINAL, DeliveryRecord
from crosspost.store.sql import SqlStore

DEADLINE_SECONDS = 30.0
FIRST_DUE_SECONDS = 2.0

Echo = Callable[[str], None]


def examples_dir() -> Path:
    """The example posts: the package's ``examples`` folder, else the repository's ``posts/``."""
    package = Path(__file__).resolve().parent
    for folder in (package / "examples", package.parent / "posts"):
        if any(folder.glob("*.md")):
            return folder
    raise FileNotFoundError("the example posts are missing: reinstall crosspost")


def demo_config(api_base: str, *, credentials: dict[str, dict[str, str]] | None = None, **settings: str | int) -> str:
    """A config with one account per sandboxed platform (named for it), talking to the sandbox at ``api_base``.

    ``credentials`` (by platform; default: the sandbox's own, which are not secrets) are written as given, so
    ``"${VAR}"`` values stay references; ``settings`` add to or replace ``[crosspost]`` keys.
    """
    from crosspost.sandbox import CREDENTIALS

    creds = {**CREDENTIALS, **(credentials or {})}
    main: dict[str, str | int] = {
        "timezone": "UTC",
        "database": "crosspost.db",
        "posts_dir": "posts",
        "retry_delay": "1s",
        "request_timeout": "5s",
        **settings,
    }
    head = "\n".join(f"{key} = {json.dumps(value)}" for key, value in main.items())
    accounts = "".join(
        f"\n[accounts.{platform}]\nplatform = {json.dumps(platform)}\n"
        + "".join(f"{key} = {json.dumps(value)}\n" for key, value in keys.items())
        + f"api_base = {json.dumps(api_base)}\n"
        for platform, keys in creds.items()
    )
    return f"""\
# Written by `crosspost demo`: every account talks to the local sandbox.
[crosspost]
{head}
{accounts}"""


def run_demo(echo: Echo, *, keep: bool = False) -> int:
    """Run the demo; 0 when every delivery was sent. ``keep``: keep the folder and serve the sandbox until Ctrl-C."""
    from crosspost.sandbox import build_sandbox

    folder = Path(tempfile.mkdtemp(prefix="crosspost-demo-"))
    sandbox = build_sandbox()
    api_base = sandbox.start(port=0)
    try:
        records = _publish(folder, api_base, echo)
        _print_table(records, echo)
        sent = all(r.status == "sent" for r in records)
        verdict = "all sent" if sent else "NOT all sent"
        if not keep:
            echo(
                f"{verdict}; the sandbox page was {api_base}/ "
                "(it closes with the demo: `crosspost demo --keep` keeps it open)"
            )
        else:
            echo(f"{verdict}: see every wall on the sandbox page {api_base}/")
        if keep:
            echo(f"kept: {folder} (crosspost --config {folder / 'crosspost.toml'} log)")
            echo("serving the sandbox until Ctrl-C")
            try:
                while True:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                pass
        return 0 if sent and records else 1
    finally:
        sandbox.stop()
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def _publish(folder: Path, api_base: str, echo: Echo) -> list[DeliveryRecord]:
    from crosspost.daemon import Daemon
    from crosspost.posts import load_drafts

    shutil.copytree(examples_dir(), folder / "posts", ignore=shutil.ignore_patterns("__*", "*.py"))
    config = folder / "crosspost.toml"
    config.write_text(demo_config(api_base), encoding="utf-8")
    config.chmod(0o600)  # it holds (sandbox) credentials
    settings = load_config(config, {})
    store = SqlStore(settings.database_url, settings.media_dir)
    try:
        now = datetime.now(UTC)
        for i, path in enumerate(sorted(settings.posts_dir.glob("*.md"))):
            parsed, drafts = load_drafts(path, settings, now=now)
            due = now + timedelta(seconds=FIRST_DUE_SECONDS + i)
            post_id = store.queue_post(title=parsed.title, source=str(path), drafts=drafts, due_at=due, now=now)
            echo(f"queued post {post_id} {parsed.title!r} for {', '.join(d.account for d in drafts)}")
        daemon = Daemon(settings, store, log=echo)
        thread = threading.Thread(target=daemon.run_forever, name="demo-daemon", daemon=True)
        thread.start()
        deadline = time.monotonic() + DEADLINE_SECONDS
        try:
            while time.monotonic() < deadline and thread.is_alive():
                if all(r.status in TERMINAL for r in store.log()):
                    break
                time.sleep(0.2)
        finally:
            daemon.stop()
            thread.join(settings.request_timeout + 10)
        return sorted(store.log(), key=lambda r: (r.post_id, r.account))
    finally:
        store.close()


def _print_table(records: list[DeliveryRecord], echo: Echo) -> None:
    rows = [("post", "account", "status", "url or reason")]
    rows += [(str(r.post_id), r.account, r.status, r.url or r.error or "") for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    echo("")
    for row in rows:
        echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3])
