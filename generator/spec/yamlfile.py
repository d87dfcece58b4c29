"""Reading the files users hand us (specs, FDLs, scripts, workflow YAML) safely, in one line.

Every such file is read with `read_text`: regular files only (a FIFO or /dev/zero would block
or never end), at most `MAX_BYTES` (1 MiB), UTF-8. YAML is parsed with `load_yaml`, PyYAML's
safe loader plus three refusals: aliases that expand the document by more than
`MAX_ALIAS_NODES` nodes (an alias bomb of a few hundred bytes otherwise becomes gigabytes
when generation or lint walks it), nesting deeper than `MAX_DEPTH`, and duplicate keys
(PyYAML keeps the last silently; OSCAR's Go parser refuses them).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any, Literal

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from generator.errors import OscarBatchError, SpecError

MAX_BYTES = 1 << 20
MAX_ALIAS_NODES = 100_000
MAX_DEPTH = 100


class _Refused(yaml.YAMLError):
    """A well-formed document we will not expand; `problem` is the one-line reason."""

    def __init__(self, problem: str, mark: Any = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


def _check(root: Node) -> None:
    """Refuse deep nesting, duplicate keys and alias expansion past the bound.

    Aliases make the node graph a DAG (or a cycle): sizes are memoised per node, so the walk
    costs the document's own size however far the aliases would expand.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: Node, depth: int) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in open_nodes:
            raise _Refused("a recursive alias (an anchor used inside itself)", node.start_mark)
        if depth > MAX_DEPTH:
            raise _Refused(f"nested more than {MAX_DEPTH} levels deep", node.start_mark)
        open_nodes.add(id(node))
        total = 1
        if isinstance(node, SequenceNode):
            total += sum(size(child, depth + 1) for child in node.value)
        elif isinstance(node, MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                if isinstance(key, ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    if key.value in seen:
                        raise _Refused(f"duplicate key {key.value!r}", key.start_mark)
                    seen.add(key.value)
                total += size(key, depth + 1) + size(value, depth + 1)
        open_nodes.discard(id(node))
        sizes[id(node)] = total
        return total

    expanded = size(root, 0)
    if expanded - len(sizes) > MAX_ALIAS_NODES:
        raise _Refused(
            f"aliases expand the document by {expanded - len(sizes):,} nodes"
            f" (at most {MAX_ALIAS_NODES:,}); write the values out instead of using anchors",
            root.start_mark,
        )


# libyaml's parser when PyYAML has it: 7x faster on a folder of workflows (lint), same nodes
_SAFE: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SAFE):  # type: ignore[misc]
    def get_node(self) -> Node | None:
        node: Node | None = super().get_node()
        if node is not None:
            _check(node)
        return node


class _WrittenNumbersLoader(_Loader):
    """Numbers stay the text that was written (`1.10`, not 1.1): OSCAR reads FDL variables
    into a map of strings (oscar pkg/types/service.go: Environment.Vars), where Go's YAML
    decoder keeps a scalar's text. Fields that are numbers are converted back by the model."""


def _written(loader: yaml.SafeLoader, node: Node) -> Any:
    return node.value


for _tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
    _WrittenNumbersLoader.add_constructor(_tag, _written)


class Plain(str):
    """The text of a plain (unquoted) scalar: Go's decoder types it by its text
    (spec/goyaml.py), so `yes` and `"yes"` may differ where `true` and `"true"` do not."""

    __slots__ = ()


class _PlainTextLoader(_Loader):
    """Every scalar is its text (a plain one as `Plain`); only nulls stay None. For files Go
    reads (FDLs): what a value means is decided where Go would decide it."""


def _plain(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    # PyYAML marks a plain scalar with style None, libyaml with ""
    return Plain(node.value) if not node.style else str(node.value)


for _tag in ("int", "float", "bool", "timestamp", "str"):
    _PlainTextLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _plain)


def read_text(
    path: Path, what: str = "file", limit: int = MAX_BYTES, error: type[OscarBatchError] = SpecError
) -> str:
    """The text of a regular file of at most `limit` bytes.

    Args:
        path: the file.
        what: what the file is, for messages ("spec", "script", ...).
        limit: the largest size accepted, in bytes.
        error: the error class to raise.

    Raises:
        error: not a regular file, larger than `limit`, unreadable, or not UTF-8.
    """
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer before we can refuse it
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise error(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise error(f"{path}: the {what} must be a regular file")
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise error(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise error(f"{path}: the {what} is larger than {_size(limit)}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(
            f"{path}: the {what} is not UTF-8 text (byte {exc.start} is 0x{data[exc.start]:02x})"
        ) from None
    # universal newlines, as Path.read_text reads: FDLs written on Windows end lines in CRLF
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 and not limit % (1 << 20) else f"{limit} bytes"


def _parse(text: str, numbers_as_written: bool | Literal["plain"]) -> list[Any]:
    loader = {False: _Loader, True: _WrittenNumbersLoader, "plain": _PlainTextLoader}[
        numbers_as_written
    ]
    return list(yaml.load_all(text, Loader=loader))  # all are SafeLoaders


def load_yaml_all(
    text: str,
    source: str,
    error: type[OscarBatchError] = SpecError,
    numbers_as_written: bool | Literal["plain"] = False,
) -> list[Any]:
    """Every document of a YAML text, parsed safely (see the module docstring).

    Args:
        text: the YAML.
        source: where it comes from, for messages.
        error: the error class to raise.
        numbers_as_written: keep numbers as their text (`1.10` stays "1.10"); "plain":
            every scalar as its text, plain ones as `Plain` (for files Go reads).

    Raises:
        error: invalid YAML, duplicate keys, deep nesting or an alias bomb, as one line.
    """
    try:
        return _parse(text, numbers_as_written)
    except _Refused as exc:
        raise error(_message(exc, source, "refused YAML")) from None
    except yaml.YAMLError:
        pass
    except RecursionError:
        raise error(f"{source}: refused YAML: nested more than {MAX_DEPTH} levels deep") from None
    # Go's YAML parser (OSCAR's) accepts trailing tabs that PyYAML rejects; real FDLs have them.
    try:
        return _parse(re.sub(r"[ \t]+$", "", text, flags=re.MULTILINE), numbers_as_written)
    except _Refused as exc:
        raise error(_message(exc, source, "refused YAML")) from None
    except yaml.YAMLError as exc:
        raise error(_message(exc, source, "invalid YAML")) from None
    except RecursionError:
        raise error(f"{source}: refused YAML: nested more than {MAX_DEPTH} levels deep") from None


def _message(exc: yaml.YAMLError, source: str, what: str) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f" line {mark.line + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if problem == "exceeded maximum nesting depth":  # libyaml's own bound, past ours
        what, problem = "refused YAML", f"nested more than {MAX_DEPTH} levels deep"
    return f"{source}:{where}: {what}: {problem}"


def load_yaml(
    text: str,
    source: str,
    error: type[OscarBatchError] = SpecError,
    numbers_as_written: bool | Literal["plain"] = False,
) -> Any:
    """One YAML document (None when empty), parsed as `load_yaml_all` does.

    Raises:
        error: as `load_yaml_all`, or the text holds several documents.
    """
    docs = load_yaml_all(text, source, error, numbers_as_written)
    if len(docs) > 1:
        raise error(f"{source}: expected one YAML document, found {len(docs)}")
    return docs[0] if docs else None


def read_yaml(
    path: Path,
    what: str = "file",
    error: type[OscarBatchError] = SpecError,
    numbers_as_written: bool | Literal["plain"] = False,
) -> Any:
    """`read_text` then `load_yaml`: one safe YAML document from a file."""
    return load_yaml(read_text(path, what, error=error), str(path), error, numbers_as_written)
