"""The crosspost command line: thin click commands over the library.

Each command imports what it needs inside its body, so ``--help``, ``validate``
and ``preview`` never load SQLAlchemy or a platform library, and ``list`` and
``log`` never load a platform library (the contract's speed promise).
Errors become one ``crosspost: error: ...`` line here, at the edge.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from functools import cached_property
from itertools import chain, islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from crosspost import __version__
from crosspost.errors import CrosspostError, PostError

if TYPE_CHECKING:
    from crosspost.config import Settings
    from crosspost.store.records import DeliveryRecord, PostSummary
    from crosspost.store.sql import SqlStore

# Kept here rather than imported from crosspost.store.records, so --help loads nothing of the store.
POST_STATUSES = ("sending", "queued", "sent", "cancelled", "partial", "failed")
DELIVERY_STATUSES = ("pending", "sending", "retrying", "sent", "failed", "unknown", "missed", "cancelled")
DEFAULT_SANDBOX_PORT = 8080
ATTENTION = ("failed", "unknown", "missed")  # the delivery statuses that need a person (--attention)
LIST_STATUSES = (*POST_STATUSES, *(s for s in DELIVERY_STATUSES if s not in POST_STATUSES))


class Failure(CrosspostError):
    """A command's own failure: ``problems`` go to stderr one per line, then the message as the last line."""

    def __init__(self, message: str, problems: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


class App:
    """What the commands share: the config (read on first use), the clock (read once), the store."""

    def __init__(self, config: str | None, debug: bool) -> None:
        self.config_option = config
        self.debug = debug
        self._settings: Settings | None = None
        self._store: SqlStore | None = None
        self.journal = False  # stderr is journald's: each line gets its <N> priority (crosspost.journal)

    @cached_property
    def now(self) -> datetime:
        return datetime.now(UTC)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from crosspost.config import find_config_path, load_config

            path = find_config_path(self.config_option, os.environ, Path.cwd())
            self._settings = load_config(path, os.environ)
            for warning in self._settings.warnings:
                self.err(f"crosspost: {warning}")
        return self._settings

    @property
    def secrets(self) -> frozenset[str]:
        return self._settings.secrets if self._settings is not None else frozenset()

    @property
    def store(self) -> SqlStore:
        """The database as it is: one that does not exist yet or needs `crosspost upgrade` is an error."""
        return self.open_store("existing")

    def open_store(self, schema: str) -> SqlStore:
        """The store, opened under ``schema`` (crosspost.store.migrations: upgrade, create or existing)."""
        if self._store is None:
            from crosspost.store.sql import SqlStore

            self._store = SqlStore(self.settings.database_url, self.settings.media_dir, schema=schema)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def out(self, text: str) -> None:
        """Print to stdout, with any secret value masked."""
        click.echo(self.mask(text))

    def err(self, text: str) -> None:
        """Print a problem to stderr, redacted."""
        from crosspost.redact import Redacted, redact

        if not (isinstance(text, Redacted) and text.masks(self.secrets)):  # a daemon's line is done already
            text = redact(text, self.secrets)
        if self.journal:
            from crosspost.journal import prefixed

            text = "\n".join(prefixed(line) for line in text.split("\n"))
        # Not click.echo: it asks the stream whether it is a terminal on every call (an ioctl), and the
        # daemon writes a line per delivery. Our lines carry no colour for it to strip.
        stream = sys.stderr
        stream.write(text + "\n")
        stream.flush()

    def mask(self, text: str) -> str:
        """Secret values only: stdout is the user's own content (a post may well say "password=")."""
        from crosspost.redact import mask_secrets

        return mask_secrets(text, self.secrets)

    def fail(self, exc: BaseException) -> NoReturn:
        """Report ``exc`` as problems and one final error line (a traceback first with --debug); exit 1."""
        from crosspost.redact import redact

        if self.debug:
            click.echo(redact("".join(traceback.format_exception(exc)), self.secrets).rstrip(), err=True)
        if isinstance(exc, Failure | PostError):
            for problem in exc.problems:
                self.err(str(problem))
        if isinstance(exc, PostError):
            message = f"{len(exc.problems)} problem(s) in the post file"
        elif isinstance(exc, CrosspostError):
            message = str(exc)
        else:
            hint = "" if self.debug else "; run with --debug for details"
            message = f"internal error: {type(exc).__name__}: {exc}{hint}"
        self.err("crosspost: error: " + " ".join(message.split("\n")))
        sys.exit(1)


class CrosspostGroup(click.Group):
    """A click group that turns crosspost's errors (and unexpected ones) into one line and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:  # `crosspost log | head`: the reader left; nothing to report
            sys.stderr.close()
            sys.exit(1)
        except Exception as exc:  # noqa: BLE001 - the edge: every error becomes one line
            app = ctx.obj if isinstance(ctx.obj, App) else App(None, False)
            app.fail(exc)


@click.group(name="crosspost", cls=CrosspostGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    help="The config file (default: $CROSSPOST_CONFIG, else ./crosspost.toml).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
@click.version_option(__version__, "--version", prog_name="crosspost", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, config: str | None, debug: bool) -> None:
    """Write a post once; publish it on time to Twitter/X, a Facebook Page and a VK community."""
    app = App(config, debug)
    ctx.obj = app
    ctx.call_on_close(app.close)


pass_app = click.pass_obj
LIMIT_HELP = "Only the first N (0: all; on a terminal the default is 200, a pipe gets all)."
WIDE_HELP = "Show every column in full, with absolute times (on a terminal, lines may wrap)."
WHEN_HELP = "WHEN: ISO 8601 (naive is in the config timezone), 'now', or a delay such as +30m, +2h, +1d."


def _load(app: App, path: Path, to: tuple[str, ...] | None = None, *, doing: str) -> tuple[Any, list[Any]]:
    """Parse and render a post file; its problems become one Failure."""
    from crosspost.posts import load_drafts

    try:
        return load_drafts(path, app.settings, now=app.now, to=list(to) if to else None)
    except PostError as exc:
        raise Failure(f"{path}: {_count(len(exc.problems), 'problem')}; {doing}", map(str, exc.problems)) from None


def _duration(value: Any) -> str:
    seconds = int(value.total_seconds())
    parts = [(seconds // 86400, "d"), (seconds % 86400 // 3600, "h"), (seconds % 3600 // 60, "m"), (seconds % 60, "s")]
    return "".join(f"{n}{unit}" for n, unit in parts if n) or "0s"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# ---------------------------------------------------------------- post files


@cli.command(short_help="Check post files against the config.")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@pass_app
def validate(app: App, files: tuple[Path, ...]) -> None:
    """Check post files against the config; exit 1 if any has a problem."""
    from crosspost.posts import load_drafts
    from crosspost.timeutil import human

    bad = 0
    for path in files:
        try:
            parsed, drafts = load_drafts(path, app.settings, now=app.now)
        except PostError as exc:
            bad += 1
            for problem in exc.problems:
                app.err(str(problem))
            continue
        for note in parsed.notes:  # warnings: the post is fine, but goes out without something
            app.err(str(note))
        targets = ", ".join(d.account + (f" (thread of {len(d.parts)})" if len(d.parts) > 1 else "") for d in drafts)
        when = human(parsed.publish_at, app.settings.timezone) if parsed.publish_at else "not set (queue needs --at)"
        app.out(f"{path}: ok; to {targets}; publish_at {when}")
        for note in parsed.image_notes:  # what will be done to the images: information, not a problem
            app.out(str(note))
    if bad:
        raise Failure(f"{bad} of {_count(len(files), 'file')} had problems")


@cli.command(short_help="Show each account's text exactly as it will be sent.")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array, one object per target account.")
@click.option(
    "--account",
    "accounts_shown",
    metavar="NAME",
    multiple=True,
    help="Show only this account (repeat); any account of the config, as queue --to would send it.",
)
@pass_app
def preview(app: App, file: Path, as_json: bool, accounts_shown: tuple[str, ...]) -> None:
    """Show, for each target account, the text or thread parts exactly as they will be sent,
    each part's length as the platform counts it against its limit, and the images.

    Text lines longer than the terminal are wrapped between words for reading (a wrapped
    line goes on indented by two more spaces); --json gives the text exactly."""
    import shutil

    from crosspost import output
    from crosspost.render import measure

    unknown = [name for name in accounts_shown if name not in app.settings.accounts]
    if unknown:
        raise Failure(
            f"--account {unknown[0]}: no such account in {app.settings.path}; "
            f"the accounts are: {', '.join(app.settings.accounts)}"
        )
    parsed, drafts = _load(app, file, accounts_shown or None, doing="fix them, then preview again")
    for note in parsed.notes:
        app.err(str(note))
    accounts = app.settings.accounts
    if as_json:
        items = [output.preview_json(accounts[d.account], d, measure(accounts[d.account], d)) for d in drafts]
        _print_json(app, items)
        return
    # Wrapped only for a reader at a terminal (or one who sets COLUMNS): a pipe gets the lines as sent.
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() or "COLUMNS" in os.environ else None
    base = file.resolve().parent
    lines: list[str] = []
    for d in drafts:
        lines += output.preview_lines(accounts[d.account], d, measure(accounts[d.account], d), base, width=width)
    app.out("\n".join(lines).rstrip("\n"))


@cli.command(short_help="Queue a post file; print the new post id.")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--at", "at", metavar="WHEN", help="When to publish; wins over the file's publish_at. " + WHEN_HELP)
@click.option("--to", "to", metavar="ACCOUNT", multiple=True, help="A target account (repeat); replaces the file's to.")
@click.option("--again", is_flag=True, help="Queue it even if the same file, unchanged, is already queued or sent.")
@pass_app
def queue(app: App, file: Path, at: str | None, to: tuple[str, ...], again: bool) -> None:
    """Validate a post file, then store a snapshot of it and one delivery per target account.

    Prints the new post id alone on stdout, and on stderr when it goes out. Later edits
    to the file change nothing already queued.
    """
    from crosspost.errors import AlreadyQueued
    from crosspost.fingerprint import content_hash
    from crosspost.timeutil import due_line, parse_when

    settings = app.settings
    unknown = [name for name in to if name not in settings.accounts]
    if unknown:
        raise Failure(
            f"--to {unknown[0]}: no such account in {settings.path}; the accounts are: {', '.join(settings.accounts)}"
        )
    due = parse_when(at, settings.timezone, app.now, natural=True) if at is not None else None
    parsed, drafts = _load(app, file, to, doing="nothing queued")
    due = due or parsed.publish_at
    if due is None:
        raise Failure(
            f"{file}: no publish time; add publish_at = 2027-03-17T10:00:00 to its front matter or pass --at WHEN"
        )
    _refuse_past(app, due, f"{file}: the publish time", "write a later time, or --at now to send it at once")
    title = parsed.title or file.stem
    try:
        post_id = app.open_store("create").queue_post(
            title=title,
            source=str(parsed.source),
            drafts=drafts,
            due_at=due,
            now=app.now,
            content_hash=content_hash(parsed),
            again=again,
        )
    except AlreadyQueued as exc:
        from crosspost.output import post_status_text

        shown = post_status_text(exc.status, exc.delivery_statuses)
        raise Failure(
            f"{file}: the same file with the same content is already post {exc.post_id} ({shown}); nothing queued. "
            + _already_queued_fix(exc.post_id, exc.status)
        ) from None
    app.out(str(post_id))
    app.err(due_line(due, settings.timezone, app.now))


def _already_queued_fix(post_id: int, status: str) -> str:
    """What a person most likely wants instead of a second copy of a post."""
    if status in ("queued", "sending"):
        then = f"to move that post: crosspost reschedule {post_id} WHEN"
    elif status == "failed":  # retry looks a possibly public one (unknown) up before it sends anything
        then = f"to send that post again: crosspost retry {post_id}"
    else:
        then = f"to see where it went: crosspost show {post_id}"
    return f"To publish it once more, pass --again; {then}"


def _refuse_past(app: App, due: datetime, what: str, fix: str) -> None:
    """A time more than a minute ago is a mistake (a "tomorrow" that was today), not an order to send at once."""
    from crosspost.timeutil import PAST_GRACE, human, relative

    if app.now - due > PAST_GRACE:
        zone = app.settings.timezone
        raise Failure(f"{what} {human(due, zone)} is in the past ({relative(due - app.now)}); nothing changed; {fix}")


# ---------------------------------------------------------------- the queue and the log


@cli.command(name="list", short_help="List every post, soonest due first.")
@click.option(
    "--status",
    multiple=True,
    type=click.Choice(LIST_STATUSES),
    help="Only posts with this overall status, or with a delivery in it (repeat: any of them).",
)
@click.option(
    "--attention", is_flag=True, help="Only posts with a delivery that needs a person (failed, unknown, missed)."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of posts.")
@click.option("--limit", type=click.IntRange(min=0), metavar="N", help=LIMIT_HELP)
@click.option("--wide", is_flag=True, help=WIDE_HELP)
@pass_app
def list_(app: App, status: tuple[str, ...], attention: bool, as_json: bool, limit: int | None, wide: bool) -> None:
    """List every post (cancelled and finished ones too): the waiting ones soonest due first,
    then the rest newest first.

    On a terminal the table fits its width, times read "in 3 h" / "2 d ago", the first 200 posts
    are shown (--limit; --json too, the rest counted on stderr) and a long list goes through
    $PAGER; a pipe gets every post, in full, as the database reads them."""
    from crosspost import output
    from crosspost.terminal import Terminal

    zone = app.settings.timezone
    term = Terminal.detect(os.environ)
    shown = _shown_limit(limit, term)
    store = app.store
    # Chosen, ordered and counted by the database: a terminal's page and its total in one query, a
    # pipe's rows streamed (it is never told "N more").
    filters: dict[str, Any] = dict(status=status, attention=attention, limit=shown)
    if as_json:
        if term.is_tty:
            posts, total = store.posts_page(**filters)
            records = (output.post_json(p, zone) for p in posts)
        else:
            records, total = (output.post_json(p, zone) for p in store.iter_posts(**filters)), 0
        _emit_json(app, term, records, lambda listed: total - listed)
        return
    summaries: Iterable[PostSummary]
    if term.is_tty:
        summaries, total = store.post_summaries_page(**filters)
    else:
        summaries, total = store.iter_post_summaries(**filters), 0
    headers = ["ID", "DUE", "STATUS", "TITLE", "DELIVERIES"]
    when = _clock(app, term, wide)
    rows = (
        [
            str(p.id),
            when(p.due_at),
            output.post_status_text(p.status, (s for _, s in p.states)),
            p.title,
            output.delivery_states(p),
        ]
        for p in summaries
    )
    if not _emit_table(app, term, wide, headers, rows, fit=("TITLE", "DELIVERIES"), more=lambda n: total - n):
        if status or attention:
            asked = [f"status {' or '.join(dict.fromkeys(status))}"] if status else []
            app.out(f"no posts with {' or with '.join([*asked, *(['a delivery that needs a person'] * attention)])}")
        else:
            app.out("no posts; queue one with: crosspost queue FILE")
    _daemon_footer(app)


def _shown_limit(limit: int | None, term: Any) -> int | None:
    """The rows to show: --limit N (0: all); on a terminal without --limit, the first TTY_LIMIT."""
    from crosspost.terminal import TTY_LIMIT

    if limit is None:
        return TTY_LIMIT if term.is_tty else None
    return limit or None


def _clock(app: App, term: Any, wide: bool) -> Callable[[datetime | None], str]:
    """How a table shows a time: relative on a terminal ("in 3 h"), where people read it; absolute
    elsewhere. Chosen once per command, not per cell (a piped log formats 60,000 times)."""
    from functools import partial

    from crosspost import output
    from crosspost.timeutil import human

    zone = app.settings.timezone
    if term.is_tty and not wide:
        return partial(output.ago, now=app.now, zone=zone)
    return partial(human, zone=zone)


def _more(listed: int, shown: int | None, count: Callable[[], int]) -> int:
    """How many rows a terminal's limit (--limit N, else the default) left out; counted only when reached."""
    return count() - listed if shown is not None and listed == shown else 0


def _emit_table(
    app: App,
    term: Any,
    wide: bool,
    headers: list[str],
    rows: Iterator[list[str]],
    *,
    fit: tuple[str, ...],
    more: Callable[[int], int],
) -> bool:
    """Print a table; False if it has no rows. A terminal's is fitted to its width (unless --wide),
    with "N more" under a cut one, and paged when long; a pipe's is streamed as the rows are read."""
    from crosspost import output

    if not term.is_tty:
        first = next(rows, None)
        if first is None:
            return False
        _echo_chunks(app, (line + "\n" for line in output.streamed_table(headers, chain([first], rows))))
        return True
    cells = list(rows)
    if not cells:
        return False
    text = output.table(
        headers, cells, shorten=() if wide else ("TITLE",), width=None if wide else term.width, fit=fit, tty=True
    )
    left_out = more(len(cells))
    if left_out > 0:
        text += f"\n{left_out} more: --limit 0 for all"
    _page(app, term, text)
    return True


def _emit_json(app: App, term: Any, records: Iterator[dict[str, Any]], more: Callable[[int], int]) -> None:
    """One JSON array. A terminal's is indented and paged, and "N more" goes to stderr (the JSON stays
    valid); a pipe's is streamed record by record, the same text as json.dumps of the whole list."""
    import json

    if term.is_tty:
        data = list(records)
        _page(app, term, json.dumps(data, ensure_ascii=False, indent=2))
        _more_note(app, more(len(data)))
        return
    texts = (json.dumps(record, ensure_ascii=False) for record in records)
    first = next(texts, None)
    pieces = chain([] if first is None else [first], (", " + text for text in texts))
    click.echo("[", nl=False)
    _echo_chunks(app, pieces)
    click.echo("]")


def _echo_chunks(app: App, pieces: Iterator[str], size: int = 500) -> None:
    """Print streamed text a few hundred pieces (lines, records) at a time, masked: click flushes every
    echo, and a write per record was a fifth of a piped ``list --json`` (profiled)."""
    for chunk in iter(lambda: list(islice(pieces, size)), []):
        click.echo(app.mask("".join(chunk)), nl=False)


def _more_note(app: App, left_out: int) -> None:
    if left_out > 0:
        app.err(f"{left_out} more: --limit 0 for all")


def _page(app: App, term: Any, text: str) -> None:
    """Through the pager when taller than the screen, else printed."""
    if not term.page(app.mask(text), os.environ):
        app.out(text)


def _wanted(status: tuple[str, ...], attention: bool) -> tuple[str, ...]:
    """The statuses asked for: each ``--status``, and with ``--attention`` those that need a person."""
    return tuple(dict.fromkeys((*status, *(ATTENTION if attention else ()))))


@cli.command(short_help="Show one post, its deliveries and every attempt.")
@click.argument("post_id", metavar="ID", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the post as JSON, each delivery with its history.")
@pass_app
def show(app: App, post_id: int, as_json: bool) -> None:
    """Show one post: its snapshot, its deliveries and every attempt of each."""
    from crosspost import output

    post = app.store.get_post(post_id)
    zone = app.settings.timezone
    if as_json:
        _print_json(app, output.post_json(post, zone, full=True))
    else:
        app.out("\n".join(output.show_lines(post, zone)))


@cli.command(short_help="Cancel the post's deliveries not yet sent.")
@click.argument("post_id", metavar="ID", type=int)
@pass_app
def cancel(app: App, post_id: int) -> None:
    """Cancel the post's deliveries not yet sent (pending or retrying)."""
    from crosspost.delivery import public_parts

    store = app.store
    before = store.get_post(post_id)
    changed = {d.id: d for d in store.cancel(post_id, now=app.now, public=public_parts)}
    for d in before.deliveries:
        if d.id in changed:
            # A thread cancelled half-way: its public parts stay on the row, and the person is told.
            public = changed[d.id].error or ""
            note = f" ({public.removeprefix('cancelled; ')})" if public.startswith("cancelled; ") else ""
            app.out(f"post {post_id} {d.account}: {d.status} -> cancelled{note}")
        else:
            app.out(f"post {post_id} {d.account}: {d.status}, left as it is")


@cli.command(short_help="Move the post's waiting deliveries to a new time.")
@click.argument("post_id", metavar="ID", type=int)
@click.argument("when", metavar="WHEN", required=False)
@click.option("--by", "by", metavar="DELAY", help="Shift each delivery from its own due time: +1h, -30m, +1d.")
@pass_app
def reschedule(app: App, post_id: int, when: str | None, by: str | None) -> None:
    """Move the post's pending and retrying deliveries to WHEN, or by DELAY (they become pending).

    WHEN: ISO 8601 (naive is in the config timezone), 'now', a delay from now such as +30m,
    +2h, +1d, or a day and time such as 'tomorrow 10:00'. --by +1h / --by -30m shifts each
    delivery from its current due time instead. A time in the past is refused.
    """
    if (when is None) == (by is None):
        raise click.UsageError("give either WHEN or --by DELAY (such as: reschedule 12 --by +1h)")
    from crosspost.store.moves import MovedIntoPast
    from crosspost.timeutil import due_line, human, parse_shift, parse_when

    zone = app.settings.timezone
    store = app.store
    if when is not None:
        due = parse_when(when, zone, app.now, natural=True)
        _refuse_past(app, due, "the new time", "write a later time, or now")
        before = store.get_post(post_id)
        moved = store.reschedule(post_id, due, now=app.now)
    else:
        assert by is not None
        shift = parse_shift(by)
        before = store.get_post(post_id)
        try:
            moved = store.reschedule_by(post_id, shift, now=app.now)
        except MovedIntoPast as exc:
            raise Failure(
                f"post {post_id} {exc.account}: due {human(exc.current, zone)}, --by {by} would make it "
                f"{human(exc.new, zone)}, in the past; nothing changed; write a smaller delay, or a time: "
                f"crosspost reschedule {post_id} WHEN"
            ) from None
    changed = {d.id: d for d in moved}
    for d in before.deliveries:
        if d.id in changed:
            new = f"pending, due {human(changed[d.id].due_at, zone)}"
            app.out(f"post {post_id} {d.account}: {d.status}, due {human(d.due_at, zone)} -> {new}")
        else:
            app.out(f"post {post_id} {d.account}: {d.status}, left as it is")
    times = sorted({d.due_at for d in moved})
    for at in times:
        accounts = "" if len(times) == 1 else " (" + ", ".join(d.account for d in moved if d.due_at == at) + ")"
        app.err(due_line(at, zone, app.now) + accounts)


@cli.command(short_help="Put failed, unknown or missed deliveries back in the queue.")
@click.argument("post_id", metavar="ID", type=int)
@click.option("--account", metavar="NAME", help="Only this account's delivery.")
@pass_app
def retry(app: App, post_id: int, account: str | None) -> None:
    """Put the post's failed, unknown or missed deliveries back in the queue, due now, with a fresh
    budget of tries. An unknown one is looked up on the platform first and becomes sent if found."""
    from crosspost.delivery import retry_post
    from crosspost.delivery.retry import UNSETTLED

    store = app.store
    post = store.get_post(post_id)
    if account is not None and account not in {d.account for d in post.deliveries}:
        names = ", ".join(d.account for d in post.deliveries)
        raise Failure(f"post {post_id} has no delivery to account {account!r}; its accounts are: {names}")
    results = retry_post(store, app.settings, post_id, account, now=app.now)
    if not results:
        states = ", ".join(f"{d.account} {d.status}" for d in post.deliveries if account in (None, d.account))
        raise Failure(f"post {post_id}: nothing to retry (only failed, unknown or missed deliveries are): {states}")
    for record, what in results:
        app.out(f"post {post_id} {record.account}: {_retried(record, what)}")
    if any(what == UNSETTLED for _, what in results):
        raise Failure(f"post {post_id}: a look-up could not settle every delivery; see above for `crosspost resolve`")


def _retried(record: DeliveryRecord, what: str) -> str:
    from crosspost.delivery.retry import FOUND_SENT, REQUEUED, UNSETTLED

    if what == FOUND_SENT:
        return f"found on the platform, now sent: {record.url}"
    if what == REQUEUED:
        return "back in the queue, due now"
    if what == UNSETTLED:
        return record.error or "left as it is"
    return what


@cli.command(short_help="Settle a delivery crosspost cannot: say whether it is public.")
@click.argument("post_id", metavar="ID", type=int)
@click.option("--account", metavar="NAME", required=True, help="The delivery's account.")
@click.option("--sent", "sent", metavar="URL_OR_ID", help="It is public: this post (a thread: its last public part).")
@click.option("--not-sent", "not_sent", is_flag=True, help="It is not public: `crosspost retry` resends it.")
@pass_app
def resolve(app: App, post_id: int, account: str, sent: str | None, not_sent: bool) -> None:
    """A person settles a delivery that crosspost cannot (unknown, failed, missed): --sent URL_OR_ID marks
    it sent with that post (for a thread stopped half-way, name the last public part: the next retry
    resumes after it); --not-sent marks it failed as checked by a person, so that retry resends it
    without a look-up. Recorded in the history with who and when."""
    import getpass

    from crosspost.delivery import resolve_delivery

    if (sent is None) == (not not_sent):
        raise Failure("resolve needs exactly one of --sent URL_OR_ID or --not-sent")
    record, what = resolve_delivery(app.store, post_id, account, sent=sent, user=getpass.getuser(), now=app.now)
    app.out(f"post {post_id} {record.account}: {what}")


@cli.command(short_help="The delivery log, newest first.")
@click.option(
    "--status",
    multiple=True,
    type=click.Choice(DELIVERY_STATUSES),
    help="Only deliveries with this status (repeat: any of them).",
)
@click.option("--attention", is_flag=True, help="Only the deliveries that need a person: failed, unknown, missed.")
@click.option("--account", metavar="NAME", help="Only this account's deliveries.")
@click.option("--post", "post_id", metavar="ID", type=int, help="Only this post's deliveries.")
@click.option("--since", metavar="WHEN", help="Only between this time, or this long ago (such as 7d, 12h), and now.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of delivery records.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV with a header row.")
@click.option("--limit", type=click.IntRange(min=0), metavar="N", help=LIMIT_HELP)
@click.option("--wide", is_flag=True, help=WIDE_HELP)
@pass_app
def log(
    app: App,
    status: tuple[str, ...],
    attention: bool,
    account: str | None,
    post_id: int | None,
    since: str | None,
    as_json: bool,
    as_csv: bool,
    limit: int | None,
    wide: bool,
) -> None:
    """Show the delivery log, one row per delivery, newest first (by sent time, else due time).

    On a terminal the table fits its width (the url or error cut with an ellipsis; --wide shows
    all), times read "in 3 h" / "2 d ago", the newest 200 rows are shown (--limit; --json and --csv
    too, the rest counted on stderr) and a long log goes through $PAGER; a pipe gets every row,
    in full, as the database reads them."""
    if as_json and as_csv:
        raise click.UsageError("--json and --csv cannot be used together")
    from crosspost import output
    from crosspost.timeutil import human, parse_since

    settings = app.settings
    zone = settings.timezone
    if account is not None and account not in settings.accounts:
        raise Failure(
            f"--account {account}: no such account in {settings.path}; the accounts are: {', '.join(settings.accounts)}"
        )
    start = parse_since(since, zone, app.now) if since is not None else None
    if start is not None and start > app.now:
        raise Failure(
            f"--since {since}: {human(start, zone)} is in the future; --since keeps rows between then and now"
        )
    from crosspost.terminal import Terminal

    term = Terminal.detect(os.environ)
    shown = _shown_limit(limit, term)  # --json and --csv too: a pipe gets every row, a terminal the newest 200
    filters: dict[str, Any] = dict(
        status=_wanted(status, attention),
        account=account,
        post_id=post_id,
        since=start,
        until=app.now if start is not None else None,
    )
    store = app.store

    def more(listed: int) -> int:
        return _more(listed, shown, lambda: store.log_count(**filters))

    records = store.iter_log(**filters, limit=shown)
    if as_json:
        _emit_json(app, term, (output.delivery_json(d, zone) for d in records), more)
        return
    if as_csv:
        if term.is_tty:
            rows = list(records)
            _page(app, term, "".join(output.log_csv_lines(rows, zone)).rstrip("\n"))
            _more_note(app, more(len(rows)))
        else:
            _echo_chunks(app, output.log_csv_lines(records, zone))
        return
    headers = ["POST", "TITLE", "ACCOUNT", "PLATFORM", "STATUS", "TRIES", "DUE", "SENT", "URL / ERROR"]
    when = _clock(app, term, wide)
    rows_shown = (
        [
            str(d.post_id),
            d.post_title,
            d.account,
            d.platform,
            d.status,
            str(d.attempts),
            when(d.due_at),
            when(d.sent_at),
            output.outcome_of(d),
        ]
        for d in records
    )
    if not _emit_table(app, term, wide, headers, rows_shown, fit=("URL / ERROR", "TITLE"), more=more):
        app.out("no deliveries match")


def _print_json(app: App, data: object) -> None:
    """Indented for a person at a terminal; compact for a pipe, where json's C encoder is ten times faster."""
    import json

    indent = 2 if sys.stdout.isatty() else None
    app.out(json.dumps(data, ensure_ascii=False, indent=indent))


# ---------------------------------------------------------------- running


@cli.command(short_help="Run the scheduler in the foreground.")
@click.option("--once", is_flag=True, help="Handle what is due now, then exit: 0 if every delivery was sent.")
@pass_app
def daemon(app: App, once: bool) -> None:
    """Run the scheduler in the foreground until SIGTERM or SIGINT."""
    from crosspost.daemon import run_daemon
    from crosspost.journal import is_journal

    app.journal = is_journal(sys.stderr, os.environ)
    app.settings.require_credentials(notify=True)  # the daemon talks to every account and notify target
    code = run_daemon(app.settings, once=once, log=app.err)
    if code:
        raise Failure("not every delivery was sent; see: crosspost log --since 1h" if once else f"daemon exit {code}")


@cli.command(short_help="Create the database, or upgrade it to this crosspost's schema.")
@pass_app
def upgrade(app: App) -> None:
    """Create the database, or migrate it to this version's schema (an admin's step after installing
    a new crosspost; the daemon's start does it too). No other command changes the schema."""
    from crosspost.store import migrations
    from crosspost.store.reads import sqlite_path

    path = sqlite_path(app.settings.database_url)
    before = migrations.sqlite_version(path) if path is not None else "?"
    app.open_store(migrations.UPGRADE)
    if before == migrations.HEAD:
        app.out(f"database {app.settings.database_url}: already at schema {migrations.HEAD}")
    else:
        was = {None: "created", "": "created"}.get(before, f"upgraded from {before}")
        app.out(f"database {app.settings.database_url}: at schema {migrations.HEAD} ({was})")


@cli.command(short_help="Copy the database and the media into a new folder.")
@click.argument("path", type=click.Path(path_type=Path))
@pass_app
def backup(app: App, path: Path) -> None:
    """Copy the database (SQLite's online backup: safe while the daemon runs) and the media copies into
    the new folder PATH. To restore: stop the daemon, put PATH/crosspost.db at the database's path and
    PATH/media/* in the media folder. PostgreSQL: back the database up with pg_dump; media are copied."""
    from crosspost.store.maintenance import backup as make_backup

    done = make_backup(app.store, path)
    if done.database is None:
        app.err(f"crosspost: the database is not SQLite: back it up with pg_dump -Fc -f {path}/crosspost.dump DBNAME")
    else:
        app.out(f"{done.database}: the database")
    app.out(f"{path / 'media'}: {_count(done.media_files, 'media file')}")


@cli.command(short_help="Delete old history rows of deliveries that are over.")
@click.option("--before", "age", metavar="AGE", required=True, help="Older than this: 90d, 6m, 1y.")
@pass_app
def prune(app: App, age: str) -> None:
    """Delete the history (attempt) rows older than AGE of sent and cancelled deliveries. The posts,
    their deliveries and the history of failed, unknown and missed ones are kept: retry reads it."""
    from crosspost.store.maintenance import parse_age
    from crosspost.store.maintenance import prune as prune_store
    from crosspost.timeutil import human

    before = app.now - parse_age(age)
    count = prune_store(app.store, before)
    app.out(f"{_count(count, 'history row')} from before {human(before, app.settings.timezone)} deleted")


@cli.group(short_help="List the accounts; --check proves their credentials.", invoke_without_command=True)
@click.option("--check", is_flag=True, help="Prove each account's credentials with a read-only call.")
@click.pass_context
def accounts(ctx: click.Context, check: bool) -> None:
    """List the accounts in the config (never their credentials); `accounts login NAME` signs one in."""
    if ctx.invoked_subcommand is None:
        _accounts(ctx.obj, check)


@accounts.command(short_help="Sign an account with short-lived tokens in; writes its token_file.")
@click.argument("name")
@pass_app
def login(app: App, name: str) -> None:
    """Sign in for account NAME (VK ID): open the printed URL, allow access, paste the address you land on."""
    import time

    from crosspost.platforms import load, spec_for

    settings = app.settings
    if name not in settings.accounts:
        raise Failure(f"no account {name} in {settings.path}; the accounts are: {', '.join(settings.accounts)}")
    settings.require_credentials([name])  # accounts login talks to the platform
    account = settings.accounts[name]
    spec = spec_for(account.platform)
    if not spec.login:
        raise Failure(f"account {name} is on {spec.display}, which hands out no short-lived tokens to sign in for")

    def ask(url: str) -> str:
        app.err(f"1. Open this address in a browser signed in as an admin of the account's target:\n\n{url}\n")
        app.err("2. Allow access. 3. Paste here the whole address the browser then shows:")
        return sys.stdin.readline()

    try:
        said = load(spec.login)(account, settings.request_timeout, ask, time.time)
    except CrosspostError as exc:
        raise Failure(f"{name}: {exc}") from None
    app.out(f"✓ {name}: {said}")


def _accounts(app: App, check: bool) -> None:
    from crosspost import output
    from crosspost.platforms import spec_for

    settings = app.settings
    if not check:
        rows = [
            [a.name, a.platform, spec_for(a.platform).target(a), a.api_base or ""] for a in settings.accounts.values()
        ]
        app.out(output.table(["NAME", "PLATFORM", "TARGET", "API BASE"], rows))
        _daemon_footer(app)
        return
    from concurrent.futures import ThreadPoolExecutor

    names = list(settings.accounts)
    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        results = list(pool.map(lambda name: _verify(app, name), names))
    failed = 0
    for name, ok, message in results:
        if ok:
            app.out(f"✓ {name}: {message}")
        else:
            failed += 1
            app.err(f"✗ {name}: {message}")
    _daemon_footer(app)
    if failed:
        raise Failure(f"{failed} of {_count(len(names), 'account')} failed the check")


def _daemon_footer(app: App) -> None:
    """Whether a daemon is publishing for this database, and when it last showed signs of life."""
    from crosspost import output
    from crosspost.store.migrations import SchemaError

    try:
        store = app.store
    except SchemaError:  # `accounts` on a new install (no database yet): no daemon has run on it
        status, last_seen = None, None
    else:
        status = store.daemon_status()
        last_seen = store.daemon_last_seen() if status is None else None
    footer = output.daemon_line(status, app.now, app.settings.timezone, last_seen)
    if footer:
        app.out(footer)


def _verify(app: App, name: str) -> tuple[str, bool, str]:
    """(name, ok, who we post as / what is wrong and the fix) for one account."""
    from crosspost.adapters import adapter_for

    account = app.settings.accounts[name]
    try:
        return name, True, adapter_for(account, app.settings.request_timeout).verify()
    except CrosspostError as exc:
        return name, False, str(exc)
    except Exception as exc:  # noqa: BLE001 - one account's surprise must not hide the others' results
        return name, False, f"unexpected {type(exc).__name__}: {exc}"


@cli.command(short_help="List the [notify] targets; --test sends each one a test notice.")
@click.option("--test", is_flag=True, help="Send one test notice to every [notify] target; exit 1 if any fails.")
@pass_app
def notify(app: App, test: bool) -> None:
    """List the [notify] targets (never their secrets) and the events they hear about."""
    from crosspost.notify.probe import send_test
    from crosspost.notify.targets import shown

    settings = app.settings
    notify = settings.notify
    settings.require_credentials([], notify=True)
    if not notify.urls:
        raise Failure(f'{settings.path}: no [notify] urls; add [notify] with urls = ["mailtos://..."]')
    if not test:
        for i in range(len(notify.urls)):
            app.out(shown(notify, i))
        app.out(f"on: {', '.join(sorted(notify.on))}")
        return
    results = send_test(settings, now=app.now)
    for r in results:
        if r.ok:
            app.out(f"✓ {r.shown}: test notice sent")
        else:
            app.err(f"✗ {r.shown}: {r.reason}")
    failed = [r for r in results if not r.ok]
    if failed:
        names = ", ".join(r.shown for r in failed)
        raise Failure(f"{len(failed)} of {_count(len(results), 'notify target')} failed: {names}")


@cli.command(short_help="Run local emulators of every platform's API.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_SANDBOX_PORT,
    show_default=True,
    help="The port on 127.0.0.1 (0: any free port).",
)
def sandbox(port: int) -> None:
    """Run local emulators of every registered platform's API on 127.0.0.1 until interrupted.

    Point an account's api_base at the printed URL; the emulators accept each
    platform spec's sandbox_credentials.
    """
    import signal
    import threading

    from crosspost.platforms import display_name
    from crosspost.sandbox import build_sandbox

    box = build_sandbox()
    served = ", ".join(display_name(e.name) for e in box.emulators)
    try:
        url = box.start(port)
    except OSError as exc:
        raise Failure(f"cannot listen on 127.0.0.1:{port} ({exc.strerror}); pass --port N with a free port") from None
    stop = threading.Event()
    # The handler goes in before the line that says it is serving: whoever waits for that line (a test,
    # a supervisor) may send SIGTERM at once.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    click.echo(f"sandbox: serving the {served} emulators on {url} (its page shows every wall); Ctrl-C stops it")
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        box.stop()


@cli.command(short_help="Run end to end on the sandbox; no credentials needed.")
@click.option("--keep", is_flag=True, help="Keep serving the sandbox page until Ctrl-C, and keep the demo's folder.")
def demo(keep: bool) -> None:
    """Run crosspost end to end on the sandbox with the example posts; no credentials needed."""
    from crosspost.demo import run_demo

    code = run_demo(click.echo, keep=keep)
    if code:
        raise Failure("the demo did not finish cleanly; see the lines above")


def main() -> None:
    """The ``crosspost`` console script."""
    cli(prog_name="crosspost")
