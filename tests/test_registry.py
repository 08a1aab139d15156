"""The platform registry: built-ins register like plugins, stay in their folders, and a plugin works end to end."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from daemon_world import run_crosspost

from crosspost import platforms
from crosspost.platforms import GROUP, names, spec_for, specs
from crosspost.sandbox.core import Emulator, Sandbox

PACKAGE = Path(platforms.__file__).resolve().parent.parent  # crosspost/
PLUGIN = Path(__file__).resolve().parent / "plugin_example" / "crosspost_noticeboard"
BUILT_INS = ("facebook", "telegram", "twitter", "vk")


def test_built_ins_register_through_the_entry_point_group() -> None:
    points = {p.name: p.value for p in entry_points(group=GROUP)}
    for name in BUILT_INS:
        assert points[name] == f"crosspost.platforms.{name}.spec:SPEC"
        assert spec_for(name).name == name
    assert set(BUILT_INS) <= set(names())


def test_the_fast_entry_point_reader_agrees_with_importlib_metadata(
    plugin_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(plugin_path))
    expected = sorted((p.name, p.value) for p in entry_points(group=GROUP))
    assert ("noticeboard", "crosspost_noticeboard.spec:SPEC") in expected
    assert sorted(platforms.entry_points()) == expected


def test_every_spec_is_complete_and_pure() -> None:
    """A spec names its adapter and emulator by reference: importing the specs loads no platform library."""
    code = "import sys; from crosspost.platforms import specs; specs(); print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    heavy = ("tweepy", "facebook", "vk_api", "requests", "markdown_it", "importlib.metadata")
    assert not [m for m in loaded if m.split(".")[0] in heavy or m in heavy]
    assert not [m for m in loaded if re.search(r"\.(adapter|emulator)", m)]
    for spec in specs().values():
        assert spec.display and spec.adapter and spec.hosts and spec.credentials
        assert set(spec.required) | set(spec.credentials) <= set(spec.hints)


# ---------------------------------------------------------------- each platform in its own folder


def _modules_after_import(module: str) -> list[str]:
    code = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.split()


def adapter_side(modules: list[str]) -> list[str]:
    """Modules an emulator must never load: crosspost.adapters (but base and transport are the
    adapters' side too) and every module of a platform folder that is neither its spec nor an emulator."""
    bad = []
    for module in modules:
        parts = module.split(".")
        if parts[:2] == ["crosspost", "adapters"]:
            bad.append(module)
        elif parts[:2] == ["crosspost", "platforms"] and len(parts) == 4:
            if not (parts[3] == "spec" or parts[3].startswith("emulator")):
                bad.append(module)
    return bad


def test_the_adapter_side_rule_catches_an_adapter() -> None:
    assert adapter_side(
        ["crosspost.platforms.vk.adapter", "crosspost.adapters.base", "crosspost.platforms.vk.spec"]
    ) == [
        "crosspost.platforms.vk.adapter",
        "crosspost.adapters.base",
    ]


@pytest.mark.parametrize("name", BUILT_INS)
def test_no_emulator_imports_an_adapter(name: str) -> None:
    """The sandbox is an independent check of what the adapter sends: it shares no adapter code."""
    module = spec_for(name).emulator.partition(":")[0]
    assert adapter_side(_modules_after_import(module)) == []


# Names that say which platform code is for: identifiers, import paths, and string constants that are a
# platform's name (``platform == "vk"``, ``{"twitter": ...}``). Prose in messages and docstrings is not code.
_WORD = {
    "twitter": r"twitter|tweepy",
    "facebook": r"facebook",
    "vk": r"vk|vk_api",
    "telegram": r"telegram",
}
# twitter_text is the text library (twitter-text-parser, loaded by crosspost/text_library.py): its URL and
# hashtag rules serve every platform, so the generic text code may name the library.
_ALLOWED = {("hashtags.py", "twitter_text"), ("text_library.py", "twitter_text")}


def namings(path: Path, word: str) -> list[str]:
    """Where ``path``'s code names the platform ``word`` (a regex of its names)."""
    pattern = re.compile(rf"(?i)(?<![a-z])({word})(?![a-z])")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        texts: list[str] = []
        if isinstance(node, ast.Name):
            texts = [node.id]
        elif isinstance(node, ast.Attribute):
            texts = [node.attr]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            texts = [node.name]
        elif isinstance(node, ast.arg):
            texts = [node.arg]
        elif isinstance(node, ast.alias):
            texts = [node.name, node.asname or ""]
        elif isinstance(node, ast.ImportFrom):
            texts = [node.module or ""]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            value = node.value.strip().lower()
            if re.fullmatch(rf"({word})", value) or re.search(rf"(^|\.)({word})(\.|$)", value) and " " not in value:
                texts = [node.value]
        found += [f"{path.name}:{getattr(node, 'lineno', '?')}: {t}" for t in texts
                  if t and pattern.search(t) and (path.name, t) not in _ALLOWED]  # fmt: skip
    return found


def test_the_naming_rule_catches_a_platform_branch(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('def f(a):\n    """About VK."""\n    return a.platform == "vk" or "the VK wall"\n')
    assert namings(sample, _WORD["vk"]) == ["sample.py:3: vk"]


@pytest.mark.parametrize("name", BUILT_INS)
def test_outside_its_folder_no_module_names_the_platform(name: str) -> None:
    own = PACKAGE / "platforms" / name
    files = [p for p in sorted(PACKAGE.rglob("*.py")) if own not in p.parents]
    assert [hit for path in files for hit in namings(path, _WORD[name])] == []


# ---------------------------------------------------------------- a third-party platform


@pytest.fixture
def plugin_path(tmp_path: Path) -> Path:
    """The example plugin as an installed distribution would be: the package and its .dist-info."""
    root = tmp_path / "site"
    shutil.copytree(PLUGIN, root / PLUGIN.name, ignore=shutil.ignore_patterns("__pycache__"))
    info = root / "crosspost_noticeboard-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: crosspost-noticeboard\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{GROUP}]\nnoticeboard = crosspost_noticeboard.spec:SPEC\n")
    return root


def test_a_plugin_is_found_through_importlib_metadata(plugin_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import crosspost.sandbox  # noqa: F401  (its CREDENTIALS are read now, before the plugin is on the path)

    monkeypatch.syspath_prepend(str(plugin_path))
    specs.cache_clear()
    try:
        assert "noticeboard" in names()
        assert spec_for("noticeboard").display == "Noticeboard"
    finally:
        monkeypatch.undo()
        specs.cache_clear()
    assert "noticeboard" not in names()


def _emulator(plugin_path: Path) -> Emulator:
    """The plugin's emulator, loaded from its file so that this process's registry stays as it was."""
    location = plugin_path / "crosspost_noticeboard" / "emulator.py"
    module_spec = importlib.util.spec_from_file_location("noticeboard_emulator", location)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.NoticeboardEmulator(api_key="nb-KEY-7c1e5a9b3d", board="press")  # type: ignore[no-any-return]


@pytest.fixture
def board(plugin_path: Path) -> Iterator[Sandbox]:
    box = Sandbox([_emulator(plugin_path)])
    box.start()
    yield box
    box.stop()


def test_a_plugin_platform_end_to_end(plugin_path: Path, board: Sandbox, tmp_path: Path) -> None:
    """config, validate, preview, queue and daemon --once, with the real CLI, against the plugin's emulator."""
    folder = tmp_path / "office"
    (folder / "posts").mkdir(parents=True)
    (folder / "crosspost.toml").write_text(
        '[crosspost]\nretry_delay = "1s"\nrequest_timeout = "5s"\n\n'
        '[accounts.board]\nplatform = "noticeboard"\napi_key = "${NB_KEY}"\nboard = "press"\n'
        f'api_base = "{board.url}"\n'
    )
    post = folder / "posts" / "notice.md"
    post.write_text('+++\ntitle = "Closed on Monday"\n+++\nThe consular section is **closed** on Monday.\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_path), os.environ.get("PYTHONPATH", "")]),
           "NB_KEY": "nb-KEY-7c1e5a9b3d"}  # fmt: skip

    def crosspost(*args: str) -> subprocess.CompletedProcess[str]:
        return run_crosspost(*args, cwd=folder, env=env)

    accounts = crosspost("accounts")
    assert accounts.returncode == 0 and re.search(r"board\s+noticeboard\s+press", accounts.stdout), accounts.stderr
    assert crosspost("validate", "posts/notice.md").returncode == 0
    preview = crosspost("preview", "posts/notice.md")
    assert "board (noticeboard), one post" in preview.stdout and "/500 characters" in preview.stdout
    queued = crosspost("queue", "posts/notice.md", "--at", "now")
    assert queued.returncode == 0, queued.stderr
    ran = crosspost("daemon", "--once")
    assert ran.returncode == 0, ran.stderr
    [record] = json.loads(crosspost("log", "--json").stdout)
    [notice] = board.state()["noticeboard"]["posts"]
    assert record["platform"] == "noticeboard" and record["status"] == "sent"
    assert record["url"] == notice["url"] and notice["text"] == "The consular section is closed on Monday."
    checked = crosspost("accounts", "--check")
    assert checked.returncode == 0 and "board press" in checked.stdout + checked.stderr

    bad = folder / "posts" / "long.md"
    bad.write_text("+++\n+++\n" + "word " * 120 + "\n")
    refused = crosspost("validate", "posts/long.md")
    assert refused.returncode == 1 and "over its limit of 500" in refused.stderr


@pytest.mark.parametrize(
    ("name", "url", "remote_id"),
    [
        ("twitter", "https://x.com/embassy/status/1790000000000000001", "1790000000000000001"),
        ("facebook", "https://www.facebook.com/1000000002_17", "1000000002_17"),
        ("vk", "https://vk.com/wall-1000003_42", "-1000003_42"),
        ("telegram", "https://t.me/embassy_channel/311", "311"),
        ("telegram", "https://t.me/c/1234567890/12", "12"),
        ("telegram", "311", "311"),
    ],
)
def test_a_post_url_gives_its_remote_id(name: str, url: str, remote_id: str) -> None:
    assert spec_for(name).remote_id(url) == remote_id
