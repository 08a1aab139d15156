"""The plugin interface: what a platform tells crosspost about itself.

A platform is a package that exposes one :class:`PlatformSpec` instance through
the entry point group ``crosspost.platforms`` (the entry point's name is the
value of ``platform =`` in the config)::

    [project.entry-points."crosspost.platforms"]
    mastodon = "crosspost_mastodon.spec:SPEC"

The built-in platforms (``crosspost/platforms/<name>/``) register in exactly
this way, in crosspost's own ``pyproject.toml``. The core (config, render,
preview, the CLI, the sandbox, the demo, the delivery log) asks the registry
(:mod:`crosspost.platforms`) and never names a platform.

A spec is *pure*: importing it must be cheap and must not import the
platform's library, because ``validate`` and ``preview`` read every spec and
must answer in a fraction of a second. The adapter and the emulator are named
by ``"module:Class"`` strings and imported only when a command talks to the
platform (the adapter) or serves the sandbox (the emulator).

The adapter subclasses :class:`crosspost.adapters.base.Adapter` (read its
docstrings: what ``publish``, ``find`` and ``verify`` raise, and why). The
emulator subclasses :class:`crosspost.sandbox.core.Emulator`, and never
imports an adapter: it is an independent check of what the adapter sends.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from crosspost.config import AccountConfig
    from crosspost.images.limits import ImageLimits
    from crosspost.model import Content, Draft
    from crosspost.render import Finding

# Raised by a spec's option checks: ``fail(key, message)`` builds the config error naming file and key.
Fail = Callable[[str, str], Exception]


class PlatformSpec:
    """One platform. Subclass it, set the class attributes, override the hooks that differ."""

    # -- identity
    name: ClassVar[str]  # the config's ``platform = "..."`` value; also the delivery log's ``platform``
    display: ClassVar[str]  # for people: "X", "Facebook"
    url_form: ClassVar[str] = ""  # how a published post's public URL looks, for people
    permalink: ClassVar[str] = ""  # a post's public URL from its id alone, "{id}" marking the id; "" if none
    url_pattern: ClassVar[str] = ""  # a regex of that URL whose group ``id`` is the post's remote id

    # -- wiring ("module:Class", imported on first use)
    adapter: ClassVar[str]
    emulator: ClassVar[str] = ""  # empty: the platform has no sandbox emulator
    # ``crosspost accounts login NAME`` for platforms that hand out short-lived tokens: a "module:function"
    # called as ``f(account, timeout, ask, now)`` (``ask(url)`` shows the URL, returns the pasted redirect
    # URL; ``now()`` gives Unix seconds) that returns the line to print; empty: nothing to sign in to.
    login: ClassVar[str] = ""
    sandbox_credentials: ClassVar[Mapping[str, str]] = {}  # what the emulator accepts; the demo config's keys

    # -- what the platform can do (the delivery rules and the contract suite read these)
    threads: ClassVar[bool] = False  # several parts go out as replies to each other (else one post carries all)
    can_look_up: ClassVar[bool] = True  # ``find`` can settle an ambiguous try (else it raises LookupUnavailable)
    separate_uploads: ClassVar[bool] = True  # images are uploaded before the post; their ids are kept for a retry
    refuses_duplicates: ClassVar[bool] = True  # a resend of the same post is refused as a duplicate
    # How long the platform's own idempotency key (VK's guid) makes a resend safe after a try that may have
    # landed; None: no such key. Past it the delivery engine looks the post up before resending.
    resend_window: ClassVar[timedelta | None] = None
    publish_path: ClassVar[str] = ""  # regex of the emulator path that publishes (for faults in tests and benchmarks)

    # -- network: the API hosts that ``api_base`` reroutes (contract: "api_base")
    hosts: ClassVar[tuple[str, ...]] = ()

    # -- config: the account table's keys
    credentials: ClassVar[tuple[str, ...]] = ()  # required secret keys (``${VAR}`` expanded, never shown)
    optional_credentials: ClassVar[tuple[str, ...]] = ()  # secret keys an account may leave out (treated alike)
    # Plain keys of another credential form (VK ID's client id and token file): with any of them in the
    # table the ``credentials`` may be left out; ``read_options`` checks that exactly one form is whole.
    credentials_unless: ClassVar[tuple[str, ...]] = ()
    # Plain keys naming files, resolved against the config file's folder before ``read_options`` sees them.
    path_options: ClassVar[tuple[str, ...]] = ()
    required: ClassVar[tuple[str, ...]] = ()  # required plain keys, checked by :meth:`read_options`
    optional: ClassVar[tuple[str, ...]] = ()  # optional keys beyond ``api_base`` (always allowed)
    hints: ClassVar[Mapping[str, str]] = {}  # key -> how to write it, for "missing; add ..."
    max_length_ceiling: ClassVar[int | None] = None  # allows ``max_length`` up to this; None: no such key

    # -- text
    default_limit: ClassVar[int] = 0  # the text limit per part when ``max_length`` is not set
    length_unit: ClassVar[str] = "characters"  # how preview names what the length counts
    max_images: ClassVar[int | None] = None  # None: no limit of crosspost's to check
    post_noun: ClassVar[str] = "a post"  # "a tweet takes at most 4"
    shows_alt_text: ClassVar[bool] = True  # False: preview says the alt text is not shown
    link_field: ClassVar[bool] = False  # True: the link also travels in a field of its own (preview shows it)

    # -- images: formats, bytes and pixels it takes (crosspost.images prepares each image to fit)
    image_limits: ClassVar[ImageLimits | None] = None  # None: crosspost.images.limits.DEFAULT_LIMITS

    def read_options(self, table: Mapping[str, Any], prefix: str, fail: Fail) -> dict[str, Any]:
        """Check the plain keys of one account table; return them as ``AccountConfig`` fields.

        ``table`` is the raw TOML table (keys already known to be allowed; required
        ones present). Keys that are not fields of ``AccountConfig`` land in its
        ``options`` and read back as attributes (``account.chat_id``).
        Raise ``fail(f"{prefix}.KEY", "what is wrong; the fix")`` on bad input.
        """
        return {}

    def limit(self, account: AccountConfig) -> int:
        """The text limit checked at validate time."""
        return account.max_length if account.max_length is not None else self.default_limit

    def target(self, account: AccountConfig) -> str:
        """Where the account posts, for ``accounts`` (a page id, a community, a channel)."""
        return "—"

    def post_url(self, remote_id: str) -> str | None:
        """The public URL of a post from its remote id alone (None: the platform has no such form)."""
        return self.permalink.format(id=remote_id) if self.permalink else None

    def profile_url(self, account: AccountConfig) -> str:
        """Where a person looks to see whether a post went out (a notice about an ``unknown`` names it)."""
        return f"the {self.display} account {account.name}"

    def render_parts(self, account: AccountConfig, content: Content) -> list[str]:
        """The text parts ``account`` receives (several only for a thread)."""
        from crosspost.render import render_text

        return [render_text(content.body, content.link, content.tags)]

    def length(self, text: str) -> int:
        """The length of ``text`` as the platform counts it."""
        return len(text)

    def measure(self, account: AccountConfig, draft: Draft) -> list[tuple[int, int]]:
        """Each part's length as the platform counts it, with the limit it must keep to."""
        return [(self.length(part), self.limit(account)) for part in draft.parts]

    def over_limit(self, account: AccountConfig, draft: Draft, n: int, length: int, limit: int) -> Finding:
        """The problem of part ``n`` being ``length`` long, over ``limit``."""
        from crosspost.render import Finding

        name = account.name
        return Finding(
            "body",
            f'the text for account "{name}" is {length} characters, over its limit of '
            f"{limit}; shorten the body or give it a [variants.{name}] body",
        )

    def shape(self, draft: Draft) -> str:
        """How the post goes out, for ``preview``: "one post", "thread of 3 parts"."""
        return f"thread of {len(draft.parts)} parts" if len(draft.parts) > 1 else "one post"

    def findings(self, account: AccountConfig, draft: Draft) -> list[Finding]:
        """Problems of the platform's own beyond text length and image count (alt text, say)."""
        return []

    def remote_id(self, url_or_id: str) -> str:
        """The remote id a person names by a post's URL or by the id itself (``resolve --sent``)."""
        match = re.fullmatch(self.url_pattern, url_or_id.strip()) if self.url_pattern else None
        return match.group("id") if match else url_or_id.strip()

    def secret_patterns(self) -> tuple[str, ...]:
        """Regexes of credential shapes the platform puts in URLs (masked in every message)."""
        return ()
