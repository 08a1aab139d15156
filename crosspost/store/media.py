"""Copying a post's images into the media folder, named by content hash.

A queued post must not change when its files do, so each image is copied to
``<media_dir>/<sha256><ext>``. Identical images share one copy. A copy is
written to a temporary file in the same folder and renamed into place, so a
reader never sees half a file.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import tempfile
from dataclasses import replace
from pathlib import Path

from crosspost.errors import CrosspostError
from crosspost.model import Image
from crosspost.store.permissions import make_folder, share_file

_CHUNK = 1 << 20


class MediaCopier:
    """Copies images for one queue call and remembers which copies it created (to undo them on failure)."""

    def __init__(self, media_dir: Path) -> None:
        self.media_dir = media_dir
        self.created: list[Path] = []

    def store(self, images: tuple[Image, ...]) -> tuple[Image, ...]:
        """The images with ``path`` at their copies and ``sha256``/``mime`` filled in."""
        return tuple(self._store_one(image) for image in images)

    def _store_one(self, image: Image) -> Image:
        source = Path(image.path)
        make_folder(self.media_dir)
        # Hash while copying: the name then always matches the bytes copied, even if the file changes meanwhile.
        fd, temp_name = tempfile.mkstemp(dir=self.media_dir, prefix=".incoming-")
        temp = Path(temp_name)
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                try:
                    with source.open("rb") as f:
                        while chunk := f.read(_CHUNK):
                            digest.update(chunk)
                            out.write(chunk)
                except FileNotFoundError:
                    raise CrosspostError(f"{source}: image not found; nothing was queued") from None
                except IsADirectoryError:
                    raise CrosspostError(f"{source}: is a folder, not an image; nothing was queued") from None
                except OSError as exc:
                    raise CrosspostError(
                        f"{source}: cannot read the image ({exc.strerror}); nothing was queued"
                    ) from None
                out.flush()
                os.fsync(out.fileno())
            target = self.media_dir / f"{digest.hexdigest()}{source.suffix.lower()}"
            if target.exists():
                temp.unlink()
            else:
                share_file(temp)  # mkstemp made it 0600: the daemon, another user in the group, must read it
                os.replace(temp, target)
                self.created.append(target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        mime = image.mime or mimetypes.guess_type(source.name)[0] or ""
        return replace(image, path=target, sha256=digest.hexdigest(), mime=mime)
