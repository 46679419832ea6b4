"""The app shell: everything the service worker must cache is in its list, and the shell stays small."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

WEBCLIENT = Path(__file__).resolve().parents[2] / "webclient"
SW = (WEBCLIENT / "sw.js").read_text()


def shell_files() -> set[str]:
    return {p.relative_to(WEBCLIENT).as_posix() for p in WEBCLIENT.rglob("*")
            if p.is_file() and p.name != "sw.js" and not p.name.startswith(".")}


def sw_list(name: str) -> set[str]:
    block = re.search(rf"^const {name} = \[\n(.*?)^\];", SW, flags=re.M | re.S).group(1)
    return set(re.findall(r"^  '([^']+)',$", block, flags=re.M)) - {"./"}


def workspace_files() -> set[str]:
    return {f for f in shell_files() if f.startswith("src/coord/") or f == "css/coord.css"}


def test_service_worker_caches_every_shell_file():
    # The phone's files at install; the coordinator's workspace when first used (a phone never fetches it).
    assert sw_list("SHELL") == shell_files() - workspace_files()
    assert sw_list("WORKSPACE") == workspace_files()


def test_app_and_worker_agree_on_the_version():
    sw_version = re.search(r"const VERSION = '([^']+)'", SW).group(1)
    app_version = re.search(r"export const VERSION = '([^']+)'", (WEBCLIENT / "src" / "app.js").read_text()).group(1)
    assert sw_version == app_version


def static_imports(module: str) -> set[str]:
    """Every module `module` pulls in with static imports (not import()), itself excluded."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        text = (WEBCLIENT / current).read_text()
        for spec in re.findall(r"^import [^;]*? from '([^']+)';", text, flags=re.M | re.S):
            target = (Path(current).parent / spec).as_posix()
            target = _norm(target)
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen - {module}


def _norm(path: str) -> str:
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            parts.pop()
        elif part not in (".", ""):
            parts.append(part)
    return "/".join(parts)


def test_index_preloads_exactly_what_the_first_screen_needs():
    # The waterfall of module imports is flattened by preloading; screens loaded on demand are not preloaded.
    index = (WEBCLIENT / "index.html").read_text()
    preloaded = set(re.findall(r'rel="modulepreload" href="([^"]+)"', index))
    assert preloaded == static_imports("src/main.js")


def gzipped_kb(files: set[str]) -> float:
    return sum(len(gzip.compress((WEBCLIENT / f).read_bytes(), 9)) for f in files) / 1024


def test_the_phone_shell_is_under_80_kb_compressed():
    assert gzipped_kb(sw_list("SHELL") | {"sw.js"}) <= 80


def test_the_coordinator_workspace_is_under_80_kb_compressed():
    # 64 KB until this wave added the workshop pages and board, memos and the Data page; a laptop fetches the
    # workspace once, when a coordinator first opens it, and a phone never does.
    assert gzipped_kb(workspace_files()) <= 80


def test_user_facing_text_lives_in_strings_js():
    # Screens build text from S.*; a quoted sentence in a view is a string that escaped translation.
    screens = [*(WEBCLIENT / "src" / "views").glob("*.js"), *(WEBCLIENT / "src" / "coord").glob("*.js")]
    for view in screens:
        if view.name == "strings.js":
            continue
        for line in view.read_text().splitlines():
            literal = re.findall(r"'([A-Z][a-z]+ [a-z]+[^']*)'", line)
            assert not literal, f"{view.name}: {literal}"
