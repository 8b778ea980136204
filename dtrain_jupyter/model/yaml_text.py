"""YAML text to manifests, safely, remembering where each field was written.

Only PyYAML's safe machinery is used (a SafeConstructor subclass over the C or Python parser and
a bounded composer); the full Loader never runs. What a Kubernetes manifest cannot hold is
refused with a line and column: syntax errors (with a plain word for tabs and unclosed
brackets), duplicate keys, tags other than the JSON ones, texts over MAX_TEXT_BYTES, nesting
deeper than MAX_DEPTH, and alias bombs ("billion laughs"): the expanded size of every document
is counted on the node graph, where aliases are shared, before anything is built, so such a
text is refused in milliseconds with memory bounded by the text itself.

Unquoted dates stay strings, as they do when the API server reads YAML into JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.composer import Composer, ComposerError
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.reader import ReaderError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from ..errors import InvalidJob, ValidationIssue
from .paths import Path

try:  # libyaml's parser is ~10x faster; the composer above it stays ours (Python) either way.
    from yaml._yaml import CParser as _Parser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.parser import Parser as _Parser  # type: ignore[assignment]
    from yaml.reader import Reader as _Reader
    from yaml.scanner import Scanner as _Scanner
else:
    _Reader = _Scanner = None  # type: ignore[assignment,misc]

__all__ = ["Document", "load_documents", "MAX_TEXT_BYTES", "MAX_DEPTH", "MAX_NODES"]

MAX_TEXT_BYTES = 1024 * 1024
# Deepest nesting we compose; a pod spec with affinity rules is about 20 levels deep.
MAX_DEPTH = 100
# Most values (scalars, mappings, sequences) a text may expand to once aliases are followed.
# A 1 MiB manifest written out by hand holds well under this; a billion-laughs text holds 10^9.
MAX_NODES = 200_000

_MERGE_TAG = "tag:yaml.org,2002:merge"
_JSON_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq")}


@dataclass
class Document:
    """One YAML document of a text: its data and a way back from field paths to the text."""

    data: Any
    index: int
    node: Node | None = field(default=None, repr=False, compare=False)

    def position(self, path: Path) -> tuple[int, int] | None:
        """The 1-based (line, column) where `path` is written, or None if it is not in the text.

        A mapping field points at its key (`replicas:`), a list item at the item itself.
        """
        found = _find(self.node, tuple(path))
        return (found.line + 1, found.column + 1) if found is not None and len(path) == found.depth else None

    def nearest_position(self, path: Path) -> tuple[int, int] | None:
        """Where `path` is written, or else where its deepest written parent is (for missing fields)."""
        found = _find(self.node, tuple(path))
        return (found.line + 1, found.column + 1) if found is not None else None


@dataclass
class _Found:
    line: int
    column: int
    depth: int


def _find(node: Node | None, path: Path) -> _Found | None:
    if node is None:
        return None
    mark = node.start_mark
    found = _Found(mark.line, mark.column, 0)
    for depth, part in enumerate(path, start=1):
        nxt = None
        if isinstance(node, MappingNode):
            # Search from the end: after a merge (`<<`) the explicit keys come last and win.
            for key_node, value_node in reversed(node.value):
                if isinstance(key_node, ScalarNode) and _same_key(key_node.value, part):
                    nxt, mark = value_node, key_node.start_mark
                    break
        elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            nxt = node.value[part]
            mark = nxt.start_mark
        if nxt is None:
            return found
        node = nxt
        found = _Found(mark.line, mark.column, depth)
    return found


def _same_key(text: str, part: Any) -> bool:
    return text == part if isinstance(part, str) else text == str(part)


class _Resolver(Resolver):
    """YAML 1.1 implicit types minus timestamps: `2024-01-01` stays a string, as in Kubernetes."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in entries if tag != "tag:yaml.org,2002:timestamp"]
        for first, entries in Resolver.yaml_implicit_resolvers.items()
    }


class _Constructor(SafeConstructor):
    """Builds JSON-shaped data only, and refuses duplicate keys where they are written."""

    yaml_constructors = {
        tag: fn for tag, fn in SafeConstructor.yaml_constructors.items() if tag in _JSON_TAGS or tag is None
    }

    def construct_mapping(self, node: Node, deep: bool = False) -> dict:
        if isinstance(node, MappingNode):
            seen: dict[Any, Node] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    raise ConstructorError(None, None, "a mapping key must be a plain value, not a list or mapping",
                                           key_node.start_mark) from None
                if key in seen:
                    first = seen[key].start_mark
                    raise ConstructorError(
                        None, None,
                        f"duplicate key {key!r} (first written at line {first.line + 1}, column {first.column + 1}); "
                        f"keep one of them",
                        key_node.start_mark)
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)

    def construct_undefined(self, node: Node) -> Any:
        raise ConstructorError(
            None, None,
            f"tag {node.tag!r} is not allowed in a manifest: use plain strings, numbers, booleans, lists and mappings",
            node.start_mark)


_Constructor.add_constructor(None, _Constructor.construct_undefined)


class _BoundedComposer(Composer):
    """PyYAML's composer with a nesting bound and a count of aliases seen."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.aliases = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise ComposerError(None, None, f"nesting deeper than {MAX_DEPTH} levels is not accepted",
                                    self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


if _Reader is None:
    class _Loader(_BoundedComposer, _Parser, _Constructor, _Resolver):  # type: ignore[misc,valid-type]
        def __init__(self, stream: str) -> None:
            _Parser.__init__(self, stream)
            _BoundedComposer.__init__(self)
            _Constructor.__init__(self)
            _Resolver.__init__(self)
else:  # pragma: no cover - PyYAML built without libyaml
    class _Loader(_BoundedComposer, _Reader, _Scanner, _Parser, _Constructor, _Resolver):  # type: ignore[misc,no-redef]
        def __init__(self, stream: str) -> None:
            _Reader.__init__(self, stream)
            _Scanner.__init__(self)
            _Parser.__init__(self)
            _BoundedComposer.__init__(self)
            _Constructor.__init__(self)
            _Resolver.__init__(self)


def load_documents(text: str | bytes) -> list[Document]:
    """Parse every YAML document of a text.

    Args:
        text: YAML as str, or bytes in UTF-8 (a byte-order mark is fine).

    Returns:
        One Document per document in the stream, in order; an empty document has data None.

    Raises:
        InvalidJob: one issue with line and column (1-based) and the document index, for text
            over MAX_TEXT_BYTES, bytes that are not UTF-8, YAML syntax errors, tabs used for
            indentation, duplicate keys, non-JSON tags, nesting deeper than MAX_DEPTH, recursive
            aliases, or aliases that expand past MAX_NODES values.
    """
    text = _as_text(text)
    loader = _Loader(text)
    documents: list[Document] = []
    budget = MAX_NODES
    try:
        while loader.check_node():
            index = len(documents)
            loader.aliases = 0
            node = loader.get_node()
            budget -= _expanded_size(node, budget)
            data = loader.construct_document(node)
            if loader.aliases:
                data = _unshare(data)
            documents.append(Document(data=data, index=index, node=node))
    except yaml.YAMLError as e:
        raise InvalidJob([_issue_from_yaml_error(e, text, len(documents))]) from None
    except RecursionError:
        raise InvalidJob([ValidationIssue("", f"nesting is too deep to read (at most {MAX_DEPTH} levels)",
                                          document=len(documents))]) from None
    except (ValueError, TypeError, OverflowError) as e:
        # A value the safe constructor cannot build (for example an odd int literal).
        raise InvalidJob([ValidationIssue("", f"YAML value cannot be read: {e}", document=len(documents))]) from None
    finally:
        loader.dispose()
    return documents


def _as_text(text: str | bytes) -> str:
    if isinstance(text, (bytes, bytearray, memoryview)):
        raw = bytes(text)
        if len(raw) > MAX_TEXT_BYTES:
            raise InvalidJob([_too_big(len(raw))])
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise InvalidJob([ValidationIssue("", f"the text is not UTF-8 (byte {e.start} cannot be decoded)")]) from None
    if not isinstance(text, str):
        raise InvalidJob([ValidationIssue("", f"expected YAML text, got {type(text).__name__}")])
    if len(text) > MAX_TEXT_BYTES:
        raise InvalidJob([_too_big(len(text))])
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as e:
        line = text.count("\n", 0, e.start) + 1
        column = e.start - (text.rfind("\n", 0, e.start) + 1) + 1
        raise InvalidJob([ValidationIssue("", f"character {text[e.start]!r} is a lone surrogate, not valid Unicode text",
                                          line=line, column=column)]) from None
    if size > MAX_TEXT_BYTES:
        raise InvalidJob([_too_big(size)])
    return text.removeprefix("\ufeff")


def _too_big(size: int) -> ValidationIssue:
    return ValidationIssue("", f"the text is {size} bytes; at most {MAX_TEXT_BYTES} bytes (1 MiB) are accepted")


def _expanded_size(root: Node, budget: int) -> int:
    """How many values the document becomes once aliases are copied out; refuse past `budget`.

    Sizes are memoised per node, so the work is linear in the text even when the expansion is
    exponential; a node met again while its own size is being counted is a recursive alias.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise ComposerError(None, None, "an alias refers to a node that contains it (recursive alias)",
                                node.start_mark)
        open_nodes.add(key)
        total = 1
        if isinstance(node, SequenceNode):
            for child in node.value:
                total += size(child)
                if total > budget:
                    break
        elif isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                total += size(key_node) + size(value_node)
                if total > budget:
                    break
        open_nodes.discard(key)
        if total > budget:
            raise ComposerError(
                None, None,
                f"the text expands to more than {MAX_NODES} values through aliases (*name); "
                f"write the repeated parts out or use fewer aliases", node.start_mark)
        sizes[key] = total
        return total

    return size(root)


def _unshare(data: Any) -> Any:
    """Copy aliased values apart so that editing one place never changes another (size is bounded)."""
    if isinstance(data, dict):
        return {k: _unshare(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_unshare(v) for v in data]
    return data


def _issue_from_yaml_error(e: yaml.YAMLError, text: str, document: int) -> ValidationIssue:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    line = column = None
    if mark is not None:
        line, column = mark.line + 1, mark.column + 1
    if isinstance(e, ReaderError):
        char = chr(e.character) if isinstance(e.character, int) else str(e.character)
        problem = f"character {char!r} is not allowed in YAML text"
        if 0 <= e.position <= len(text):
            line = text.count("\n", 0, e.position) + 1
            column = e.position - (text.rfind("\n", 0, e.position) + 1) + 1
    if line is not None and _tab_at(text, line, column):
        return ValidationIssue("", "tab character in indentation: YAML indents with spaces only; "
                                   "replace the tab with spaces", line=line, column=column, document=document)
    context = getattr(e, "context", None)
    context_mark = getattr(e, "context_mark", None)
    message = f"YAML syntax error: {problem}"
    if isinstance(e, (ConstructorError, ComposerError)) and not context:
        message = problem[0].upper() + problem[1:] if problem else "YAML error"
    if context and context_mark is not None and mark is not None and context_mark.line != mark.line:
        message += f" ({context} that starts at line {context_mark.line + 1}, column {context_mark.column + 1})"
        if "flow" in context:
            message += "; close the bracket or brace"
    elif context:
        message += f" ({context})"
    return ValidationIssue("", message, line=line, column=column, document=document)


def _tab_at(text: str, line: int, column: int | None) -> bool:
    """Whether the error sits on a tab that was meant as indentation."""
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return False
    row = lines[line - 1]
    stripped = row.lstrip(" ")
    if stripped.startswith("\t") or stripped.startswith("- \t"):
        return True
    return column is not None and 0 <= column - 1 < len(row) and row[column - 1] == "\t"
