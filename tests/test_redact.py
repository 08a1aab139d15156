"""Masking secrets: one pattern per set, longest first; a line redacted once is not scrubbed again only
when it was redacted with the writer's own secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosspost.cli import App
from crosspost.delivery.events import log_line
from crosspost.demo import demo_config
from crosspost.redact import MASK, Redacted, mask_secrets


def test_every_secret_is_masked_whole_the_longest_first() -> None:
    secrets = frozenset({"abcd", "abcdefgh", "x1y2z3", "no"})  # "no": too short to mask anything safely
    text = "key abcdefgh, short abcd, other x1y2z3, not no"
    assert mask_secrets(text, secrets) == f"key {MASK}, short {MASK}, other {MASK}, not no"
    assert mask_secrets(text, ["abcd"]) == f"key {MASK}efgh, short {MASK}, other x1y2z3, not no"  # any iterable
    assert mask_secrets("a.b*c(d", frozenset({"b*c("})) == f"a.{MASK}d"  # regex characters are literal


def test_a_log_line_knows_which_secrets_it_was_redacted_with() -> None:
    secrets = frozenset({"tok-123456"})
    line = log_line("error", secrets, reason="refused tok-123456")
    assert isinstance(line, Redacted) and "tok-123456" not in line
    assert line.masks(secrets) and line.masks(frozenset())
    assert not line.masks(frozenset({"tok-123456", "another-secret"}))


def test_the_writer_scrubs_a_line_redacted_without_its_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "crosspost.toml"
    config.write_text(demo_config("http://127.0.0.1:9", database=str(tmp_path / "db.sqlite")), encoding="utf-8")
    config.chmod(0o600)
    app = App(str(config), debug=False)
    secret = next(s for s in app.settings.secrets if len(s) >= 8)
    capsys.readouterr()
    app.err(log_line("info", frozenset(), reason=f"said {secret}"))  # made without the config's secrets
    app.err(log_line("info", app.settings.secrets, reason=f"said {secret}"))  # made with them: printed as is
    printed = capsys.readouterr().err
    assert secret not in printed
    assert printed.count(MASK) == 2
