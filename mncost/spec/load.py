"""Architecture specs: the YAML format, its validation, and derived specs.

A spec transcribes a paper's architecture table: a ``defaults:`` block and one row per table row
under ``layers:``. Everything that differs between the MobileNet families lives in the spec, not in
code: the width rounding rule (``width:``), how the v2 expansion is rounded
(``expansion_rounding:``), the squeeze-excite reduction (``se:``), the activation and batch norm of
each row, the residual rule, and the head layout. The format is documented in docs/
("Writing a spec").

``expansion_size:`` says how a bottleneck's ``exp`` is read: ``width`` (an expanded width, thinned
by alpha like any width: torchvision) or ``factor`` (``exp`` divided by the row's nominal input
width is an expansion factor applied to the actual, thinned input: TF-slim
``expand_input_by_factor``).

A spec may derive from another with ``extends:`` and ``patch:`` (e.g. the v1 paper's Conv and
Shallow MobileNets, Tables 4 and 5), so a variant never copies its parent's table.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from ..errors import InputError, SpecError
from ..files.yamlfile import LineDict, LineList, load_yaml_file
from ..limits import MAX_EXTENDS, MAX_LAYERS, MAX_PATCHES
from .values import (
    _NAME_RE,
    _RESERVED_NAMES,
    DEPTH_ROUNDINGS,
    EXPANSION_ROUNDINGS,
    EXPANSION_SIZES,
    WIDTH_ROUNDINGS,
    _bool,
    _channels,
    _choice,
    _dw_kernel,
    _fraction,
    _keep_width,
    _kernel,
    _pool_kernel,
    _pos_int,
    _pos_int_or_none,
    _pos_num,
    _repeats,
    _residual,
    _str,
    _suggest,
    activation,
    parse_resolution,
)

# --------------------------------------------------------------------------------------------
# The schema: fields each op accepts, as data.

_COMMON = {"op": _str, "name": _str, "n": _repeats, "keep_depth": _bool}


@dataclass(frozen=True)
class RowOp:
    """Everything about one row operator of a spec, in one place.

    Attributes:
        name: the op as written (``op: bottleneck``).
        fields: the keys a row of this op takes (besides ``op``, ``name``, ``n``,
            ``keep_depth``), each with its checker.
        defaults: values a row gets when neither it nor ``defaults:`` sets them.
        one_of: groups of keys of which exactly one must be given (``c`` or ``t``).
        aliases: the papers' and libraries' other names for it (``bneck``, ``mbconv``).
        takes_defaults: whether the spec's ``defaults:`` block applies to it (the conv-like
            ops; fc and pool take only what their row says).
        fixed_depth: the depth multiplier never repeats it (a pool or classifier repeated is
            never meant).
    """

    name: str
    fields: Mapping[str, Callable[[Any], Any]]
    defaults: Mapping[str, Any]
    one_of: tuple[tuple[str, ...], ...] = ()
    aliases: tuple[str, ...] = ()
    takes_defaults: bool = True
    fixed_depth: bool = False


#: The row operators (docs/spec-format.md, "Writing a spec"), in docs/spec-format.md's order.
#: :mod:`mncost.network.resolve` keeps one builder per op keyed the same way; a new op is one
#: entry here and one there (or, from outside the package,
#: :func:`mncost.network.resolve.register_row_op`, which adds both).
ROW_OPS: dict[str, RowOp] = {op.name: op for op in (
    RowOp("conv",
          fields={"k": _kernel, "c": _channels, "t": _pos_num, "s": _pos_int, "act": activation,
                  "bn": _bool, "bias": _bool, "groups": _pos_int, "keep_width": _keep_width,
                  "residual_from": _str},
          defaults={"k": 3, "s": 1, "act": "relu", "bn": True, "groups": 1,
                    "keep_width": False},
          one_of=(("c", "t"),)),
    RowOp("dw",
          fields={"k": _kernel, "s": _pos_int, "act": activation, "bn": _bool, "bias": _bool,
                  "residual_from": _str},
          defaults={"k": 3, "s": 1, "act": "relu", "bn": True},
          aliases=("depthwise",)),
    RowOp("separable",
          fields={"k": _kernel, "c": _pos_int, "s": _pos_int, "act": activation, "bn": _bool,
                  "keep_width": _keep_width},
          defaults={"k": 3, "s": 1, "act": "relu", "bn": True, "keep_width": False},
          one_of=(("c",),)),
    RowOp("bottleneck",
          fields={"k": _kernel, "t": _pos_num, "exp": _pos_int, "c": _pos_int, "s": _pos_int,
                  "se": _bool, "act": activation, "bn": _bool, "residual": _residual,
                  "keep_width": _keep_width, "expand": _choice(("auto", "always"))},
          defaults={"k": 3, "s": 1, "se": False, "act": "relu6", "bn": True,
                    "residual": "auto", "keep_width": False, "expand": "auto"},
          one_of=(("c",), ("t", "exp")),
          aliases=("bneck", "mbconv", "inverted_residual")),
    RowOp("uib",
          fields={"start": _dw_kernel, "mid": _dw_kernel, "t": _pos_num, "c": _pos_int,
                  "s": _pos_int, "act": activation, "bn": _bool, "residual": _residual,
                  "keep_width": _keep_width, "layer_scale": _bool},
          defaults={"start": 0, "mid": 0, "s": 1, "act": "relu", "bn": True,
                    "residual": "auto", "keep_width": False, "layer_scale": False},
          one_of=(("c",), ("t",)),
          aliases=("universal_inverted_bottleneck",)),
    RowOp("fused",
          fields={"k": _kernel, "t": _pos_num, "c": _pos_int, "s": _pos_int,
                  "act": activation, "bn": _bool, "residual": _residual,
                  "keep_width": _keep_width},
          defaults={"k": 3, "s": 1, "act": "relu", "bn": True, "residual": "auto",
                    "keep_width": False},
          one_of=(("c",), ("t",)),
          aliases=("fused_ib", "edge_residual")),
    RowOp("mqa",
          fields={"heads": _pos_int, "key_dim": _pos_int, "value_dim": _pos_int_or_none,
                  "kv_stride": _pos_int, "k": _kernel, "c": _pos_int, "bn": _bool,
                  "layer_scale": _bool, "residual": _residual, "keep_width": _keep_width},
          defaults={"value_dim": None, "kv_stride": 1, "k": 3, "bn": True,
                    "layer_scale": False, "residual": "auto", "keep_width": False},
          one_of=(("heads",), ("key_dim",), ("c",)),
          aliases=("mobile_mqa", "multi_query_attention")),
    RowOp("pool",
          fields={"type": _choice(("avg", "max")), "k": _pool_kernel, "s": _pos_int},
          defaults={"type": "avg", "k": None, "s": 1},
          aliases=("avgpool",), takes_defaults=False, fixed_depth=True),
    RowOp("fc",
          fields={"c": _channels, "act": activation, "bias": _bool, "keep_width": _keep_width},
          defaults={"act": "none", "bias": True, "keep_width": False},
          one_of=(("c",),), aliases=("linear",), takes_defaults=False, fixed_depth=True),
)}
_BUILT_IN_OPS = frozenset(ROW_OPS)
_OP_ALIASES: dict[str, str] = {}
#: Keys the ``defaults:`` block may set: those of the ops it applies to.
_DEFAULT_FIELDS: dict[str, Callable[[Any], Any]] = {}
#: Keys that name one row's own structure, which ``defaults:`` cannot set for every row.
_ROW_ONLY = frozenset({"residual_from"})


def _derive() -> None:
    """Rebuild the tables derived from :data:`ROW_OPS` (in place: the validator reads them)."""
    _OP_ALIASES.clear()
    _OP_ALIASES.update((alias, op.name) for op in ROW_OPS.values() for alias in op.aliases)
    _DEFAULT_FIELDS.clear()
    _DEFAULT_FIELDS.update((k, f) for op in ROW_OPS.values() if op.takes_defaults
                           for k, f in op.fields.items() if k not in _ROW_ONLY)


def add_row_op(op: RowOp) -> None:
    """Add ``op`` to :data:`ROW_OPS`. The resolver needs a builder for it too: call
    :func:`mncost.network.resolve.register_row_op`, which calls this.

    Raises:
        ValueError: its name or an alias is already an op's name or alias.
    """
    taken = {*ROW_OPS, *_OP_ALIASES}
    clash = [n for n in (op.name, *op.aliases) if n in taken]
    if clash:
        raise ValueError(f"row op name {clash[0]!r} is already taken")
    ROW_OPS[op.name] = op
    _derive()


def remove_row_op(name: str) -> None:
    """Remove an op added by :func:`add_row_op` (a built-in op cannot be removed)."""
    if name in _BUILT_IN_OPS or name not in ROW_OPS:
        raise ValueError(f"row op {name!r} is built in or not registered")
    del ROW_OPS[name]
    _derive()


_derive()

_TOP_FIELDS: dict[str, Callable[[Any], Any]] = {
    "name": _str, "title": _str, "source": _str, "description": _str,
    "resolution": parse_resolution, "classes": _pos_int,
    "expansion_rounding": _choice(EXPANSION_ROUNDINGS),
    "expansion_size": _choice(EXPANSION_SIZES),
    "alpha": _pos_num, "depth": _pos_num, "depth_rounding": _choice(DEPTH_ROUNDINGS),
    "width": None, "se": None, "defaults": None, "layers": None, "extends": _str, "patch": None,
    "reference": None,
}
#: Libraries a spec's ``reference:`` may name (``crosscheck --reference``).
REFERENCE_LIBRARIES = ("torchvision", "timm")
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_WIDTH_FIELDS = {"rounding": _choice(WIDTH_ROUNDINGS), "divisor": _pos_int, "min": _pos_int,
                 "round_limit": _fraction}
_SE_FIELDS = {"ratio": _pos_num, "of": _choice(("expanded", "input")),
              "divisor": lambda v: None if v is None else _pos_int(v),
              "act": activation, "gate": activation}


# --------------------------------------------------------------------------------------------
# Validated spec data

@dataclass(frozen=True)
class Width:
    """Width-multiplier rounding (see ``mncost.network.width``).

    ``floor``: ``max(int(alpha * c), min)`` (TF-slim MobileNet v1). ``make_divisible``: nearest
    multiple of ``divisor``, at least ``min``, bumped up one step if it fell below
    ``round_limit * alpha * c`` (the v2/v3 reference code).
    """

    rounding: str = "floor"
    divisor: int = 8
    min: int = 1
    round_limit: float = 0.9


@dataclass(frozen=True)
class SqueezeExcite:
    """Squeeze-excite convention: ``squeeze = make_divisible(int(base * ratio), divisor)``.

    ``base`` is the expanded width (v3: ``make_divisible(exp // 4, 8)``) or the block input
    (EfficientNet: ``max(1, int(in * 0.25))``, ``divisor: null``).
    """

    ratio: float = 0.25
    of: str = "expanded"
    divisor: int | None = 8
    act: str = "relu"
    gate: str = "hsigmoid"


@dataclass(frozen=True)
class Row:
    """One validated table row: ``op``, its fields with defaults filled in, and where it was read.

    ``where(key)`` gives ``(file, line)`` of a field, for errors found later (during resolution).
    """

    index: int
    op: str
    name: str
    n: int
    fields: Mapping[str, Any]
    file: str
    line: int | None
    key_lines: Mapping[str, tuple[str, int | None]] = field(default_factory=dict)
    #: The depth multiplier leaves ``n`` as it is (a stem or head row).
    keep_depth: bool = False

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)

    def error(self, key: str | None, message: str) -> SpecError:
        """A :class:`SpecError` pointing at this row's ``key`` (or the row)."""
        file, line = self.key_lines.get(key, (self.file, self.line)) if key else (self.file,
                                                                                 self.line)
        path = f"layers[{self.index}]" + (f".{key}" if key else "")
        return SpecError(message, file=file, line=line, field=path)


@dataclass(frozen=True)
class Spec:
    """A validated architecture spec (what :func:`load_spec` returns)."""

    name: str
    file: str
    rows: tuple[Row, ...]
    title: str | None = None
    source: str | None = None
    description: str | None = None
    resolution: tuple[int, int] = (224, 224)
    classes: int = 1000
    width: Width = Width()
    expansion_rounding: str = "round"
    expansion_size: str = "width"
    se: SqueezeExcite = SqueezeExcite()
    #: Default width and depth multipliers (EfficientNet-B1...B7 carry their coefficients).
    alpha: float = 1.0
    depth: float = 1.0
    #: Repeats of a row under depth multiplier D: ``ceil(D * n)`` (EfficientNet), ``round`` or
    #: ``floor``; never below 1 for a row that has any.
    depth_rounding: str = "ceil"
    #: The model each reference library ships for this spec (``reference: {timm: NAME}``), by
    #: alpha where the library names its widths (``{timm: {1.0: NAME_100, 0.75: NAME_075}}``;
    #: a plain name is keyed by ``None``: any alpha). ``crosscheck --reference`` builds it.
    reference: Mapping[str, Mapping[float | None, str]] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Loading: YAML -> raw rows (with extends/patch applied) -> validated Spec

@dataclass
class _RawRow:
    index: int
    data: dict
    file: str
    line: int | None
    key_lines: dict[str, tuple[str, int | None]]


def _check(checker: Callable[[Any], Any], value: Any, *, file: str, line: int | None,
           field_path: str) -> Any:
    try:
        return checker(value)
    except ValueError as exc:
        raise SpecError(str(exc), file=file, line=line, field=field_path) from None


def _unknown_key(key: str, allowed, *, file: str, line: int | None, field_path: str,
                 what: str) -> SpecError:
    return SpecError(f"unknown key {key!r} for {what}{_suggest(key, allowed)}"
                     f" (allowed: {', '.join(sorted(allowed))})",
                     file=file, line=line, field=field_path)


def _mapping(doc: Any, key: str, file: str, parent: LineDict) -> LineDict:
    value = doc.get(key)
    if not isinstance(value, dict):
        raise SpecError(f"must be a mapping, got {type(value).__name__}", file=file,
                        line=parent.line_of(key), field=key)
    return value


def _read_document(path: Path, resolve_name: Callable[[str], Path], seen: tuple[str, ...]
                   ) -> tuple[LineDict, list[_RawRow], dict[str, str]]:
    """Read one file, following ``extends:``; return the merged top level, rows and key files."""
    file = str(path)
    doc = load_yaml_file(path)
    if not isinstance(doc, dict):
        raise SpecError("a spec must be a YAML mapping (name:, layers:, ...)", file=file,
                        line=getattr(doc, "line", 1) if doc is not None else 1)
    for key in doc:
        if key not in _TOP_FIELDS:
            raise _unknown_key(key, _TOP_FIELDS, file=file, line=doc.line_of(key),
                               field_path=key, what="a spec")
    top_files = {key: file for key in doc}
    if "extends" in doc:
        parent_ref = _check(_str, doc["extends"], file=file, line=doc.line_of("extends"),
                            field_path="extends")
        try:
            parent_path = resolve_name(parent_ref, base=path.parent)
        except InputError as exc:
            raise SpecError(getattr(exc, "detail", str(exc)), file=file,
                            line=doc.line_of("extends"), field="extends") from None
        if str(parent_path.resolve()) in seen:
            raise SpecError(f"extends cycle through {parent_ref!r}", file=file,
                            line=doc.line_of("extends"), field="extends")
        if len(seen) >= MAX_EXTENDS:
            raise SpecError(f"extends chain longer than {MAX_EXTENDS} files", file=file,
                            line=doc.line_of("extends"), field="extends")
        parent, rows, parent_files = _read_document(parent_path, resolve_name,
                                                    seen + (str(parent_path.resolve()),))
        merged = LineDict(parent, line=parent.line)
        merged.key_lines = dict(parent.key_lines)
        files = dict(parent_files)
        for key, value in doc.items():
            if key in ("extends", "patch"):
                continue
            if key == "defaults" and isinstance(value, dict) and isinstance(
                    parent.get("defaults"), dict):
                combined = LineDict(parent["defaults"], line=value.line)
                combined.key_lines = {**parent["defaults"].key_lines, **value.key_lines}
                combined.update(value)
                value = combined
            merged[key] = value
            merged.key_lines[key] = doc.line_of(key)
            files[key] = file
        if "layers" in doc:
            rows = _raw_rows(doc, file)
        if "patch" in doc:
            rows = _apply_patch(doc, file, rows)
        return merged, rows, files
    if "patch" in doc:
        raise SpecError("patch: needs extends: (it changes the rows of a parent spec)",
                        file=file, line=doc.line_of("patch"), field="patch")
    if "layers" not in doc:
        raise SpecError("missing required key 'layers' (the table rows)", file=file,
                        line=doc.line or 1, field="layers")
    return doc, _raw_rows(doc, file), top_files


def _raw_rows(doc: LineDict, file: str, field: str = "layers") -> list[_RawRow]:
    layers = doc["layers"]
    if not isinstance(layers, list) or not layers:
        raise SpecError("must be a non-empty list of rows", file=file,
                        line=doc.line_of("layers"), field=field)
    if len(layers) > MAX_LAYERS:
        raise SpecError(f"{len(layers):,} rows: at most {MAX_LAYERS:,}", file=file,
                        line=doc.line_of("layers"), field=field)
    rows = []
    for i, item in enumerate(layers):
        line = layers.item_lines[i] if isinstance(layers, LineList) else None
        if not isinstance(item, dict):
            raise SpecError(f"a row must be a mapping like {{op: conv, c: 32}}, got {item!r}",
                            file=file, line=line, field=f"{field}[{i}]")
        key_lines = {k: (file, item.line_of(k)) for k in item}
        rows.append(_RawRow(i, dict(item), file, item.line or line, key_lines))
    return rows


def _default_name(index: int) -> str:
    return f"layers.{index}"


def _apply_patch(doc: LineDict, file: str, rows: list[_RawRow]) -> list[_RawRow]:
    """Apply ``patch: [{where: {...}, set: {...}, unset: [...]}, ...]`` to the parent's rows.

    ``where`` matches rows by ``index``, ``name`` (default ``layers.<index>``) or any row field;
    every entry must match at least one row. ``unset`` removes keys before ``set`` adds or
    replaces them; ``set: {n: 0}`` removes the matched rows. ``insert_before: [rows]`` /
    ``insert_after: [rows]`` put new rows next to the one row ``where`` matches; the rows are
    then numbered as if the table had been written out with them (a later entry's ``index``,
    and the default names ``layers.<index>``, count the inserted rows).
    """
    patch = doc["patch"]
    if not isinstance(patch, list):
        raise SpecError("must be a list of {where: ..., set: ...}", file=file,
                        line=doc.line_of("patch"), field="patch")
    if len(patch) > MAX_PATCHES:
        raise SpecError(f"{len(patch):,} entries: at most {MAX_PATCHES:,}", file=file,
                        line=doc.line_of("patch"), field="patch")
    rows = [_RawRow(r.index, dict(r.data), r.file, r.line, dict(r.key_lines)) for r in rows]
    for i, entry in enumerate(patch):
        path = f"patch[{i}]"
        line = patch.item_lines[i] if isinstance(patch, LineList) else doc.line_of("patch")
        if not isinstance(entry, dict) or "where" not in entry or not set(entry) & (
                {"set", "unset"} | _INSERTS) or set(entry) - {"where", "set", "unset"} - _INSERTS:
            raise SpecError("each patch entry needs 'where:' and 'set:' and/or 'unset:', or "
                            "'insert_before:' / 'insert_after:'", file=file, line=line,
                            field=path)
        if set(entry) & _INSERTS:
            rows = _insert_rows(entry, rows, file, line, path)
            continue
        where, updates = entry["where"], entry.get("set", LineDict())
        unset = entry.get("unset", [])
        if not isinstance(where, dict) or not isinstance(updates, dict) or not where:
            raise SpecError("'where' and 'set' must be mappings", file=file, line=line,
                            field=path)
        if not isinstance(unset, list) or not all(isinstance(k, str) for k in unset):
            raise SpecError("'unset' must be a list of keys", file=file,
                            line=entry.line_of("unset"), field=f"{path}.unset")
        index = where.get("index")
        if "index" in where and (not isinstance(index, int) or isinstance(index, bool)):
            raise SpecError(f"must be a row number (0, 1, ...), got {index!r:.40}", file=file,
                            line=where.line_of("index") if isinstance(where, LineDict)
                            else entry.line_of("where"), field=f"{path}.where.index")
        matched = [r for r in rows if all(_matches(r, k, v) for k, v in where.items())]
        if not matched:
            raise SpecError(f"where {dict(where)} matches no row", file=file,
                            line=entry.line_of("where"), field=f"{path}.where")
        for row in matched:
            for key in unset:
                row.data.pop(key, None)
                row.key_lines.pop(key, None)
            for key, value in updates.items():
                row.data[key] = value
                row.key_lines[key] = (file, updates.line_of(key))
    return rows


_INSERTS = {"insert_before", "insert_after"}


def _insert_rows(entry: LineDict, rows: list[_RawRow], file: str, line: int | None,
                 path: str) -> list[_RawRow]:
    """One ``insert_before`` / ``insert_after`` patch entry: the new rows beside the one row
    ``where`` matches, every row renumbered in its new place."""
    if set(entry) & {"set", "unset"} or len(set(entry) & _INSERTS) != 1:
        raise SpecError("an insert entry has 'where:' and one of 'insert_before:' / "
                        "'insert_after:', nothing else", file=file, line=line, field=path)
    where = entry["where"]
    if not isinstance(where, dict) or not where:
        raise SpecError("'where' must be a mapping", file=file, line=line, field=path)
    key = next(iter(set(entry) & _INSERTS))
    matched = [i for i, r in enumerate(rows) if all(_matches(r, k, v) for k, v in where.items())]
    if len(matched) != 1:
        raise SpecError(f"where {dict(where)} matches {len(matched)} rows; an insert needs "
                        "exactly one", file=file, line=entry.line_of("where"),
                        field=f"{path}.where")
    new = _raw_rows(LineDict({"layers": entry[key]}, line=entry.line_of(key)), file,
                    field=f"{path}.{key}")
    at = matched[0] + (key == "insert_after")
    out = rows[:at] + new + rows[at:]
    if len(out) > MAX_LAYERS:
        raise SpecError(f"{len(out):,} rows: at most {MAX_LAYERS:,}", file=file,
                        line=entry.line_of(key), field=f"{path}.{key}")
    return [_RawRow(i, r.data, r.file, r.line, r.key_lines) for i, r in enumerate(out)]


def _matches(row: _RawRow, key: str, value: Any) -> bool:
    if key == "index":
        return row.index == value
    if key == "name":
        return _same(row.data.get("name", _default_name(row.index)), value)
    return _same(row.data.get(key), value)


def _same(a: Any, b: Any) -> bool:
    """Equal as YAML values: ``true`` is not ``1`` (as Python's ``True == 1`` has it), also
    inside lists and mappings."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def _squash(word: str) -> str:
    return "".join(ch for ch in word.lower() if ch.isalnum())


def suggest_op(word: str) -> str | None:
    """The row op ``word`` most likely means, or None: the op or alias it spells in another
    case or with ``_`` / ``-`` (``Conv``, ``inverted-residual``), one it begins or holds
    (``mbconv6``, ``inverted_residual_block``, ``pooling``, ``depthwise_conv``), one it
    shares a 3-letter start with (``sep_conv``), one inside it, else the closest spelling."""
    names = {**{op: op for op in ROW_OPS}, **_OP_ALIASES}
    squashed = {_squash(name): op for name, op in names.items()}
    key = _squash(word)
    if not key:
        return None
    if key in squashed:
        return squashed[key]
    begun = [n for n in squashed if len(n) >= 3 and (key.startswith(n) or n.startswith(key))]
    if begun:
        return squashed[max(begun, key=len)]
    shared = [n for n in squashed if len(key) >= 3 and n[:3] == key[:3]]
    if len({squashed[n] for n in shared}) == 1:
        return squashed[shared[0]]
    held = [n for n in squashed if len(n) >= 3 and n in key]
    if held:
        return squashed[max(held, key=len)]
    close = difflib.get_close_matches(key, list(squashed), n=1, cutoff=0.6)
    return squashed[close[0]] if close else None


def _validate_row(raw: _RawRow, defaults: Mapping[str, Any],
                  default_lines: Mapping[str, tuple[str, int | None]]) -> Row:
    path = f"layers[{raw.index}]"
    data = raw.data
    if "op" not in data:
        raise SpecError("missing required key 'op' (one of " + ", ".join(ROW_OPS) + ")",
                        file=raw.file, line=raw.line, field=path)
    op_file, op_line = raw.key_lines["op"]
    op = data["op"]
    if not isinstance(op, str):
        raise SpecError(f"must be an op name, got {op!r}", file=op_file, line=op_line,
                        field=f"{path}.op")
    op = _OP_ALIASES.get(op, op)
    if op not in ROW_OPS:
        close = suggest_op(data["op"])
        hint = f" (did you mean {close!r}?)" if close else ""
        raise SpecError(f"unknown layer kind {data['op']!r}{hint} (known: {', '.join(ROW_OPS)}, "
                        f"or an alias: {', '.join(_OP_ALIASES)})", file=op_file, line=op_line,
                        field=f"{path}.op")
    record = ROW_OPS[op]
    allowed = {**_COMMON, **record.fields}
    values: dict[str, Any] = dict(record.defaults)
    key_lines: dict[str, tuple[str, int | None]] = {}
    if record.takes_defaults:
        for key, value in defaults.items():
            if key in record.fields:
                values[key] = value
                key_lines[key] = default_lines[key]
    for key, value in data.items():
        file, line = raw.key_lines.get(key, (raw.file, raw.line))
        if key not in allowed:
            raise _unknown_key(key, allowed, file=file, line=line, field_path=f"{path}.{key}",
                               what=f"op {op!r}")
        if key != "op":
            values[key] = value
            key_lines[key] = (file, line)
    for key, value in list(values.items()):
        if key in ("op",) or key not in allowed:
            continue
        file, line = key_lines.get(key, (raw.file, raw.line))
        values[key] = _check(allowed[key], value, file=file, line=line,
                             field_path=f"{path}.{key}")
    for group in record.one_of:
        # The row's own choice wins over one inherited from defaults: (t from defaults, exp in
        # the row) means exp.
        given = [k for k in group if k in data] or [k for k in group if k in values]
        if len(given) != 1:
            need = " or ".join(repr(k) for k in group)
            what = "missing required key" if not given else "give only one of"
            raise SpecError(f"{what} {need} for op {op!r}", file=raw.file, line=raw.line,
                            field=path)
        for other in group:
            if other != given[0]:
                values.pop(other, None)
    if op == "conv" and values["groups"] > 1 and "t" in values:
        raise SpecError("a grouped conv needs an explicit 'c'", file=raw.file, line=raw.line,
                        field=f"{path}.groups")
    name = values.pop("name", None)
    if name in _RESERVED_NAMES:
        file, line = key_lines["name"]
        raise SpecError(f"{name!r} is reserved (default row names are layers.<index>; the "
                        "network input is 'input')", file=file, line=line, field=f"{path}.name")
    if name is not None and not _NAME_RE.match(name):
        file, line = key_lines["name"]
        raise SpecError(f"must be an identifier (letters, digits, _), got {name!r}",
                        file=file, line=line, field=f"{path}.name")
    n = values.pop("n", 1)
    keep_depth = values.pop("keep_depth", False)
    values.pop("op", None)
    return Row(index=raw.index, op=op, name=name or _default_name(raw.index), n=n,
               keep_depth=keep_depth, fields=values, file=raw.file, line=raw.line,
               key_lines=key_lines)


def _section(doc: LineDict, key: str, schema: Mapping[str, Callable[[Any], Any]], file: str,
             what: str) -> dict[str, Any]:
    if key not in doc:
        return {}
    section = _mapping(doc, key, file, doc)
    out = {}
    for k, v in section.items():
        line = section.line_of(k) if isinstance(section, LineDict) else doc.line_of(key)
        if k not in schema:
            raise _unknown_key(k, schema, file=file, line=line, field_path=f"{key}.{k}",
                               what=what)
        out[k] = _check(schema[k], v, file=file, line=line, field_path=f"{key}.{k}")
    return out


def load_spec(path: Path, resolve_name: Callable[..., Path]) -> Spec:
    """Read, merge (``extends``/``patch``) and validate the spec at ``path``.

    Args:
        path: the YAML file.
        resolve_name: maps an ``extends:`` value (built-in name or relative path) to a file.

    Raises:
        SpecError: naming the file, line and field of the first problem found.
    """
    doc, raw_rows, files = _read_document(Path(path), resolve_name,
                                          (str(Path(path).resolve()),))
    file_of = lambda key: files.get(key, str(path))  # noqa: E731
    top: dict[str, Any] = {}
    for key, checker in _TOP_FIELDS.items():
        if key in doc and checker is not None and key != "extends":
            top[key] = _check(checker, doc[key], file=file_of(key), line=doc.line_of(key),
                              field_path=key)
    if "name" not in top:
        raise SpecError("missing required key 'name'", file=str(path), line=doc.line or 1,
                        field="name")
    width = _section(doc, "width", _WIDTH_FIELDS, file_of("width"), "width")
    if "rounding" not in width and "width" in doc:
        raise SpecError("missing required key 'rounding' (floor or make_divisible)",
                        file=file_of("width"), line=doc.line_of("width"), field="width")
    if width.get("rounding") == "make_divisible":
        width.setdefault("min", width.get("divisor", 8))
    se = _section(doc, "se", _SE_FIELDS, file_of("se"), "se")
    reference = _reference(doc, file_of("reference")) if "reference" in doc else {}
    defaults_doc = _mapping(doc, "defaults", file_of("defaults"), doc) if "defaults" in doc \
        else LineDict()
    defaults: dict[str, Any] = {}
    default_lines: dict[str, tuple[str, int | None]] = {}
    for key, value in defaults_doc.items():
        line = defaults_doc.line_of(key)
        if key not in _DEFAULT_FIELDS:
            raise _unknown_key(key, _DEFAULT_FIELDS, file=file_of("defaults"), line=line,
                               field_path=f"defaults.{key}", what="defaults")
        defaults[key] = _check(_DEFAULT_FIELDS[key], value, file=file_of("defaults"), line=line,
                               field_path=f"defaults.{key}")
        default_lines[key] = (file_of("defaults"), line)
    rows = tuple(_validate_row(r, defaults, default_lines) for r in raw_rows)
    names = {}
    for row in rows:
        if row.name in names:
            raise row.error("name", f"duplicate row name {row.name!r} (also layers"
                                    f"[{names[row.name]}])")
        names[row.name] = row.index
        start = row.get("residual_from")
        if start is not None and start not in names:
            raise row.error("residual_from", f"{start!r} is not this row or an earlier row's "
                                             "name (the residual adds that row's input)")
    return Spec(
        name=top["name"], file=str(path), rows=rows, title=top.get("title"),
        source=top.get("source"), description=top.get("description"),
        resolution=top.get("resolution", (224, 224)), classes=top.get("classes", 1000),
        width=Width(**width), expansion_rounding=top.get("expansion_rounding", "round"),
        expansion_size=top.get("expansion_size", "width"),
        se=SqueezeExcite(**se), alpha=top.get("alpha", 1.0), depth=top.get("depth", 1.0),
        depth_rounding=top.get("depth_rounding", "ceil"), reference=reference,
    )


def _number_key(key: Any) -> Any:
    """A mapping key that spells a number (``1.0``) as that number; anything else unchanged,
    for the checker to refuse."""
    if isinstance(key, str) and re.fullmatch(r"[0-9]{1,6}(\.[0-9]{1,12})?", key):
        return float(key)
    return key


def _reference(doc: LineDict, file: str) -> dict[str, dict[float | None, str]]:
    """``reference:``: library -> model name, or library -> {alpha: model name}."""
    section = _mapping(doc, "reference", file, doc)
    out: dict[str, dict[float | None, str]] = {}
    for library, value in section.items():
        line, where = section.line_of(library), f"reference.{library}"
        if library not in REFERENCE_LIBRARIES:
            raise _unknown_key(str(library), dict.fromkeys(REFERENCE_LIBRARIES), file=file,
                               line=line, field_path=where, what="reference")
        names = value if isinstance(value, dict) else {None: value}
        table: dict[float | None, str] = {}
        for alpha, name in names.items():
            if alpha is not None:          # mapping keys arrive as text: "1.0", "0.75"
                alpha = _check(_pos_num, _number_key(alpha), file=file, line=line,
                               field_path=where)
            if not isinstance(name, str) or not MODEL_NAME.match(name):
                raise SpecError(f"must be a {library} model name (letters, digits, '_', '.', "
                                f"'-') or a mapping alpha: name, got {str(name)[:60]!r}",
                                file=file, line=line, field=where)
            table[alpha] = name
        out[library] = table
    return out
