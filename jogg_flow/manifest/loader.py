"""Read a YAML file once into plain values; composed nodes give line numbers when needed.

PyYAML's constructor silently keeps the last of two equal keys and expands aliases without
bound, so the tree is built here from the composed nodes instead: one parse, duplicate keys
reported, alias expansion capped relative to the file's size.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..errors import ManifestError, Problem

_Composer = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR = "tag:yaml.org,2002:str"
_NATIVE = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
           "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null"}
_MERGE = "tag:yaml.org,2002:merge"
MAX_BYTES = 64 * 1024 * 1024
MAX_ALIAS_CHARS = 1024 * 1024  # scalar text aliases may add beyond 4x the file's own
_ANCHOR = re.compile(r"&([^\s,\[\]{}]+)")

Path = tuple[Any, ...]


@dataclass
class Document:
    """A parsed file: its values, and where they came from.

    The composed nodes (about 40 MB at 10,000 products, five times the values) are let go
    as soon as the values are built: only an error needs a place, so an error composes the
    text again (once); the products' lines, which a run's annotations use, are kept as ints.
    """

    file: str
    data: Any
    text: str = field(repr=False)
    product_lines: tuple[int, ...] = field(default=(), repr=False)
    _root: Node | None = field(default=None, repr=False)

    @property
    def root(self) -> Node:
        """The composed nodes, composed again from the text when they were let go."""
        if self._root is None:
            root = yaml.compose(self.text, Loader=_Composer)
            assert root is not None, "load() refuses an empty document"
            self._root = root
        return self._root

    def problem(self, path: Path, message: str, *, at_key: bool = False) -> Problem:
        """A problem placed at the node for `path` (or at its key, for a mapping entry)."""
        node = locate(self.root, path, at_key=at_key)
        mark = node.start_mark
        return Problem(self.file, mark.line + 1, mark.column + 1, message)

    def product_line(self, index: int) -> int:
        """The line of the product at `index` in `products:`."""
        if index < len(self.product_lines):
            return self.product_lines[index]
        return locate(self.root, ("products", index)).start_mark.line + 1


def _product_lines(root: Node) -> tuple[int, ...]:
    products = locate(root, ("products",))
    if not isinstance(products, SequenceNode) or products is root:
        return ()
    return tuple(item.start_mark.line + 1 for item in products.value)


def locate(root: Node, path: Path, *, at_key: bool = False) -> Node:
    """The deepest node along `path` (lookups happen only when reporting, so a walk is fine)."""
    node = root
    for i, step in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, MappingNode):
            for key, value in node.value:
                if isinstance(key, ScalarNode) and key.value == str(step):
                    node = key if (last and at_key) else value
                    break
            else:
                return node
        elif isinstance(node, SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
        else:
            return node
    return node


class _Builder:
    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.text = text
        # Aliases may repeat a node, so both what is built and its text are budgeted:
        # nodes (many short ones) and scalar characters (a few long ones, repeated).
        self.budget = 4 * len(text) + 10_000
        self.chars = 4 * len(text) + MAX_ALIAS_CHARS
        self.path: list[Node] = []
        self.problems: list[Problem] = []
        self.scalars = SafeConstructor()

    def at(self, node: Node, message: str) -> Problem:
        return Problem(self.file, node.start_mark.line + 1, node.start_mark.column + 1, message)

    def build(self, node: Node) -> Any:
        self.budget -= 1
        if isinstance(node, ScalarNode):
            self.chars -= len(node.value)
        if self.budget < 0 or self.chars < 0:
            raise ManifestError([self._bomb(node)])
        self.path.append(node)
        try:
            return self._build(node)
        finally:
            self.path.pop()

    def _build(self, node: Node) -> Any:
        if isinstance(node, ScalarNode):
            if node.tag == _STR:
                return node.value
            if node.tag in _NATIVE:
                try:
                    return self.scalars.construct_object(node)
                except ValueError:  # an integer past Python's 4,300-digit conversion limit
                    self.problems.append(self.at(node, f"a number of {len(node.value):,} characters "
                                                 "is too long to be a value"))
                    return node.value
            return node.value  # timestamps, binary: the text the user wrote
        if isinstance(node, SequenceNode):
            return [self.build(item) for item in node.value]
        assert isinstance(node, MappingNode)
        return self.mapping(node)

    def _bomb(self, node: Node) -> Problem:
        # Point at the innermost anchor being expanded (nodes keep no anchor names, so it
        # is read back from the text at the node's start).
        for candidate in reversed([*self.path, node]):
            mark = candidate.start_mark
            anchor = _ANCHOR.match(self.text, mark.index)
            if anchor:
                return Problem(self.file, mark.line + 1, mark.column + 1,
                               f"aliases of &{anchor.group(1)} expand this document far beyond its "
                               "size (a YAML bomb?); refusing to expand it")
        return Problem(self.file, 1, 1, "aliases expand this document far beyond its size "
                       "(a YAML bomb?); refusing to expand it")

    def mapping(self, node: MappingNode) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        first: dict[Any, Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                self.problems.append(self.at(key_node, "YAML merge keys (<<) are not supported; "
                                             "use 'defaults:' or variants instead"))
                continue
            if not isinstance(key_node, ScalarNode):
                self.problems.append(self.at(key_node, "a mapping key must be a plain value"))
                continue
            key = self.build(key_node)
            if key in first:
                line = first[key].start_mark.line + 1
                self.problems.append(self.at(key_node, f"duplicate key '{key}' "
                                             f"(first defined on line {line})"))
                continue
            first[key] = key_node
            out[key] = self.build(value_node)
        return out


def load(path: str) -> Document:
    """Parse `path` into a Document, or raise ManifestError naming every problem found."""
    text = _read(path)
    try:
        root = yaml.compose(text, Loader=_Composer)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise ManifestError([Problem(path, line, col, f"YAML syntax: {err.problem or err}")]) from None
    except yaml.YAMLError as err:  # e.g. a second document, reported without a mark
        raise ManifestError([Problem(path, 1, 1, f"YAML: {err}")]) from None
    if root is None:
        raise ManifestError([Problem(path, 1, 1, "the manifest is empty")])
    builder = _Builder(path, text)
    try:
        data = builder.build(root)
    except RecursionError:
        raise ManifestError([Problem(path, 1, 1, "the document is nested too deeply")]) from None
    if builder.problems:
        raise ManifestError(builder.problems)
    return Document(path, data, text, _product_lines(root))  # the nodes go here (see Document)


def _read(path: str) -> str:
    try:
        if os.path.isdir(path):
            raise ManifestError([Problem(path, 1, 1, "is a directory, not a manifest file")])
        size = os.path.getsize(path)
        if size > MAX_BYTES:
            raise ManifestError([Problem(path, 1, 1, f"is {size} bytes; manifests are "
                                         f"limited to {MAX_BYTES} bytes")])
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)  # bounded: a device or FIFO reports size 0
        if len(raw) > MAX_BYTES:
            raise ManifestError([Problem(path, 1, 1, f"is larger than the {MAX_BYTES} bytes "
                                         "a manifest may have")])
    except OSError as err:
        raise ManifestError([Problem(path, 1, 1, f"cannot read: {err.strerror}")]) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        col = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise ManifestError([Problem(path, line, col, f"not UTF-8 (byte 0x{raw[err.start]:02x})")]) from None
