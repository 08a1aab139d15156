"""The adapters against the sandbox, as the edge tests (ambiguity, look-alikes) use them.

Import the fixtures by their function names (``sandbox_fixture``, ``fresh_fixture``): pytest
registers them under ``sandbox`` and ``_fresh``.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image as PILImage

from crosspost.adapters import adapter_for
from crosspost.adapters.base import Adapter
from crosspost.config import AccountConfig
from crosspost.model import Draft, Image
from crosspost.sandbox import CREDENTIALS, Sandbox, build_sandbox


@pytest.fixture(scope="module", name="sandbox")
def sandbox_fixture() -> Iterator[Sandbox]:
    """One sandbox per test module, started on a free loopback port."""
    box = build_sandbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture(autouse=True, name="_fresh")
def fresh_fixture(sandbox: Sandbox) -> None:
    """Every test starts on empty walls, without faults."""
    sandbox.reset()


def adapter(platform: str, sandbox: Sandbox) -> Adapter:
    creds = {k: v for k, v in CREDENTIALS[platform].items() if k not in ("page_id", "group_id")}
    extra: dict[str, object] = {}
    if platform == "facebook":
        extra["page_id"] = CREDENTIALS["facebook"]["page_id"]
    if platform == "vk":
        extra["group_id"] = int(CREDENTIALS["vk"]["group_id"])
    account = AccountConfig(name=platform, platform=platform, credentials=creds, api_base=sandbox.url, **extra)  # type: ignore[arg-type]
    return adapter_for(account, 5.0)


def draft(platform: str, *parts: str, images: tuple[Image, ...] = ()) -> Draft:
    return Draft(account=platform, platform=platform, parts=parts, images=images, key=f"crosspost-9-{platform}")


def picture(folder: Path, name: str, fmt: str, alt: str = "The signing") -> Image:
    buffer = io.BytesIO()
    PILImage.new("RGB", (24, 16), (200, len(name) * 20 % 255, 40)).save(buffer, fmt)
    path = folder / name
    path.write_bytes(buffer.getvalue())
    data = buffer.getvalue()
    return Image(path=path, alt=alt, sha256=hashlib.sha256(data).hexdigest(), mime=f"image/{fmt.lower()}")


def posts(sandbox: Sandbox, platform: str) -> list[dict]:
    return list(sandbox.state()[platform]["posts"])


def since() -> datetime:
    return datetime.now(UTC) - timedelta(minutes=1)


def hits(sandbox: Sandbox, path: str) -> list[dict]:
    """The sandbox's log of requests whose path matches ``path``."""
    return [r for r in sandbox.requests if re.search(path, r["path"])]
