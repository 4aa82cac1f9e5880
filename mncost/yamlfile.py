"""Reading YAML so that every mapping remembers the line of each of its keys.

A spec error must name the file, the line and the field; PyYAML's plain ``safe_load`` forgets
where a value came from, so mappings and sequences are built as :class:`LineDict` and
:class:`LineList`, which carry 1-based line numbers.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import SpecError

try:  # the C parser is several times faster; line marks work the same
    _Base = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Base = yaml.SafeLoader


class LineDict(dict):
    """A YAML mapping with ``line`` (its own first line) and ``key_lines`` (line of each key)."""

    def __init__(self, *args, line: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.line = line
        self.key_lines: dict[str, int] = {}

    def line_of(self, key: str) -> int | None:
        """The line of ``key`` if it is present, else the mapping's own line."""
        return self.key_lines.get(key, self.line)


class LineList(list):
    """A YAML sequence with ``line`` and ``item_lines`` (line of each item)."""

    def __init__(self, *args, line: int | None = None) -> None:
        super().__init__(*args)
        self.line = line
        self.item_lines: list[int] = []


class _DuplicateKey(Exception):
    def __init__(self, key: str, line: int) -> None:
        super().__init__(key)
        self.key = key
        self.line = line


class _Loader(_Base):  # type: ignore[misc, valid-type]
    pass


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict(line=node.start_mark.line + 1)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        key_line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            key = str(key)
        if key in result:
            raise _DuplicateKey(key, key_line)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_line
    return result


def _construct_sequence(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> LineList:
    result = LineList(line=node.start_mark.line + 1)
    for item in node.value:
        result.append(loader.construct_object(item, deep=True))
        result.item_lines.append(item.start_mark.line + 1)
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml_text(text: str, file: str) -> object:
    """Parse YAML text; syntax errors become a one-line :class:`SpecError` with the line."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as exc:
        raise SpecError(f"duplicate key {exc.key!r}", file=file, line=exc.line,
                        field=exc.key) from None
    except yaml.MarkedYAMLError as exc:
        # The context mark is where the broken construct starts (an unclosed "{" say); the
        # problem mark is where the parser gave up, often a line later.
        mark = exc.context_mark or exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.context_mark and exc.problem_mark and (
                exc.problem_mark.line != exc.context_mark.line):
            problem += f" ({exc.context}; noticed on line {exc.problem_mark.line + 1})"
        raise SpecError(f"YAML syntax error: {problem}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"YAML error: {exc}", file=file) from None


def load_yaml_file(path: Path) -> object:
    """Read and parse a YAML file; an unreadable file is a :class:`SpecError` too."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("no such file", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise SpecError(f"cannot read file: {reason}", file=str(path)) from None
    return load_yaml_text(text, str(path))
