"""Sending one notice to the ``[notify]`` targets through Apprise, target by target.

Each target is tried on its own, so one that fails is retried later without resending to the
others (the caller remembers which target ids have it). Apprise's own log lines are captured and
become the reason (redacted): they never reach the daemon's stderr unredacted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from crosspost.config import NotifyConfig
from crosspost.redact import redact

KINDS = ("info", "success", "warning", "failure")


@dataclass(frozen=True)
class Result:
    target_id: str
    shown: str  # how the target may be named: its index and scheme, never its secrets
    ok: bool
    reason: str = ""


def shown(notify: NotifyConfig, index: int) -> str:
    scheme = notify.urls[index].split("://", 1)[0]
    return f"notify.urls[{index}] ({scheme})"


def send(
    notify: NotifyConfig,
    *,
    subject: str,
    body: str,
    kind: str = "failure",
    skip: Iterable[str] = (),
    secrets: Iterable[str] = (),
) -> list[Result]:
    """Send ``subject``/``body`` to every target whose id is not in ``skip``; one Result per target tried."""
    import apprise  # a quarter second of plugin loading: only when a notice goes out

    secrets = frozenset(secrets) | notify.secrets
    skipped = set(skip)
    logger = logging.getLogger("apprise")
    # Its lines may carry URLs with credentials: they come back to us captured (below), never printed by
    # logging's last-resort handler on the daemon's stderr.
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    results = []
    for i, (url, target_id) in enumerate(zip(notify.urls, notify.ids, strict=True)):
        if target_id in skipped:
            continue
        with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
            plugin = apprise.Apprise.instantiate(url)
            ok = False
            if plugin is not None:
                one = apprise.Apprise()
                one.add(plugin)
                try:
                    # Through Apprise (not the plugin itself), so the plain text is converted for targets that
                    # want HTML or Markdown (mail keeps its line breaks).
                    sent = one.notify(body=body, title=subject, notify_type=kind, body_format="text")
                    ok = bool(sent)
                except Exception as exc:  # noqa: BLE001 - a plugin's surprise is that target's failure
                    captured.write(f"{type(exc).__name__}: {exc}\n")
            said = " ".join(captured.getvalue().split())
        if plugin is None:
            reason = "Apprise does not understand this URL; check it against the Apprise documentation"
        else:
            reason = "" if ok else (said[-300:] or "Apprise reported a failure")
        results.append(Result(target_id, shown(notify, i), ok, redact(reason, secrets)))
    return results
