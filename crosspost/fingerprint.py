"""What makes two ``queue`` calls "the same post": the post file's bytes and its images' bytes.

``queue`` keeps this hash in the post's snapshot and refuses a second post with the
same one (unless ``--again``): queueing a file twice is how a press office ends up
with a statement published twice. The path is left out on purpose, so a copy of the
file under another name is the same post too.
"""

from __future__ import annotations

import hashlib

from crosspost.posts import ParsedPost


def content_hash(post: ParsedPost) -> str:
    """SHA-256 over the file and every image any account of it would get (variants too), in a stable order."""
    digest = hashlib.sha256(post.source.read_bytes())
    images = sorted({image.sha256 for content in post.all_contents.values() for image in content.images})
    for sha in images:
        digest.update(b"\0image:" + sha.encode())
    return digest.hexdigest()
