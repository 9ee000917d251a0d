"""Loading YAML that may be hostile: a size limit, a node budget after aliases, a depth limit.

PyYAML resolves an alias to the node it names, so ten nested levels of ten aliases each
(a few hundred bytes) stand for 10^10 nodes that every walk over the data visits; deep
nesting exhausts Python's recursion, and libyaml's C parser crashes the process on it. Every
YAML file Osiris reads (OML pipelines, `osiris.yaml`, manifests, legacy trees) goes through
`load`, which refuses such documents with `YamlRefused` before anything walks them.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

MAX_BYTES = 1024 * 1024  # docs/compile.md: a pipeline file holds at most 1 Mi characters
MAX_NODES = 100_000  # nodes once aliases are expanded
MAX_DEPTH = 100  # nesting of mappings and sequences
_FLOW = re.compile(r"[\[\]{}]")
# libyaml's parser when PyYAML has it (about 9x faster), with the same safe constructor: for
# files Osiris wrote itself, where an error message's wording never reaches a user.
FAST_SAFE_LOADER: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlRefused(ValueError):
    """A document too large, too deep or too big once its aliases are expanded."""


def load(text: str, loader: type[Any] = yaml.SafeLoader) -> Any:
    """Parse one YAML document with `loader` (a SafeLoader or a subclass of it)."""
    if len(text) > MAX_BYTES:
        raise YamlRefused(f"is {len(text):,} characters long, more than the {MAX_BYTES:,} allowed")
    if _flow_depth(text) > MAX_DEPTH and not issubclass(loader, yaml.SafeLoader):
        loader = yaml.SafeLoader  # libyaml's parser crashes on deep nesting; Python's raises
    parser = loader(text)
    try:
        try:
            node = parser.get_single_node()
        except RecursionError:
            raise YamlRefused(f"is nested more than {MAX_DEPTH} levels deep") from None
        if node is None:
            return None
        _check(node)
        return parser.construct_document(node)
    finally:
        parser.dispose()


def _flow_depth(text: str) -> int:
    """The deepest nesting of `[` and `{` (quoted text may count too: an upper bound)."""
    depth = deepest = 0
    for match in _FLOW.finditer(text):
        depth += 1 if match.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _check(root: yaml.Node) -> None:
    """Refuse a node graph deeper than MAX_DEPTH or larger than MAX_NODES once expanded.

    Iterative, with the expanded size of each node remembered: the graph an alias bomb
    composes to is small, its expansion is what is huge.
    """
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        if id(node) in sizes:
            continue
        if depth > MAX_DEPTH:
            raise YamlRefused(f"is nested more than {MAX_DEPTH} levels deep")
        children = _children(node)
        if done or not children:
            size = 1 + sum(sizes[id(child)] for child in children)
            if size > MAX_NODES:
                raise YamlRefused(
                    f"holds more than {MAX_NODES:,} values once its aliases are expanded"
                )
            sizes[id(node)] = size
            continue
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in children if id(child) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []
