"""Where each key of a YAML document is, so an error can name its line.

Used only on the error path: the document is composed again (never constructed), and
keys are dotted paths as the OML checker names them (`steps[1].config.query`).
"""

from __future__ import annotations

import re

import yaml

_STEP_LABEL = re.compile(r"(\[\d+\]) \([^)]*\)")  # `steps[1] (aggregate)` -> `steps[1]`


def key_lines(text: str) -> dict[str, int]:
    """Every key and list item path of the document -> its line (1-based)."""
    lines: dict[str, int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines
    pending: list[tuple[yaml.Node, str]] = [(root, "")] if root is not None else []
    while pending:
        node, path = pending.pop()
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = f"{path}.{key.value}" if path else str(key.value)
                lines[child] = key.start_mark.line + 1
                pending.append((value, child))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                child = f"{path}[{index}]"
                lines[child] = item.start_mark.line + 1
                pending.append((item, child))
    return lines


def line_of(lines: dict[str, int], key: str) -> int | None:
    """The line of `key` as an error names it (`steps[1] (agg): config.query`), else of
    its nearest enclosing key that the document has (a missing key: its section)."""
    path = _STEP_LABEL.sub(r"\1", key).replace(": ", ".")
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    return None
