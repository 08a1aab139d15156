"""Storing a post's images in the media folder, prepared for each platform and named by content hash.

A queued post must not change when its files do, so each image is prepared for
the draft's platform (see :mod:`crosspost.images`) and the prepared bytes are
written to ``<media_dir>/<sha256><ext>``. Preparation is deterministic, so one
image sent to two accounts of a platform (or queued twice) is stored once. A
copy is written to a temporary file in the same folder and renamed into place,
so a reader never sees half a file.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path

from crosspost.errors import CrosspostError
from crosspost.images import ImageUnfit, prepare
from crosspost.model import Image
from crosspost.store.permissions import make_folder, share_file


class MediaCopier:
    """Stores images for one queue call and remembers which copies it created (to undo them on failure)."""

    def __init__(self, media_dir: Path) -> None:
        self.media_dir = media_dir
        self.created: list[Path] = []

    def store(self, images: tuple[Image, ...], platform: str) -> tuple[Image, ...]:
        """The images prepared for ``platform``, with ``path`` at their copies and ``sha256``/``mime`` of those."""
        return tuple(self._store_one(image, platform) for image in images)

    def _store_one(self, image: Image, platform: str) -> Image:
        source = Path(image.path)
        # Read once, then prepare from those bytes: the copy always matches what was read, even if the file
        # changes meanwhile.
        try:
            data = source.read_bytes()
        except FileNotFoundError:
            raise CrosspostError(f"{source}: image not found; nothing was queued") from None
        except IsADirectoryError:
            raise CrosspostError(f"{source}: is a folder, not an image; nothing was queued") from None
        except OSError as exc:
            raise CrosspostError(f"{source}: cannot read the image ({exc.strerror}); nothing was queued") from None
        try:
            prepared = prepare(data, platform)
        except ImageUnfit as exc:
            raise CrosspostError(f"{source}: {exc}; nothing was queued") from None
        digest = prepared.sha256
        target = self.media_dir / f"{digest}{prepared.suffix}"
        if not target.exists():
            self._write(target, prepared.data)
        return replace(image, path=target, sha256=digest, mime=prepared.mime)

    def _write(self, target: Path, data: bytes) -> None:
        make_folder(self.media_dir)
        fd, temp_name = tempfile.mkstemp(dir=self.media_dir, prefix=".incoming-")
        temp = Path(temp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            share_file(temp)  # mkstemp made it 0600: the daemon, another user in the group, must read it
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        self.created.append(target)
