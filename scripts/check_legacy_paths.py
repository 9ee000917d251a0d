"""List legacy path literals (legacy-layout.md §1) in a package outside its `compat/` folder.

compat.md §3: only `osiris/compat/` may know the legacy layout. Prints `path:line: literal`
per hit and exits 1 if there is any, 0 otherwise. A line ending in `# legacy-path: ok` is a
documented exception.

What counts as a legacy path literal:
- a string naming `.osiris_sessions`, `.osiris_cache`, `.osiris_prompts`, `.aiop-annex` or
  `.last_compile.json`, anywhere in it;
- a string whose first path component is `logs` or `compiled` (`"logs/run_1"`), or where one
  follows a placeholder in an f-string (`f"{root}/logs"`);
- a bare `"logs"` or `"compiled"` joined into a path: an operand of `/`, or an argument of
  `os.path.join`, `joinpath` or a `Path` constructor. Elsewhere (a CLI group named `logs`,
  a JSON key `compiled`) the word is not a path.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from pathlib import Path

LEGACY_DIRS = frozenset({"logs", "compiled"})
LEGACY_NAMES = (
    ".osiris_sessions",
    ".osiris_cache",
    ".osiris_prompts",
    ".aiop-annex",
    ".last_compile.json",
)
PRAGMA = "# legacy-path: ok"
EXEMPT_SUBPACKAGE = "compat"
PATH_CALLS = frozenset(
    {
        "join",
        "joinpath",
        "Path",
        "PurePath",
        "PurePosixPath",
        "PureWindowsPath",
        "PosixPath",
        "WindowsPath",
    }
)
_PLACEHOLDER = "\0"


def is_legacy(text: str, *, joined: bool) -> bool:
    """Whether a string (f-string placeholders as NUL) names a legacy path."""
    if any(name in text for name in LEGACY_NAMES):
        return True
    parts = text.split("/")
    if len(parts) == 1:
        return joined and text in LEGACY_DIRS
    return any(
        part in LEGACY_DIRS and (i == 0 or parts[i - 1] in {".", _PLACEHOLDER})
        for i, part in enumerate(parts)
    )


def _text(node: ast.Constant | ast.JoinedStr) -> str:
    if isinstance(node, ast.Constant):
        return node.value
    return "".join(
        part.value if isinstance(part, ast.Constant) else _PLACEHOLDER for part in node.values
    )


def _call_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _docstrings(tree: ast.Module) -> set[int]:
    owners = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    found = set()
    for owner in ast.walk(tree):
        body = owner.body if isinstance(owner, owners) else None
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            found.add(id(body[0].value))
    return found


def legacy_literals(source: str) -> Iterator[tuple[int, str]]:
    """(line, literal) for every legacy path literal in a module, pragma lines excepted."""
    tree = ast.parse(source)
    lines = source.splitlines()
    skip = _docstrings(tree)
    joined: set[int] = set()
    strings: list[ast.Constant | ast.JoinedStr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            joined.update((id(node.left), id(node.right)))
        elif isinstance(node, ast.Call) and _call_name(node.func) in PATH_CALLS:
            joined.update(id(arg) for arg in node.args)
        elif isinstance(node, ast.JoinedStr):
            skip.update(id(part) for part in node.values)
            strings.append(node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            strings.append(node)
    for node in strings:
        if id(node) in skip or not is_legacy(_text(node), joined=id(node) in joined):
            continue
        span = lines[node.lineno - 1 : (node.end_lineno or node.lineno)]
        if not any(line.rstrip().endswith(PRAGMA) for line in span):
            yield node.lineno, ast.unparse(node)


def check(package: Path) -> list[str]:
    """`path:line: literal` for every hit in `package`, its `compat/` folder excepted."""
    package = package.resolve()
    exempt = package / EXEMPT_SUBPACKAGE
    hits = []
    for path in sorted(package.rglob("*.py")):
        if path.is_relative_to(exempt):
            continue
        shown = path.relative_to(package.parent).as_posix()
        for line, literal in legacy_literals(path.read_text(encoding="utf-8")):
            hits.append((shown, line, literal))
    return [f"{shown}:{line}: {literal}" for shown, line, literal in sorted(hits)]


def main(argv: list[str] | None = None) -> int:
    """Check each package given (default: the `osiris` package next to this script)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parent.parent / "osiris"
    parser.add_argument("packages", nargs="*", type=Path, default=[default])
    args = parser.parse_args(argv)
    hits = [hit for package in args.packages for hit in check(package)]
    for hit in hits:
        print(hit)
    if hits:
        print(
            f"{len(hits)} legacy path literal(s) outside {EXEMPT_SUBPACKAGE}/: move them "
            f"into {EXEMPT_SUBPACKAGE}/, or end the line with `{PRAGMA}` if documented",
            file=sys.stderr,
        )
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main())
