"""Reliability evidence for crosspost (issue #5): ``python -m benchmarks.reliability [--quick]``.

Parts: :mod:`.soak` (SIGKILL crash soak), :mod:`.faults` (fault matrix per
platform), :mod:`.badinput` (bad files through the CLI, hypothesis fuzzing),
:mod:`.secretscan` (secrets in everything crosspost wrote; the permissions
warning), :mod:`.load` (CLI against a busy database, a second daemon, 10,000
posts / 1,000,000 attempts, daemon memory). Everything talks only to an
in-process sandbox on 127.0.0.1 and stops by itself.
"""
