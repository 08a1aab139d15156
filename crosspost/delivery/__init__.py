"""Delivering one claimed delivery: the retry policy, outcome classification and reconciliation.

This package is the ONE place that decides what a platform's answer means for a
delivery (sent, retrying, failed, unknown, missed). The daemon claims work and
calls :func:`deliver`; ``crosspost retry`` calls :func:`retry_post`.
"""

from crosspost.delivery.events import LogFn, log_line
from crosspost.delivery.policy import Policy
from crosspost.delivery.retry import retry_post
from crosspost.delivery.run import RETRYING, deliver

__all__ = ["RETRYING", "LogFn", "Policy", "deliver", "log_line", "retry_post"]
