"""Notices: telling people what happened to their posts, by mail, webhook or chat (issue 13).

- :mod:`.outbox` the ``notices`` table: :func:`enqueue_notices` is called in the transaction of a
  delivery's status change, so a notice is never lost nor written twice;
- :mod:`.compose` the words of a notice: subject and body, with the command that deals with it;
- :mod:`.targets` sending one notice to the ``[notify]`` targets through Apprise;
- :mod:`.sender` the daemon's background sender: groups a post's notices, retries with backoff;
- :mod:`.downtime` the daemon's one call (:func:`~.downtime.start_notices`) and its "was down" notice;
- :mod:`.digest` the daily digest; :mod:`.probe` ``crosspost notify --test``.

Nothing here ever holds a delivery back: the daemon's workers only write outbox rows.
"""

from __future__ import annotations

from crosspost.notify.outbox import enqueue_notices

__all__ = ["enqueue_notices"]
