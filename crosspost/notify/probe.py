"""``crosspost notify --test``: one test notice to every target, sent at once (not through the outbox)."""

from __future__ import annotations

import socket
from datetime import datetime

from crosspost.config import Settings
from crosspost.notify import targets
from crosspost.timeutil import human


def send_test(settings: Settings, *, now: datetime) -> list[targets.Result]:
    subject = "crosspost: test notice"
    body = (
        f"A test notice from crosspost on {socket.gethostname()}, sent {human(now, settings.timezone)} with "
        f"`crosspost notify --test` (config {settings.path}).\n\n"
        f"This target will hear about: {', '.join(sorted(settings.notify.on))}."
    )
    return targets.send(settings.notify, subject=subject, body=body, kind="info", secrets=settings.secrets)
