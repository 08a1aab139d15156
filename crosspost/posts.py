"""The post file format (contract: "The post file"): parse, check, render to drafts.

A post file is UTF-8 Markdown after a TOML front matter block between two
``+++`` lines. Every problem found is a :class:`PostProblem` at ``FILE:LINE``
(the line of the front matter key, or of the body, responsible) and all of
them are raised together, in file order, as one :class:`PostError`: a user
fixes the whole file in one go rather than one error per run.

Nothing heavy is imported here (no database, no platform library; Pillow only
when an image is checked) so that ``validate`` and ``preview`` answer fast.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from crosspost.config import PLATFORMS, Settings
from crosspost.errors import PostError, PostProblem, TimeFormatError
from crosspost.model import Content, Draft, Image
from crosspost.render import draft_findings, render_draft
from crosspost.text_checks import INVISIBLE, check_body
from crosspost.timeutil import localize, parse_when

if TYPE_CHECKING:
    from crosspost.images import Prepared

FENCE = "+++"
TOP_KEYS = ("title", "publish_at", "to", "link", "tags", "images", "variants")
VARIANT_KEYS = ("body", "link", "tags", "images")
IMAGE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
# MPO is how Pillow names a camera's multi-picture JPEG (a JPEG with a preview or depth picture after it).
IMAGE_FORMATS["MPO"] = IMAGE_FORMATS["JPEG"]
_FORMATS_IN_WORDS = "a JPEG, PNG, GIF or WebP file"
# Far above any platform's limit (Facebook's 63,206 characters), and small enough to check in seconds.
MAX_FILE_BYTES = 256 * 1024


@dataclass(frozen=True)
class ParsedPost:
    """A post file, checked: its front matter resolved and the content each target account gets.

    ``contents`` has one entry per target (its variant applied). ``lines`` maps
    front matter keys (``"title"``, ``"variants.vk.body"``, ...) to their line;
    ``body_line`` is the body's first line.
    """

    source: Path
    title: str
    publish_at: datetime | None
    targets: tuple[str, ...]
    contents: dict[str, Content]
    lines: Mapping[str, int] = field(default_factory=dict)
    body_line: int = 1
    # Every configured account's content and, per account and field, the line that set it:
    # `--to` may name accounts the file's `to` left out, and problems must point at the right key.
    all_contents: Mapping[str, Content] = field(default_factory=dict, repr=False)
    origins: Mapping[str, Mapping[str, int]] = field(default_factory=dict, repr=False)
    # Warnings: what the post goes out without (an HTML comment, say); shown by validate and preview.
    notes: tuple[PostProblem, ...] = ()
    # Information, not problems: what will be done to the images for each platform (set by load_drafts).
    image_notes: tuple[PostProblem, ...] = ()

    def line_of(self, account: str, key: str) -> int:
        """The line that gave ``account`` its ``key`` (body, link, tags or images)."""
        return self.origins.get(account, {}).get(key, self.body_line if key == "body" else 1)

    def with_targets(self, targets: Sequence[str]) -> ParsedPost:
        """The same post sent to ``targets`` instead (accounts known to the config)."""
        chosen = tuple(dict.fromkeys(targets))
        return dataclasses.replace(self, targets=chosen, contents={a: self.all_contents[a] for a in chosen})


def parse_post(path: Path, settings: Settings, *, now: datetime) -> ParsedPost:
    """Read and check the post file at ``path``; raise PostError listing every problem found."""
    return _Parser(path, settings, now).parse()


def load_drafts(
    path: Path, settings: Settings, *, now: datetime, to: Sequence[str] | None = None
) -> tuple[ParsedPost, list[Draft]]:
    """Parse the post, send it to ``to`` if given (the CLI's ``--to``), and render a checked Draft per target."""
    post = parse_post(path, settings, now=now)
    shown = str(path)
    if to is not None:
        unknown = [name for name in to if name not in settings.accounts]
        if unknown:
            raise PostError(
                [
                    PostProblem(
                        shown,
                        1,
                        f'unknown account "{name}" in --to; accounts in the config: {", ".join(settings.accounts)}',
                    )
                    for name in unknown
                ]
            )
        post = post.with_targets(to)
    if not post.targets:
        raise PostError([PostProblem(shown, 1, "no account to post to; add [accounts.NAME] tables to the config")])
    drafts: list[Draft] = []
    problems: list[PostProblem] = []
    for name in post.targets:
        account = settings.accounts[name]
        content = post.contents[name]
        draft = render_draft(account, content)
        for finding in draft_findings(account, draft):
            key = finding.field
            if key == "tail":  # the link and hashtags of a first tweet: blame the tags if any, else the link
                key = "tags" if content.tags else "link"
            problems.append(PostProblem(shown, post.line_of(name, key), finding.message))
        drafts.append(draft)
    image_problems, notes = image_findings(post, drafts, shown)
    problems += image_problems
    if problems:
        raise PostError(sorted(problems, key=lambda p: p.line))
    return dataclasses.replace(post, image_notes=tuple(notes)), drafts


def image_findings(
    post: ParsedPost, drafts: Sequence[Draft], shown: str
) -> tuple[list[PostProblem], list[PostProblem]]:
    """Each image prepared for each target platform (as queue will): problems, and notes on what is done.

    A note per image for what every platform gets (metadata removed, turned upright), and one per
    image and platform whose copy differs in size or format (``9.1 MB, scaled to 4.6 MB for twitter``).
    The preparations are kept in the process, so ``queue`` then stores them without doing them again.
    """
    from crosspost.images import ImageUnfit, limits_for, prepare, prepare_all

    folder = post.source.parent
    accounts: dict[tuple[Path, str], list[str]] = {}  # (image, platform): the accounts that get it
    lines: dict[Path, int] = {}
    for draft in drafts:
        for image in draft.images:
            accounts.setdefault((image.path, draft.platform), []).append(draft.account)
            lines.setdefault(image.path, post.line_of(draft.account, "images"))
    problems: list[PostProblem] = []
    notes: list[PostProblem] = []
    data: dict[Path, bytes] = {}
    for path, line in lines.items():
        name = _relative(path, folder)
        try:
            data[path] = path.read_bytes()
        except OSError as exc:
            problems.append(PostProblem(shown, line, f'image "{name}" cannot be read ({exc.strerror})'))
            continue
        platforms = [p for (q, p) in accounts if q == path]
        try:  # decoded once for all its platforms (a platform it cannot fit is said below)
            prepare_all(data[path], platforms)
        except ImageUnfit:
            pass
        for platform in platforms:  # the same for every platform: said once, from the first that fits
            try:
                notes += _upright_and_clean(prepare(data[path], platform), shown, line, name)
                break
            except ImageUnfit:
                continue
    animated: dict[str, str] = {}  # account: an animated GIF it gets
    for (path, platform), names in accounts.items():
        if path not in data:
            continue
        name, line = _relative(path, folder), lines[path]
        try:
            prepared = prepare(data[path], platform)
        except ImageUnfit as exc:
            problems.append(PostProblem(shown, line, f'image "{name}" {exc}'))
            continue
        change = prepared.change()
        if change:
            notes.append(PostProblem(shown, line, f"{name}: {change} for {', '.join(names)}"))
        if prepared.frames > 1 and limits_for(platform).gif_alone:
            animated.update(dict.fromkeys(names, name))
    for draft in drafts:
        if draft.account in animated and len(draft.images) > 1:
            problems.append(
                PostProblem(
                    shown,
                    post.line_of(draft.account, "images"),
                    f'{draft.account} takes one animated GIF alone or up to 4 photos, not "{animated[draft.account]}" '
                    f"with other images; give {draft.account} its own images in a [variants.{draft.account}] table",
                )
            )
    return problems, notes


def _upright_and_clean(prepared: Prepared, shown: str, line: int, name: str) -> list[PostProblem]:
    """What every platform's copy of an image has done to it: its metadata removed, turned upright."""
    notes = []
    if prepared.removed:
        notes.append(PostProblem(shown, line, f"{name}: {', '.join(prepared.removed)} removed before publishing"))
    if prepared.orientation != 1:
        notes.append(PostProblem(shown, line, f"{name}: turned upright (EXIF orientation {prepared.orientation})"))
    return notes


def _relative(path: Path, folder: Path) -> str:
    """An image's path as the author wrote it: relative to the post's folder."""
    try:
        return str(path.relative_to(folder))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------- the parser


class _Parser:
    """One parse of one file: collects problems instead of stopping at the first."""

    def __init__(self, path: Path, settings: Settings, now: datetime) -> None:
        self.path = path
        self.shown = str(path)
        self.settings = settings
        self.now = now
        self.problems: list[PostProblem] = []
        self.lines: dict[str, int] = {}
        self.block: list[str] = []
        self.first_line = 2  # file line of the front matter's first line
        self.folder = path.resolve().parent
        self.images_seen: dict[str, Image | None] = {}
        self.notes: list[PostProblem] = []

    def problem(self, line: int, message: str) -> None:
        self.problems.append(PostProblem(self.shown, line, message))

    def fail(self) -> PostError:
        return PostError(sorted(self.problems, key=lambda p: p.line))

    def parse(self) -> ParsedPost:
        text = self.read()
        if text is None:
            raise self.fail()
        split = self.split(text)
        if split is None:
            raise self.fail()
        front, body, body_line = split
        data = self.toml(front)
        if data is None:
            raise self.fail()
        self.lines = _key_lines(self.block, self.first_line)
        post = self.build(data, body, body_line)
        if self.problems:
            raise self.fail()
        assert post is not None
        return post

    # ---- the file as text

    def read(self) -> str | None:
        try:
            if self.path.exists() and not self.path.is_dir() and not self.path.is_file():
                # A FIFO or a device: opening it could block for ever or read without end.
                self.problem(1, "is not a regular file (a pipe or a device); name the post's .md file")
                return None
            with self.path.open("rb") as file:
                raw = file.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            self.problem(1, "file not found; check the path")
            return None
        except IsADirectoryError:
            self.problem(1, "is a folder, not a post file; name the .md file")
            return None
        except OSError as exc:
            self.problem(1, f"cannot read the file ({exc.strerror}); check its permissions")
            return None
        if len(raw) > MAX_FILE_BYTES:
            self.problem(
                1,
                f"the file is over {MAX_FILE_BYTES // 1024} KiB, far beyond any platform's limit "
                "(Facebook takes 63,206 characters); shorten it",
            )
            return None
        if not raw.strip():
            self.problem(1, "the file is empty; write a +++ line, the front matter, a closing +++ line, then the body")
            return None
        if b"\x00" in raw:
            self.problem(1, "not a text file (it holds binary data); name the post's UTF-8 Markdown file")
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            self.problem(line, f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8")
            return None
        return text.removeprefix("\ufeff")

    def split(self, text: str) -> tuple[str, str, int] | None:
        """The front matter, the body and the body's first line; ``None`` if the fences are wrong."""
        lines = text.splitlines(keepends=True)
        if lines[0].rstrip() != FENCE:
            self.problem(
                1,
                "the file must start with a +++ line; put the front matter between two +++ lines "
                "(an empty block is fine)",
            )
            return None
        for index in range(1, len(lines)):
            if lines[index].rstrip() == FENCE:
                self.block = [line.rstrip("\r\n") for line in lines[1:index]]
                rest = lines[index + 1 :]
                blank = next((k for k, line in enumerate(rest) if line.strip()), 0)
                return "".join(lines[1:index]), "".join(rest).strip(), index + 2 + blank
        self.problem(1, "the front matter opened here is never closed; add a +++ line after it")
        return None

    def toml(self, front: str) -> dict[str, Any] | None:
        try:
            return tomllib.loads(front)
        except tomllib.TOMLDecodeError as exc:
            message = str(exc)
            match = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
            duplicate = _duplicate(self.block, self.first_line) if message.startswith("Cannot") else None
            if duplicate:  # tomllib may notice a key set twice only at the end: name it and its line
                self.problem(duplicate[1], f'"{duplicate[0]}" is set twice; keep one')
                return None
            if match:
                line = int(match.group(1)) + self.first_line - 1
                message = f"{message[: match.start()]} (column {match.group(2)})"
            else:  # "(at end of document)": an unclosed string or bracket; the block ends at the closing +++
                line = len(self.block) + self.first_line
                message = re.sub(r"\s*\(at end of document\)$", " at the end of the front matter", message)
            bad_date = re.search(
                r"=\s*(\d{4}-\d\d-\d\d[T ]?[\d:.]*\S*)",
                self.block[line - self.first_line] if line - self.first_line < len(self.block) else "",
            )
            if bad_date and match:
                self.problem(
                    line,
                    f"{bad_date.group(1)} is not a valid date-time; write a real date and time, such "
                    "as 2027-03-17T10:00:00+09:00 or 2027-03-17T10:00:00",
                )
                return None
            self.problem(line, f"TOML syntax error: {message}; fix the front matter at that line")
            return None

    # ---- the keys

    def line(self, key: str) -> int:
        """The line of ``key`` (dotted), else of its nearest parent, else the front matter's first."""
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key.rpartition(".")[0]
        return self.first_line - 1

    def line_with(self, key: str, needle: str) -> int:
        """The first line at or after ``key``'s that holds ``needle`` (an entry of a list), else ``key``'s."""
        start = self.line(key)
        for number in range(start, self.first_line + len(self.block)):
            if needle in self.block[number - self.first_line]:
                return number
        return start

    def build(self, data: dict[str, Any], body: str, body_line: int) -> ParsedPost | None:
        for key in data:
            if key not in TOP_KEYS:
                self.problem(self.line(key), f'unknown key "{key}"; allowed keys: {", ".join(TOP_KEYS)}')
        title = self.title(data)
        publish_at = self.publish_at(data)
        targets = self.targets(data)
        base = self.fields(data, "", body)
        variants = self.variants(data)
        origins_base: dict[str, int] = {"body": body_line}
        origins_base.update({k: self.line(k) for k in ("link", "tags", "images") if k in data})
        contents: dict[str, Content] = {}
        origins: dict[str, dict[str, int]] = {}
        for name, account in self.settings.accounts.items():
            merged, where = dict(base), dict(origins_base)
            # The platform's variant first, so that the account's own variant wins over it.
            for variant in dict.fromkeys((account.platform, name)):
                for key, value in variants.get(variant, {}).items():
                    merged[key] = value
                    where[key] = self.line(f"variants.{variant}.{key}")
            contents[name] = Content(
                body=merged["body"], link=merged["link"], tags=merged["tags"], images=merged["images"]
            )
            origins[name] = where
        self.check_bodies(body, body_line, variants)
        if self.problems:
            return None
        return ParsedPost(
            source=self.path.resolve(),
            title=title,
            publish_at=publish_at,
            targets=targets,
            contents={name: contents[name] for name in targets},
            lines=dict(self.lines),
            body_line=body_line,
            all_contents=contents,
            origins=origins,
            notes=tuple(sorted(self.notes, key=lambda p: p.line)),
        )

    def check_bodies(self, body: str, body_line: int, variants: dict[str, dict[str, Any]]) -> None:
        """What the body and each variant's body would not publish as written (see crosspost.text_checks)."""
        bodies = [(body, body_line)]
        for name, values in variants.items():
            if "body" in values:
                line = self.line(f"variants.{name}.body")
                opening = self.block[line - self.first_line] if line >= self.first_line else ""
                if re.search(r"=\s*(\"\"\"|''')\s*$", opening):
                    # body = """ alone on its line: the text (stripped) starts at the next line that holds any.
                    line += 1
                    while line - self.first_line < len(self.block) and not self.block[line - self.first_line].strip():
                        line += 1
                bodies.append((values["body"], line))
        for text, first in bodies:
            for finding in check_body(text):
                where = PostProblem(self.shown, first + finding.line, "warning: " + finding.message)
                if finding.warning:
                    self.notes.append(where)
                else:
                    self.problem(first + finding.line, finding.message)

    def title(self, data: dict[str, Any]) -> str:
        title = data.get("title", self.path.stem)
        if not isinstance(title, str):
            self.problem(self.line("title"), 'title must be a string, such as title = "Reception on National Day"')
            return self.path.stem
        if not title.strip():
            self.problem(self.line("title"), "title is empty; write a title or remove the key (the file name is used)")
        return title.strip()

    def publish_at(self, data: dict[str, Any]) -> datetime | None:
        if "publish_at" not in data:
            return None
        value = data["publish_at"]
        line = self.line("publish_at")
        zone = self.settings.timezone
        if isinstance(value, datetime):
            try:
                return localize(value, zone)
            except TimeFormatError as exc:  # a local time in a DST gap or fold
                self.problem(line, f"publish_at: {exc}")
                return None
        if isinstance(value, date):
            self.problem(
                line,
                f"publish_at {value.isoformat()} has no time of day; "
                f'write {value.isoformat()}T10:00:00 or "{value.isoformat()} 10:00"',
            )
            return None
        if isinstance(value, time):
            self.problem(line, "publish_at has a time but no date; write a date-time such as 2027-03-17T10:00:00")
            return None
        if isinstance(value, str):
            try:
                return parse_when(value, zone, self.now)
            except TimeFormatError as exc:
                self.problem(line, f"publish_at: {exc}")
                return None
        self.problem(line, 'publish_at must be a date-time, such as 2027-03-17T10:00:00+09:00 or "2027-03-17 10:00"')
        return None

    def targets(self, data: dict[str, Any]) -> tuple[str, ...]:
        accounts = tuple(self.settings.accounts)
        if "to" not in data:
            return accounts
        value = data["to"]
        line = self.line("to")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(line, 'to must be a list of account names, such as to = ["twitter", "vk"]')
            return ()
        if not value:
            self.problem(line, "to is empty; name at least one account, or remove the to line to post to every account")
        chosen: list[str] = []
        for name in value:
            if name not in self.settings.accounts:
                self.problem(
                    self.line_with("to", f'"{name}"'),
                    f'unknown account "{name}" in to; accounts in the config: {", ".join(accounts)}',
                )
            elif name in chosen:
                self.problem(line, f'account "{name}" is named twice in to; remove one')
            else:
                chosen.append(name)
        return tuple(chosen)

    def variants(self, data: dict[str, Any]) -> dict[str, dict[str, Any]]:
        if "variants" not in data:
            return {}
        value = data["variants"]
        if not isinstance(value, dict):
            self.problem(self.line("variants"), 'variants must be tables, such as [variants.vk] with body = "..."')
            return {}
        known_names = [*self.settings.accounts, *(p for p in PLATFORMS if p not in self.settings.accounts)]
        out: dict[str, dict[str, Any]] = {}
        for name, table in value.items():
            key = f"variants.{name}"
            if name not in self.settings.accounts and name not in PLATFORMS:
                self.problem(
                    self.line(key), f'unknown variant "{name}"; name an account or a platform: {", ".join(known_names)}'
                )
                continue
            if not isinstance(table, dict):
                self.problem(self.line(key), f'{key} must be a table; write [{key}] followed by body = "..."')
                continue
            for sub in table:
                if sub not in VARIANT_KEYS:
                    self.problem(
                        self.line(f"{key}.{sub}"),
                        f'unknown key "{sub}" in [{key}]; allowed keys: {", ".join(VARIANT_KEYS)}',
                    )
            values = self.fields(table, key + ".", None)
            out[name] = {k: values[k] for k in VARIANT_KEYS if k in table}
        return out

    def fields(self, table: dict[str, Any], prefix: str, body: str | None) -> dict[str, Any]:
        """``body``, ``link``, ``tags`` and ``images`` of the top level or of a variant, checked."""
        out: dict[str, Any] = {"body": body or "", "link": None, "tags": (), "images": ()}
        if prefix and "body" in table:
            if isinstance(table["body"], str):
                out["body"] = table["body"].strip()
            else:
                self.problem(
                    self.line(prefix + "body"),
                    f'body in [{prefix[:-1]}] must be a string; write body = """...""" with Markdown',
                )
        if "link" in table:
            out["link"] = self.link(prefix + "link", table["link"])
        if "tags" in table:
            out["tags"] = self.tags(prefix + "tags", table["tags"])
        if "images" in table:
            out["images"] = self.images(prefix + "images", table["images"])
        return out

    def link(self, key: str, value: Any) -> str | None:
        if not isinstance(value, str):
            self.problem(
                self.line(key),
                f"{_named(key)} must be a string holding a web address, such as "
                f'{_short(key)} = "https://example.org/news"',
            )
            return None
        try:
            parts = urlsplit(value.strip())
            hostname = parts.hostname
        except ValueError:  # urlsplit refuses some malformed addresses outright ("https://[example.org")
            parts, hostname = urlsplit(""), None
        if INVISIBLE.search(value):
            self.problem(
                self.line(key),
                f"{_short(key)}{_where(key)} holds an invisible character (U+{ord(INVISIBLE.findall(value)[0]):04X}); "
                "type the address again or delete the character",
            )
            return None
        if parts.scheme not in ("http", "https") or not hostname or re.search(r"\s", value.strip()):
            self.problem(
                self.line(key),
                f'{_short(key)} "{value}"{_where(key)} is not a web address; write a full URL '
                "starting with https:// or http://",
            )
            return None
        return value.strip()

    def tags(self, key: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(
                self.line(key), f'{_named(key)} must be a list of strings, such as {_short(key)} = ["Russia", "DPRK"]'
            )
            return ()
        out: list[str] = []
        for raw in value:
            tag = raw.strip().removeprefix("#")
            line = self.line_with(key, f'"{raw}"')
            if not tag:
                self.problem(line, f'tag "{raw}" is empty; remove it')
            elif re.search(r"\s", tag):
                self.problem(
                    line,
                    f'tag "{raw}" has a space; write it as one word, such as '
                    f'"{"".join(w[:1].upper() + w[1:] for w in tag.split())}"',
                )
            elif not re.fullmatch(r"\w+", tag):
                fixed = re.sub(r"\W", "", tag) or "Tag"
                self.problem(line, f'tag "{raw}" may hold only letters, digits and _; write it as "{fixed}"')
            elif tag.lower() not in (t.lower() for t in out):
                out.append(tag)
        return tuple(out)

    def images(self, key: str, value: Any) -> tuple[Image, ...]:
        example = f'{_short(key)} = [{{ path = "media/photo.jpg", alt = "What the photo shows" }}]'
        if not isinstance(value, list):
            self.problem(
                self.line(key), f"{_named(key)} must be a list of files or {{path, alt}} tables, such as {example}"
            )
            return ()
        out: list[Image] = []
        for n, entry in enumerate(value, 1):
            if isinstance(entry, str):
                entry = {"path": entry}
            if not isinstance(entry, dict):
                self.problem(
                    self.line(key),
                    f"image {n} in {_named(key)} must be a file path or a {{path, alt}} table, such as {example}",
                )
                continue
            bad = [k for k in entry if k not in ("path", "alt")]
            for k in bad:
                self.problem(self.line_with(key, k), f'unknown key "{k}" in image {n}; allowed keys: path, alt')
            path, alt = entry.get("path"), entry.get("alt", "")
            if not isinstance(path, str) or not path.strip():
                self.problem(self.line(key), f"image {n} in {_named(key)} needs a path string, such as {example}")
                continue
            if not isinstance(alt, str):
                self.problem(
                    self.line_with(key, path),
                    f'the alt of image "{path}" must be a string, such as alt = "What the photo shows"',
                )
                continue
            image = self.image(self.line_with(key, f'"{path}"'), path)
            if image is not None and not bad:
                out.append(dataclasses.replace(image, alt=alt.strip()))
        return tuple(out)

    def image(self, line: int, given: str) -> Image | None:
        """The image file at ``given`` (relative to the post's folder), checked once per path."""
        if given in self.images_seen:
            return self.images_seen[given]
        checked = _check_image(self.folder, given)
        image = None if isinstance(checked, str) else checked
        if isinstance(checked, str):
            self.problem(line, checked)
        self.images_seen[given] = image
        return image


def _named(key: str) -> str:
    """How messages name a key: ``link``, or ``link in [variants.vk]``."""
    table, _, name = key.rpartition(".")
    return f"{name} in [{table}]" if table else name


def _where(key: str) -> str:
    """`` in [variants.vk]`` for a variant's key, nothing for a top-level one."""
    table = key.rpartition(".")[0]
    return f" in [{table}]" if table else ""


def _short(key: str) -> str:
    """The key as written on its line: ``variants.vk.link`` is ``link``."""
    return key.rpartition(".")[2]


_KEY = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_HEADER = re.compile(rf"^\s*\[\[?\s*({_DOTTED})\s*\]")
_ASSIGN = re.compile(rf"^\s*({_DOTTED})\s*=")


def _scan(block: Sequence[str], first_line: int) -> Iterator[tuple[list[str], int, bool]]:
    """Each table header and ``key =`` line of a TOML block: (dotted path, file line, is a header).

    tomllib keeps no positions, so the block is scanned again: headers set the
    current table, ``key =`` lines name keys in it, and the insides of
    multi-line strings are skipped (a body may hold lines that look like keys).
    """
    table: list[str] = []
    inside: str | None = None  # the delimiter of the multi-line string being skipped
    for number, text in enumerate(block, first_line):
        if inside is not None:
            if text.count(inside) % 2 == 1:
                inside = None
            continue
        header = _HEADER.match(text)
        if header:
            table = _key_parts(header.group(1))
            yield table, number, True
            continue
        assign = _ASSIGN.match(text)
        if assign:
            rest = text[assign.end() :]
            for delimiter in ('"""', "'''"):
                if rest.count(delimiter) % 2 == 1:
                    inside = delimiter
                    break
            yield table + _key_parts(assign.group(1)), number, False


def _key_lines(block: Sequence[str], first_line: int) -> dict[str, int]:
    """The line of every key and table header of a (valid) TOML block, by dotted key path."""
    lines: dict[str, int] = {}
    for path, number, _ in _scan(block, first_line):
        for end in range(1, len(path) + 1):
            lines.setdefault(".".join(path[:end]), number)
    return lines


def _duplicate(block: Sequence[str], first_line: int) -> tuple[str, int] | None:
    """The first key (or table) set twice, and the line of its second setting."""
    seen: set[str] = set()
    for path, number, _ in _scan(block, first_line):
        key = ".".join(path)
        if key in seen:
            return key, number
        seen.add(key)
    return None


def _key_parts(dotted: str) -> list[str]:
    return [k[1:-1] if k[:1] in "\"'" else k for k in re.findall(_KEY, dotted)]


def _check_image(folder: Path, given: str) -> Image | str:
    """The image, or what is wrong with it in words."""
    if "\x00" in given:  # the OS cannot even look such a name up
        return f'image {given!r} has a NUL character in its path; name an image file such as "media/photo.jpg"'
    try:
        target = (folder / given).resolve()
        if not target.is_relative_to(folder):
            return (
                f'image "{given}" is outside the post\'s folder (after links are followed); move it into the '
                "folder that holds the post file, or below it, and fix the path"
            )
        if not target.exists():
            return f'image "{given}" not found; the path is relative to the folder that holds the post file'
        if not target.is_file():
            return f'image "{given}" is not a file; name an image file such as "media/photo.jpg"'
        data = target.read_bytes()
    except OSError as exc:
        return f'image "{given}" cannot be read ({exc.strerror}); check the path and its permissions'
    kind = _image_format(data)
    if kind is None:
        return f'image "{given}" is not a readable image; use {_FORMATS_IN_WORDS}'
    if kind not in IMAGE_FORMATS:
        return f'image "{given}" is a {kind} image; convert it to {_FORMATS_IN_WORDS}'
    return Image(path=target, sha256=hashlib.sha256(data).hexdigest(), mime=IMAGE_FORMATS[kind])


def _image_format(data: bytes) -> str | None:
    """Pillow's name for the image format of ``data`` (``"JPEG"``...), ``None`` if it is not an image."""
    import io

    # Imported here: Pillow's plugins take a noticeable while to load and most commands need none.
    from PIL import Image as PILImage

    try:
        with PILImage.open(io.BytesIO(data)) as img:
            kind = img.format
            img.verify()
    except Exception:  # Pillow raises many types for a damaged or foreign file; all mean "not an image"
        return None
    return kind or None
