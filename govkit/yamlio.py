"""The one YAML loader govkit uses for every file it reads (specs, policies,
robustness suites, cards, the risk matrix and other shipped tables).

PyYAML's ``SafeLoader`` builds no arbitrary objects, but aliases let a
1.3 KB document describe billions of nodes (the "billion laughs" attack,
CVE-2003-1564 for XML): the parsed graph is small, anything that walks it
(hashing, JSON, validation) is not.  :func:`load` therefore refuses, before
constructing any Python object:

* a document larger than ``max_bytes``;
* more than ``max_aliases`` aliases;
* a graph that expands to more than ``max_nodes`` nodes when aliases are
  followed (computed in linear time, memoised per node), or a recursive alias;
* nesting deeper than ``max_depth``;
* a key repeated in one mapping (PyYAML would keep the last silently, so a
  second ``requirements:`` or ``max:`` could replace the first unseen).

Booleans follow YAML 1.2 (only ``true``/``false``): ``on``, ``off``, ``yes``,
``no`` stay text, so a policy's ``on: point`` means what it says.

Every refusal is :class:`~govkit.errors.BadInput` (exit 2) naming the source
and the line.  With ``lines=True`` each mapping carries ``"__line__"`` (its
1-based line), for validators that report the offending line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from govkit.errors import BadInput

MAX_BYTES = 1 << 20
MAX_ALIASES = 100
MAX_NODES = 100_000
MAX_DEPTH = 64
LINE_KEY = "__line__"


_BOOL = "tag:yaml.org,2002:bool"


class _SafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 booleans."""


_SafeLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SafeLoader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


class _LineLoader(_SafeLoader):
    """A safe loader whose mappings remember their line (``__line__``)."""


def _mapping_with_line(loader: yaml.SafeLoader, node: MappingNode) -> dict[Any, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping[LINE_KEY] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)


class _Limits:
    def __init__(self, source: str, max_nodes: int, max_depth: int) -> None:
        self.source, self.max_nodes, self.max_depth = source, max_nodes, max_depth
        self.size: dict[int, int] = {}
        self.active: set[int] = set()

    def fail(self, node: Node, msg: str) -> BadInput:
        return BadInput(f"{self.source} line {node.start_mark.line + 1}: {msg}")

    def expanded(self, node: Node, depth: int) -> int:
        """Nodes under ``node`` with aliases expanded; refuses bombs, cycles and deep nesting."""
        if depth > self.max_depth:
            raise self.fail(node, f"nesting deeper than {self.max_depth} levels")
        key = id(node)
        if key in self.size:
            return self.size[key]
        if key in self.active:
            raise self.fail(node, "recursive alias")
        self.active.add(key)
        total = 1
        if isinstance(node, SequenceNode):
            for child in node.value:
                total += self.expanded(child, depth + 1)
                if total > self.max_nodes:
                    break
        elif isinstance(node, MappingNode):
            seen: set[tuple[str, str]] = set()
            for k, v in node.value:
                if isinstance(k, ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                    if (k.tag, k.value) in seen:  # PyYAML would silently keep the last
                        raise self.fail(k, f"duplicate key {k.value!r}")
                    seen.add((k.tag, k.value))
                total += self.expanded(k, depth + 1) + self.expanded(v, depth + 1)
                if total > self.max_nodes:
                    break
        self.active.discard(key)
        if total > self.max_nodes:
            raise self.fail(node, f"aliases expand to more than {self.max_nodes:,} nodes (an alias bomb?)")
        self.size[key] = total
        return total


def _line(ev: yaml.Event) -> int:
    return ev.start_mark.line + 1 if ev.start_mark is not None else 1


def _scan_events(text: str, source: str, max_aliases: int, max_depth: int) -> None:
    """Scan the event stream (no recursion, no expansion): too many aliases, too deep."""
    n_alias = depth = 0
    for ev in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(ev, yaml.AliasEvent):
            n_alias += 1
            if n_alias > max_aliases:
                raise BadInput(f"{source} line {_line(ev)}: more than {max_aliases} aliases")
        elif isinstance(ev, yaml.CollectionStartEvent):
            depth += 1
            if depth > max_depth:
                raise BadInput(f"{source} line {_line(ev)}: nesting deeper than {max_depth} levels")
        elif isinstance(ev, yaml.CollectionEndEvent):
            depth -= 1


def load(
    text: str,
    source: str = "YAML",
    *,
    lines: bool = False,
    max_bytes: int = MAX_BYTES,
    max_aliases: int = MAX_ALIASES,
    max_nodes: int = MAX_NODES,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """Parse one YAML document safely (see the module docstring for the limits)."""
    if len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise BadInput(f"{source} line 1: larger than {max_bytes:,} bytes")
    loader: yaml.SafeLoader = (_LineLoader if lines else _SafeLoader)(text)
    try:
        _scan_events(text, source, max_aliases, max_depth)
        node = loader.get_single_node()
        if node is None:
            return None
        _Limits(source, max_nodes, max_depth).expanded(node, 0)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise BadInput(f"{source} line {line}: invalid YAML ({getattr(exc, 'problem', None) or exc})") from None
    except RecursionError:
        raise BadInput(f"{source} line 1: nesting too deep") from None
    finally:
        loader.dispose()


def load_file(path: str | Path, what: str = "YAML file", *, lines: bool = False) -> Any:
    """Read and :func:`load` a file; an unreadable file is :class:`BadInput` too."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise BadInput(f"{p} line 1: larger than {MAX_BYTES:,} bytes")
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot read {what} {p}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise BadInput(f"{what} {p} is not UTF-8 text") from None
    return load(text, str(p), lines=lines)


def strip_lines(obj: Any) -> Any:
    """``obj`` without the ``__line__`` keys :func:`load` adds with ``lines=True``."""
    if isinstance(obj, dict):
        return {k: strip_lines(v) for k, v in obj.items() if k != LINE_KEY}
    if isinstance(obj, list):
        return [strip_lines(v) for v in obj]
    return obj


__all__ = ["LINE_KEY", "load", "load_file", "strip_lines"]
