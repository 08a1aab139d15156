"""Delivering one claimed delivery: the retry policy, outcome classification and reconciliation.

This package is the ONE place that decides what a platform's answer means for a
delivery (sent, retrying, failed, unknown, missed). The daemon claims work and
calls :func:`deliver`; ``crosspost retry`` calls :func:`retry_post`,
``crosspost resolve`` :func:`resolve_delivery`. Both the daemon and ``retry``
look posts up through :mod:`crosspost.delivery.reconcile`.
"""

from crosspost.delivery.events import LogFn, log_line
from crosspost.delivery.policy import Policy
from crosspost.delivery.retry import resolve_delivery, retry_post
from crosspost.delivery.run import LOST, RETRYING, deliver, public_parts

__all__ = [
    "LOST",
    "RETRYING",
    "LogFn",
    "Policy",
    "deliver",
    "log_line",
    "public_parts",
    "resolve_delivery",
    "retry_post",
]
