"""Fuzzing the config loader: any file gives Settings or a one-line ConfigError; never another exception.

Inputs: arbitrary bytes, arbitrary text, TOML built from the real tables and
keys with arbitrary values, and random edits of a good config. What fuzzing
found lives in tests/corpus/fuzz/ (``config-*.toml``) and is replayed here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from toml_writer import TOML_SCALARS, mutations, toml_value

from crosspost.config import Settings, load_config, loose_permissions_warning
from crosspost.errors import ConfigError

CORPUS = Path(__file__).resolve().parent / "corpus" / "fuzz"
EXAMPLES = int(os.environ.get("CROSSPOST_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
ENV = {"TOKEN": "env-token-value", "EMPTY": "", "BASE": "http://127.0.0.1:8080", "1BAD": "x"}
MAIN_KEYS = ("timezone", "database", "posts_dir", "late_limit", "max_attempts", "retry_delay", "request_timeout")
ACCOUNT_KEYS = (
    "platform", "consumer_key", "consumer_secret", "access_token", "access_token_secret", "page_id",
    "page_access_token", "group_id", "graph_version", "api_version", "max_length", "api_base", "other",
)  # fmt: skip
GOOD = """[crosspost]
timezone = "Asia/Pyongyang"
database = "crosspost.db"
posts_dir = "posts"
late_limit = "6h"
max_attempts = 5
retry_delay = "1m"
request_timeout = "30s"

[accounts.twitter]
platform = "twitter"
consumer_key = "${TOKEN}"
consumer_secret = "${TOKEN}"
access_token = "${TOKEN}"
access_token_secret = "${TOKEN}"

[accounts.facebook]
platform = "facebook"
page_id = "1234567890"
page_access_token = "${TOKEN}"
graph_version = "v24.0"

[accounts.vk-ru]
platform = "vk"
group_id = 123456
access_token = "${TOKEN}"
api_version = "5.199"
max_length = 16384
api_base = "${BASE}"
"""
scalars = TOML_SCALARS


config_values = st.one_of(
    scalars,
    st.sampled_from(["twitter", "facebook", "vk", "${TOKEN}", "${EMPTY}", "${UNSET}", "${1BAD}", "${}", "$TOKEN",
                     "UTC", "Nowhere/City", "6h", "0s", "1h30m", "-1m", "99999999999d", "v24.0", "5.199",
                     "http://127.0.0.1:1", "https://x/y", "sqlite:///:memory:", "crosspost.db", "/", ""]),
    st.lists(scalars, max_size=3),
    st.dictionaries(st.text(max_size=5), scalars, max_size=3),
)  # fmt: skip


def check(folder: Path, data: bytes) -> None:
    path = folder / "fuzz.toml"
    path.write_bytes(data)
    try:
        result = load_config(path, ENV)
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith(str(path)), message
        assert "\n" not in message and "\r" not in message, message
        assert "Traceback" not in message and "object at 0x" not in message, message
        assert "env-token-value" not in message, message
    else:
        assert isinstance(result, Settings)
        assert "env-token-value" not in repr(result)


@st.composite
def structured_configs(draw: st.DrawFn) -> bytes:
    lines = []
    if draw(st.booleans()):
        lines.append("[crosspost]")
        keys = st.one_of(st.sampled_from(MAIN_KEYS), st.text(max_size=8))
        lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in draw(st.dictionaries(keys, config_values)).items()]
    names = st.one_of(st.sampled_from(["twitter", "fb", "vk-ru", "a.b"]), st.text(max_size=8))
    for name in draw(st.lists(names, max_size=3, unique=True)):
        lines.append(f"[accounts.{json.dumps(name)}]")
        table = draw(st.dictionaries(st.sampled_from(ACCOUNT_KEYS), config_values, max_size=8))
        if draw(st.booleans()):
            table["platform"] = draw(st.sampled_from(["twitter", "facebook", "vk"]))
        lines += [f"{k} = {toml_value(v)}" for k, v in table.items()]
    if draw(st.integers(0, 9)) == 0:
        lines.append(f"{json.dumps(draw(st.text(max_size=6)))} = {toml_value(draw(config_values))}")
    return "\n".join(lines).encode("utf-8", "surrogatepass")


def mutated_good() -> st.SearchStrategy[bytes]:
    return mutations(GOOD.encode(), [b"[", b"]", b'"', b"=", b"${"])


@FUZZ
@given(st.binary(max_size=3000))
def test_arbitrary_bytes(tmp_path: Path, data: bytes) -> None:
    check(tmp_path, data)


@FUZZ
@given(st.text(max_size=800))
def test_arbitrary_text(tmp_path: Path, text: str) -> None:
    check(tmp_path, text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(structured_configs())
def test_structured_configs(tmp_path: Path, data: bytes) -> None:
    check(tmp_path, data)


@FUZZ
@given(mutated_good())
def test_mutated_good_config(tmp_path: Path, data: bytes) -> None:
    check(tmp_path, data)


def test_good_config_loads(tmp_path: Path) -> None:
    path = tmp_path / "crosspost.toml"
    path.write_text(GOOD, encoding="utf-8")
    assert sorted(load_config(path, ENV).accounts) == ["facebook", "twitter", "vk-ru"]


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("config-*")) or ["(none)"])
def test_fuzz_corpus(tmp_path: Path, name: str) -> None:
    if name == "(none)":
        pytest.skip("no corpus yet")
    check(tmp_path, (CORPUS / name).read_bytes())


# ---------------------------------------------------------------- the permissions warning


def _raw(path: Path) -> dict:
    import tomllib

    return tomllib.loads(path.read_text("utf-8"))


def test_warns_when_literal_secrets_are_readable_by_others(tmp_path: Path) -> None:
    path = tmp_path / "crosspost.toml"
    path.write_text(
        GOOD.replace('access_token = "${TOKEN}"\napi_version', 'access_token = "vk1.a.LITERAL"\napi_version')
    )
    path.chmod(0o644)
    warning = loose_permissions_warning(path, _raw(path))
    assert warning is not None and "\n" not in warning
    assert "accounts.vk-ru.access_token" in warning and "chmod 600" in warning
    assert "vk1.a.LITERAL" not in warning
    path.chmod(0o640)
    assert "group" in (loose_permissions_warning(path, _raw(path)) or "")
    path.chmod(0o600)
    assert loose_permissions_warning(path, _raw(path)) is None


def test_no_warning_when_secrets_come_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "crosspost.toml"
    path.write_text(GOOD)
    path.chmod(0o644)
    assert loose_permissions_warning(path, _raw(path)) is None
