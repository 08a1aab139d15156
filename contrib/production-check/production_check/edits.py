"""The admin's edits the README asks for (the config, the secrets file), pointed at the sandbox."""

from __future__ import annotations

import json
import re
import shlex
import socket
import urllib.request
from pathlib import Path

from production_check import ADMIN
from production_check.inside import Inside


def free_port() -> int:
    with socket.socket() as s:  # the root shares the host's network: take a port nobody holds
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sandbox_credentials(inside: Inside) -> dict[str, dict[str, str]]:
    """README "The sandbox": the credentials in each platform's spec.py, read from the installed program."""
    code = (
        "import json; from importlib.metadata import entry_points; "
        "print(json.dumps({e.name: e.load().sandbox_credentials "
        "for e in entry_points(group='crosspost.platforms')}))"
    )
    return json.loads(inside.run(ADMIN, f"/opt/crosspost/bin/python -c {shlex.quote(code)}", quiet=True, secret=True))


def edit_config(text: str, port: int, creds: dict[str, dict[str, str]]) -> tuple[str, dict[str, str]]:
    """The admin's edit of README step 3 and 4: the database path, each account on the sandbox.

    Returns the new config and the secrets file's values (what `${VAR}` names, with the sandbox's)."""
    secrets: dict[str, str] = {}
    account, platform, out = None, None, []
    for line in text.splitlines():
        table = re.match(r"^\[(accounts\.[\w-]+|[\w.-]+)\]", line)
        if table:
            account = table.group(1) if table.group(1).startswith("accounts.") else None
            platform = None
        if account:
            if m := re.match(r'^platform = "(\w+)"', line):
                platform = m.group(1)
            key = re.match(r"^(\w+) = (.*)$", line)
            if platform and key and key.group(1) in creds.get(platform, {}):
                value = creds[platform][key.group(1)]
                var = re.fullmatch(r'"\$\{(\w+)\}"', key.group(2))
                if var:
                    secrets[var.group(1)] = value
                else:
                    line = f"{key.group(1)} = {json.dumps(value) if not value.isdigit() else value}"
            if line.startswith("# api_base = "):
                line = f'api_base = "http://127.0.0.1:{port}"'
        if line.startswith("database = "):
            line = 'database = "/var/lib/crosspost/crosspost.db"'
        out.append(line)
    return "\n".join(out) + "\n", secrets


def rewrite(path: Path, text: str) -> None:
    with path.open("r+", encoding="utf-8") as f:  # in place: sudoedit keeps owner, group and mode too
        f.write(text)
        f.truncate()


def sandbox_state(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_sandbox/state", timeout=10) as answer:
        return json.load(answer)
