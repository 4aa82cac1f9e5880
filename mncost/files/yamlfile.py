"""Reading YAML safely, so that every mapping remembers the line of each of its keys.

A spec error must name the file, the line and the field; PyYAML's plain ``safe_load`` forgets
where a value came from, so mappings and sequences are built as :class:`LineDict` and
:class:`LineList`, which carry 1-based line numbers.

Specs and budgets are both read by :func:`load_yaml_file`, which bounds what a small hostile
file can do (:mod:`mncost.limits`): only a regular file of at most 1 MiB is read; the event
stream is checked first, without recursion, for nesting depth (PyYAML's composer recurses and
crashes the interpreter on a few thousand levels) and for the size the document stands for once
its aliases are expanded (an "alias bomb"); integers are limited in length; a value that cannot
be constructed (``!!int abc``) is a one-line error with its line. Dates are not resolved:
``name: 2001-12-01`` is a string, as a spec never holds a date.

Numbers and booleans are read as YAML 1.2 reads them, and what YAML 1.1 (PyYAML's own rules)
would read otherwise is refused, with the line and both readings, rather than read one way
here and another by the next tool: ``032`` (octal 26 in YAML 1.1, 32 in 1.2), ``1:30``
(base 60: 90), ``1_000``, ``0b101``, and ``yes``/``no``/``on``/``off`` (booleans in 1.1, text
in 1.2). Quoted, each is text. Merge keys (``<<: *stem``) work: keys written beside them win
over merged ones, and only a key written twice is a duplicate.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from ..errors import SpecError
from ..limits import MAX_DEPTH, MAX_INT_DIGITS, MAX_YAML_BYTES, MAX_YAML_NODES
from .inputfile import Refused, read_limited

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
    """The safe loader, with line-aware mappings and a one-line error for any value that
    cannot be constructed."""

    def construct_object(self, node, deep=False):  # noqa: ANN001 - PyYAML's signature
        try:
            return super().construct_object(node, deep=deep)
        except (yaml.YAMLError, _DuplicateKey):
            raise
        except Exception as exc:  # noqa: BLE001 - PyYAML's constructors raise anything
            # (ValueError for !!int abc, AttributeError for an unparsable !!timestamp...)
            what = (f"cannot read {str(node.value)[:40]!r} as {node.tag.rsplit(':', 1)[-1]}"
                    if isinstance(node, yaml.ScalarNode) else "cannot read this value")
            reason = " ".join(str(exc).split())
            # int's own message repeats the value; other exception types say nothing useful.
            if isinstance(exc, (ValueError, OverflowError)) and "literal for int" not in reason:
                what += f" ({reason})"
            raise yaml.constructor.ConstructorError(None, None, what, node.start_mark) from None


# Without the timestamp resolver a date-like scalar stays a string (a spec never holds dates).
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _Base.yaml_implicit_resolvers.items()}


_MERGE = "tag:yaml.org,2002:merge"


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> LineDict:
    # flatten_mapping puts the merged pairs (``<<: *a``) first, in the order in which a later
    # one wins (``<<: [*a, *b]``: a's over b's); the keys written in the mapping come after
    # them and win over them, but each may be written only once.
    written = sum(1 for key_node, _ in node.value if key_node.tag != _MERGE)
    loader.flatten_mapping(node)
    merged = len(node.value) - written
    result = LineDict(line=node.start_mark.line + 1)
    from_merge: set[str] = set()
    for index, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=True)
        key_line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            key = str(key)
        if index < merged:
            from_merge.add(key)
        elif key in result and key not in from_merge:
            raise _DuplicateKey(key, key_line)
        else:
            from_merge.discard(key)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_line
    return result


def _construct_sequence(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> LineList:
    result = LineList(line=node.start_mark.line + 1)
    for item in node.value:
        result.append(loader.construct_object(item, deep=True))
        result.item_lines.append(item.start_mark.line + 1)
    return result


#: Integers YAML 1.1 and 1.2 read alike: decimal without a leading zero, and hexadecimal.
_SAME_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*|0x[0-9a-fA-F]+)")
_LEADING_ZERO = re.compile(r"[-+]?0[0-9]+")
_Safe = yaml.constructor.SafeConstructor


def _only_yaml_1_1(node: yaml.ScalarNode, reading: str, meaning: object, write: str
                   ) -> yaml.constructor.ConstructorError:
    return yaml.constructor.ConstructorError(
        None, None, f"{str(node.value)[:40]!r} is {reading} in YAML 1.1 ({meaning!r}) and "
                    f"{write}", node.start_mark)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(node.value)
    digits = sum(ch.isdigit() for ch in text)
    if digits > MAX_INT_DIGITS:
        raise yaml.constructor.ConstructorError(
            None, None, f"an integer of {digits:,} digits is out of range (at most "
                        f"{MAX_INT_DIGITS} digits)", node.start_mark)
    if _SAME_INT.fullmatch(text):
        return _Safe.construct_yaml_int(loader, node)
    value = _Safe.construct_yaml_int(loader, node)   # what YAML 1.1 reads (or ValueError)
    if ":" in text:
        raise _only_yaml_1_1(node, "a base-60 number", value,
                             f"text in YAML 1.2; write {value}, or quote it for text")
    if "_" in text:
        raise _only_yaml_1_1(node, "a number with digits grouped by '_'", value,
                             f"text in YAML 1.2; write {value}")
    if "b" in text:
        raise _only_yaml_1_1(node, "a binary number", value, f"text in YAML 1.2; write {value}")
    if _LEADING_ZERO.fullmatch(text):
        raise _only_yaml_1_1(node, "an octal number (a leading zero)", value,
                             f"{int(text, 10)} in YAML 1.2; write it without the leading "
                             "zero, or quote it for text")
    return value


def _construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    text = str(node.value)
    if ":" in text or "_" in text:
        value = _Safe.construct_yaml_float(loader, node)
        reading = ("a base-60 number" if ":" in text
                   else "a number with digits grouped by '_'")
        raise _only_yaml_1_1(node, reading, value, f"text in YAML 1.2; write {value!r}")
    return _Safe.construct_yaml_float(loader, node)


def _construct_bool(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> bool:
    value = _Safe.construct_yaml_bool(loader, node)
    if str(node.value).lower() not in ("true", "false"):
        raise _only_yaml_1_1(node, "a boolean", value, "text in YAML 1.2; write "
                             f"{str(value).lower()}, or quote it for text")
    return value


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
_Loader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


class _TooLarge(Exception):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


def _check_events(text: str) -> None:
    """Walk the event stream (PyYAML's parser is a state machine: no recursion) and refuse a
    document nested deeper than :data:`MAX_DEPTH` or standing for more than
    :data:`MAX_YAML_NODES` nodes once its aliases are expanded, before anything recurses."""
    loader = _Base(text)
    try:
        total = 0
        open_: list[tuple[str | None, int]] = []
        sizes: dict[str, int] = {}
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.CollectionStartEvent):
                total += 1
                open_.append((event.anchor, total - 1))
                if len(open_) > MAX_DEPTH:
                    raise _TooLarge(f"nested more than {MAX_DEPTH} levels deep",
                                    event.start_mark.line + 1)
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, start = open_.pop()
                if anchor is not None:
                    sizes[anchor] = total - start
            elif isinstance(event, yaml.ScalarEvent):
                total += 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.AliasEvent):
                total += sizes.get(event.anchor, 1)
            if total > MAX_YAML_NODES:
                raise _TooLarge(f"the document stands for more than {MAX_YAML_NODES:,} values "
                                "once its aliases (*name) are expanded",
                                event.start_mark.line + 1)
    finally:
        loader.dispose()


def load_yaml_text(text: str, file: str) -> object:
    """Parse YAML text within the bounds of the module docstring; any problem becomes a
    one-line :class:`SpecError` with the line."""
    try:
        _check_events(text)
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except _TooLarge as exc:
        raise SpecError(str(exc), file=file, line=exc.line) from None
    except _DuplicateKey as exc:
        raise SpecError(f"duplicate key {exc.key!r}", file=file, line=exc.line,
                        field=exc.key) from None
    except yaml.MarkedYAMLError as exc:
        # The context mark is where the broken construct starts (an unclosed "{" or quote);
        # the problem mark is where the parser gave up, often a line later. In a block (an
        # indented list or mapping) the construct is fine up to the line the parser could
        # not place: a line indented wrongly is the mistake, so that line is the one named.
        block = bool(exc.context) and "block" in str(exc.context)
        mark = (exc.problem_mark if block else None) or exc.context_mark or exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        if isinstance(exc, yaml.constructor.ConstructorError):
            raise SpecError(problem, file=file, line=line) from None
        if exc.context and exc.context_mark and exc.problem_mark and (
                exc.problem_mark.line != exc.context_mark.line):
            problem += (f" (check this line's indentation against the "
                        f"{str(exc.context).replace('while parsing a ', '')} that starts on "
                        f"line {exc.context_mark.line + 1})" if block else
                        f" ({exc.context}; noticed on line {exc.problem_mark.line + 1})")
        raise SpecError(f"YAML syntax error: {problem}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"YAML error: {' '.join(str(exc).split())}", file=file) from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        # A last resort: the constructor errors above carry a line; these do not.
        raise SpecError(f"YAML error: {type(exc).__name__}: {' '.join(str(exc).split())}",
                        file=file) from None


def load_yaml_file(path: Path) -> object:
    """Read (a regular file of at most :data:`MAX_YAML_BYTES`) and parse a YAML file; an
    unreadable or refused file is a :class:`SpecError` too."""
    try:
        text = read_limited(path, MAX_YAML_BYTES)
    except FileNotFoundError:
        raise SpecError("no such file", file=str(path)) from None
    except Refused as exc:
        raise SpecError(f"cannot read file: {exc}", file=str(path)) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise SpecError(f"cannot read file: {reason}", file=str(path)) from None
    return load_yaml_text(text, str(path))
