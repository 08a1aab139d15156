"""What preparing a 20 MB camera photo costs: time and peak memory, against Pillow's own floor.

    python benchmarks/image_prep.py [--runs 3] [--size 6000x4000]

Makes a camera-like JPEG of about 20 MB (grain over colour fields, quality 97,
EXIF with orientation 6 and a GPS position, an XMP packet, an ICC profile),
then runs each case in a fresh process, best of ``--runs``:

- the floor: a minimal Pillow script that opens the photo and saves it again
  as a JPEG (the least any preparation must do: decode and encode once);
- ``prepare`` for each platform alone, and for all four at once (``prepare_all``
  decodes once and shares encodings, as ``validate`` and ``queue`` do);
- ``crosspost validate`` of a post with that photo to three accounts (X,
  Facebook, VK), the whole command.

Time is measured inside the child around the work (imports included, the
interpreter's start not), except for ``validate`` (wall time of the process).
Memory is the child's peak resident set (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

FLOOR = """
import json, resource, sys, time, io
t = time.perf_counter()
from PIL import Image
image = Image.open(sys.argv[1]); image.load()
out = io.BytesIO(); image.save(out, "JPEG")
print(json.dumps({"seconds": time.perf_counter() - t, "kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "bytes": len(out.getvalue())}))
"""

PREPARE = """
import json, resource, sys, time
t = time.perf_counter()
from pathlib import Path
from crosspost.images import prepare_all
results = prepare_all(Path(sys.argv[1]).read_bytes(), sys.argv[2].split(","))
print(json.dumps({"seconds": time.perf_counter() - t, "kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "bytes": {p: len(r.data) for p, r in results.items()},
                  "sizes": {p: [r.width, r.height] for p, r in results.items()}}))
"""

CONFIG = """\
[accounts.twitter]
platform = "twitter"
consumer_key = "bench"
consumer_secret = "bench"
access_token = "bench"
access_token_secret = "bench"

[accounts.facebook]
platform = "facebook"
page_id = "1234567890"
page_access_token = "bench"

[accounts.vk]
platform = "vk"
group_id = 123456
access_token = "bench"
"""


def camera_photo(width: int, height: int) -> bytes:
    """A JPEG about as heavy as a 24-megapixel camera's at its finest quality, with its metadata."""
    from PIL import Image, ImageCms

    rng = random.Random(2026)
    small = (width // 16, height // 16)
    fields = Image.frombytes("RGB", small, rng.randbytes(small[0] * small[1] * 3)).resize((width, height))
    grain = Image.frombytes("L", (width, height), rng.randbytes(width * height)).convert("RGB")
    picture = Image.blend(fields, grain, 0.18)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = "Canon", "Canon EOS R5", 6
    exif[0x8825] = {1: "N", 2: (39.0, 1.0, 30.0), 3: "E", 4: (125.0, 45.0, 15.0)}
    out = io.BytesIO()
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    picture.save(out, "JPEG", quality=97, exif=exif, icc_profile=icc, xmp=b"<x:xmpmeta>bench</x:xmpmeta>")
    return out.getvalue()


def child(code: str, *args: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def best(runs: int, measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    results = [measure() for _ in range(runs)]
    fastest = min(results, key=lambda r: float(r["seconds"]))
    return {**fastest, "kb": max(int(r["kb"]) for r in results)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", default="6000x4000", help="the photo's width x height in pixels")
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="crosspost-image-bench-") as folder:
        root = Path(folder)
        photo = root / "posts" / "media" / "photo.jpg"
        photo.parent.mkdir(parents=True)
        photo.write_bytes(camera_photo(width, height))
        (root / "crosspost.toml").write_text(CONFIG, encoding="utf-8")
        (root / "crosspost.toml").chmod(0o600)
        post = root / "posts" / "p.md"
        post.write_text('+++\nimages = ["media/photo.jpg"]\n+++\nA photo.\n', encoding="utf-8")
        print(f"photo: {width}x{height} px, {photo.stat().st_size / 1e6:.1f} MB; best of {args.runs} runs")
        rows: list[tuple[str, dict[str, Any]]] = [
            ("floor: Pillow open + save", best(args.runs, lambda: child(FLOOR, str(photo))))
        ]
        for platforms in ("twitter", "facebook", "vk", "telegram", "twitter,facebook,vk,telegram"):
            label = f"prepare {platforms}" if "," not in platforms else "prepare_all (4 platforms)"
            rows.append((label, best(args.runs, functools.partial(child, PREPARE, str(photo), platforms))))

        def validate() -> dict[str, Any]:
            start = time.perf_counter()
            env = {**os.environ, "PYTHONPATH": str(REPO)}
            cmd = [sys.executable, "-m", "crosspost", "--config", str(root / "crosspost.toml"), "validate", str(post)]
            subprocess.run(cmd, capture_output=True, check=True, env=env)
            return {"seconds": time.perf_counter() - start, "kb": 0}

        rows.append(("crosspost validate (3 accounts), wall", best(args.runs, validate)))
        floor = float(rows[0][1]["seconds"])
        print(f"{'case':42} {'seconds':>8} {'x floor':>8} {'peak MB':>8}  result")
        for label, r in rows:
            seconds, kb = float(r["seconds"]), int(r["kb"])
            result = r.get("bytes", "")
            if isinstance(result, dict):
                result = ", ".join(f"{p} {b / 1e6:.1f} MB" for p, b in result.items())
            memory = f"{kb / 1024:.0f}" if kb else "-"
            print(f"{label:42} {seconds:8.2f} {seconds / floor:8.1f} {memory:>8}  {result}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
