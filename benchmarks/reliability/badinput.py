"""Part 3, bad input through the real CLI: every bad file a clear error, the database unchanged.

Each file is given to ``crosspost queue FILE --at +1h`` (a subprocess). Checked:
exit status 1, a last stderr line ``crosspost: error: ...``, no traceback, every
stderr line under a sane length, and the database (every table's rows) and the
media folder exactly as before. Then the hypothesis fuzz tests of the post
parser and the config loader run with many examples (pytest, in a subprocess).
"""

from __future__ import annotations

import hashlib
import os
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.reliability.common import World, has_traceback

REPO = Path(__file__).resolve().parents[2]
GOOD_HEAD = '+++\ntitle = "Bad input"\n'


def make_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (post file, what it is). Media files beside them where needed."""
    from PIL import Image

    media = folder / "media"
    media.mkdir(exist_ok=True)
    rnd = random.Random(5)
    files: dict[str, tuple[Path, str]] = {}

    def post(name: str, data: bytes, what: str) -> None:
        path = folder / f"{name}.md"
        path.write_bytes(data)
        files[name] = (path, what)

    def image_post(name: str, image: str, data: bytes, what: str) -> None:
        (media / image).write_bytes(data)
        post(name, f'{GOOD_HEAD}images = ["media/{image}"]\n+++\nPicture.\n'.encode(), what)

    good = f"{GOOD_HEAD}+++\nA good body of text.\n".encode()
    post("oversized", GOOD_HEAD.encode() + b"+++\n" + b"Word " * 4_000_000, "20 MB body (a 70,000-part thread)")
    post("oversized_front", b"+++\n" + b"x = 1\n" * 1_000_000 + b"+++\nBody\n", "6 MB front matter")
    post("binary", bytes(rnd.randrange(256) for _ in range(4096)), "4 KiB of random bytes")
    post("elf", b"\x7fELF\x02\x01\x01" + bytes(2000), "an executable's header")
    post("nul_in_body", good.replace(b"good", b"go\x00od"), "a NUL byte in the body")
    post("truncated_front", good[:20], "cut inside the front matter")
    post("truncated_utf8", f"{GOOD_HEAD}+++\nТекст".encode()[:-1], "cut inside a UTF-8 sequence")
    post("cp1251", f"{GOOD_HEAD}+++\nТекст для ВКонтакте\n".encode("cp1251"), "Windows-1251 text")
    post("utf16", f"{GOOD_HEAD}+++\nText\n".encode("utf-16"), "UTF-16 with a BOM")
    post("empty", b"", "an empty file")
    post("only_fence", b"+++\n", "one fence, nothing else")
    Image.new("RGB", (16, 16)).save(media / "real.png")
    png = (media / "real.png").read_bytes()
    image_post("image_text_as_jpg", "notes.jpg", b"These are notes, not a photo.\n", "a text file named .jpg")
    image_post("image_html_as_png", "page.png", b"<!doctype html><title>404</title>", "an HTML page named .png")
    image_post("image_empty", "empty.jpg", b"", "an empty .jpg")
    image_post("image_truncated", "cut.png", png[:40], "a PNG cut after 40 bytes")
    image_post("image_jpeg_header_only", "head.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "a JPEG header alone")
    bomb = media / "bomb.png"
    Image.new("1", (20000, 20000)).save(bomb)
    post("image_bomb", f'{GOOD_HEAD}images = ["media/bomb.png"]\n+++\nPicture.\n'.encode(), "a 400-megapixel PNG")
    image_post("image_svg", "drawing.png", b'<svg xmlns="http://www.w3.org/2000/svg"/>', "an SVG named .png")
    files["directory"] = (media, "a folder instead of a file")
    files["missing"] = (folder / "no-such-post.md", "a file that does not exist")
    return files


def snapshot(world: World) -> str:
    """A digest of every row of every table, and of the media folder's file names and contents."""
    h = hashlib.sha256()
    if world.db.exists():
        conn = sqlite3.connect(f"file:{world.db}?mode=ro", uri=True)
        try:
            for line in conn.iterdump():
                h.update(line.encode())
        finally:
            conn.close()
    media = world.folder / "media"
    if media.exists():
        for p in sorted(media.rglob("*")):
            h.update(str(p.relative_to(media)).encode())
            if p.is_file():
                h.update(p.read_bytes())
    return h.hexdigest()


def run(quick: bool = False, out: Callable[[str], None] = print) -> dict[str, Any]:
    started = time.monotonic()
    rows = []
    with World("badinput") as world:
        first = world.write_post("A good post, queued first so the database is not empty.")
        world.queue_cli(first, "--at", "+1h")
        files = make_files(world.folder / "posts")
        for name, (path, what) in files.items():
            before = snapshot(world)
            t = time.monotonic()
            done = world.cli("queue", str(path), "--at", "+1h", label=f"queue {name}")
            seconds = time.monotonic() - t
            after = snapshot(world)
            err = done.stderr.decode("utf-8", "replace")
            lines = [line for line in err.splitlines() if line.strip()]
            last = lines[-1] if lines else ""
            ok = (
                done.returncode == 1
                and last.startswith("crosspost: error: ")
                and not has_traceback(err)
                and not done.stdout.strip()
                and before == after
                and all(len(line) < 2000 for line in lines)
            )
            rows.append(
                {
                    "file": name,
                    "what": what,
                    "exit": done.returncode,
                    "seconds": round(seconds, 2),
                    "unchanged": before == after,
                    "message": (lines[0] if lines else "")[:300],
                    "lines": len(lines),
                    "ok": ok,
                }
            )
            out(
                f"  {name:<24} exit {done.returncode}  {seconds:5.2f} s  {'ok' if ok else 'BAD'}  {rows[-1]['message']}"
            )
        leaks = world.scan()
        scanned = world.scanned()
    fuzz = run_fuzz(quick, out)
    return {
        "files": rows,
        "bad": sum(1 for r in rows if not r["ok"]),
        "fuzz": fuzz,
        "leaks": leaks,
        "scanned": scanned,
        "seconds": round(time.monotonic() - started, 1),
    }


def run_fuzz(quick: bool, out: Callable[[str], None]) -> dict[str, Any]:
    examples = 100 if quick else 2000
    env = {**os.environ, "CROSSPOST_FUZZ_EXAMPLES": str(examples)}
    t = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--timeout", "1500",
         "tests/test_fuzz_posts.py", "tests/test_fuzz_config.py"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    summary = (done.stdout.strip().splitlines() or [""])[-1]
    out(f"  hypothesis, {examples} examples per property: {summary}")
    return {
        "examples_per_property": examples,
        "exit": done.returncode,
        "summary": summary,
        "seconds": round(time.monotonic() - t, 1),
        "failures": done.stdout[-3000:] if done.returncode else "",
    }
