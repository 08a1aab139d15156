"""The values that travel between parsing, rendering, the store and the adapters."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class LostClaim(Exception):
    """This worker's claim was taken over (it was frozen or too slow): it must stop and write nothing."""


@dataclass(frozen=True)
class Image:
    """An image to attach. ``path`` is absolute: the post's file before queueing, the stored copy after."""

    path: Path
    alt: str = ""
    sha256: str = ""
    mime: str = ""


@dataclass(frozen=True)
class Content:
    """What one target account gets, before rendering: the post with its variant applied."""

    body: str  # Markdown
    link: str | None = None
    tags: tuple[str, ...] = ()
    images: tuple[Image, ...] = ()


@dataclass(frozen=True)
class Draft:
    """Exactly what one account receives: the rendered text (thread parts on Twitter) and images.

    ``key`` identifies the delivery across retries (VK's ``guid``, look-ups); the store sets it.
    ``link`` is repeated here for Facebook's Graph ``link`` field. The text shows it too, except on
    Facebook without images: there the ``link`` field's preview card shows it (see render_draft).
    """

    account: str
    platform: str
    parts: tuple[str, ...]
    images: tuple[Image, ...] = ()
    link: str | None = None
    key: str = ""

    @property
    def text(self) -> str:
        return "\n\n".join(self.parts)

    def to_json(self) -> str:
        return json.dumps(
            {
                "account": self.account,
                "platform": self.platform,
                "parts": list(self.parts),
                "images": [
                    {"path": str(i.path), "alt": i.alt, "sha256": i.sha256, "mime": i.mime} for i in self.images
                ],
                "link": self.link,
                "key": self.key,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> Draft:
        data: dict[str, Any] = json.loads(text)
        return cls(
            account=data["account"],
            platform=data["platform"],
            parts=tuple(data["parts"]),
            images=tuple(
                Image(Path(i["path"]), i.get("alt", ""), i.get("sha256", ""), i.get("mime", "")) for i in data["images"]
            ),
            link=data.get("link"),
            key=data.get("key", ""),
        )


@dataclass
class Progress:
    """What a delivery already achieved on the platform, kept across tries.

    ``parts``: remote ids of the thread parts published so far, in order.
    ``media``: platform media ids by image sha256, so a retry does not upload again.
    An adapter records each id the moment it exists through :meth:`add_part` /
    :meth:`add_media`; ``on_change`` (the store's save) runs right then.
    """

    parts: list[str] = field(default_factory=list)
    media: dict[str, str] = field(default_factory=dict)
    on_change: Any = field(default=None, repr=False, compare=False)
    # Set by the delivery engine: raises crosspost.model.LostClaim when this worker no longer holds its claim.
    guard: Any = field(default=None, repr=False, compare=False)

    def checkpoint(self) -> None:
        """Called by an adapter right before every request that could publish something (each upload,
        alt text, the post, each thread part): a worker that lost its claim must not send it."""
        if self.guard is not None:
            self.guard()

    def add_part(self, remote_id: str) -> None:
        self.parts.append(remote_id)
        self._changed()

    def add_media(self, sha256: str, media_id: str) -> None:
        self.media[sha256] = media_id
        self._changed()

    def forget_media(self, sha256s: Iterable[str]) -> None:
        """Drop media ids the platform no longer knows (they expire), so the next try uploads again."""
        dropped = [s for s in sha256s if self.media.pop(s, None) is not None]
        if dropped:
            self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)

    def to_json(self) -> str:
        return json.dumps({"parts": self.parts, "media": self.media})

    @classmethod
    def from_json(cls, text: str | None) -> Progress:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(parts=list(data.get("parts", [])), media=dict(data.get("media", {})))
