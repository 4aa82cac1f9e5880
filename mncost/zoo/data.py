"""The published configurations: ``configs/zoo/*.yaml`` read and validated.

One file per source (a model zoo's table, a paper, a library's weights metadata), each row
citing it: the configuration (model, alpha, resolution, classes, float32 or int8), the top-1
(and top-5) the source prints, the source's own MACs and parameters, and every latency it prints
with the device, runtime, threads, batch and the source's words for what was measured. A file::

    source: {title: ..., file: ..., version: ..., url: ..., accuracy: ...}
    measured:                      # how this source's latencies were taken, by name
      pixel1: {device: pixel1, runtime: TF-Lite, threads: 1, batch: 1, what: ...}
    tables:
      - table: Table 3             # where in the source (a table may add its own measured:)
        printed:                   # how it prints its figures (mncost.zoo.printed)
          macs: {unit: M, decimals: 0, rounding: round}
          params: {unit: M, decimals: 1, rounding: floor, count: trainable}
        defaults: {model: v3-large-tf, classes: 1001, resolution: 224}
        rows:
          - {alpha: 1.0, top1: 75.2, macs: 219, params: 5.4, ms: {pixel1: 51}}

A row may override its table's printed conventions (``macs_as: {rounding: floor}``), and a
printed figure that no convention reproduces carries the reason (``macs_mismatch: ...``), so
``tests/test_zoo_data.py`` can hold every other figure to mncost's count.

Everything here is pure Python on the analytic path: no torch, no numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from ..errors import SpecError
from ..files.yamlfile import LineDict, LineList, load_yaml_file
from ..network.catalog import BUILTINS, configs_dir
from ..spec.values import parse_resolution

#: Precisions a published checkpoint comes in (the element size of its weights and
#: activations at inference).
PRECISIONS = ("float32", "int8")
#: Units a source prints MACs and parameters in.
UNITS: Mapping[str, int] = {"1": 1, "k": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9}
#: How a source rounds a figure to its printed digits.
ROUNDINGS = ("round", "floor")
#: What a source's MACs figure counts.
MACS_COUNTS: Mapping[str, str] = {
    "total": "every MAC of the network",
    "no-classifier": "every MAC but the classifier's (the last layer with MACs)",
}
#: What a source's parameter figure counts (mncost.costs.analytic.PARAM_CONVENTIONS, and one
#: that only a published table uses).
PARAMS_COUNTS: Mapping[str, str] = {
    "weights": "conv and fc weights only",
    "trainable": "weights + biases + batch norm scale and shift",
    "checkpoint": "trainable + batch norm running mean and variance",
    "bn3": "weights + biases + 3 per batch norm channel (the TF-slim v1 table's column; "
           "trainable counts 2 per channel, checkpoint 4)",
}

#: Networks with published rows but no built-in spec yet. Their rows are read and validated
#: like any other, but not counted: ``mncost zoo`` leaves them out and says so. When one of
#: them becomes a built-in, its name leaves this table (tests/test_zoo_data.py fails until it
#: does) and its rows are counted and checked from then on.
#:
#: MobileNetV4: its rows (timm's ``mobilenetv4_*`` weights, the MobileNetV4 paper's tables)
#: go in a source file of their own here, with ``model:`` the built-in's name; until the
#: built-ins exist they may be transcribed with that name listed below.
PENDING_MODELS: Mapping[str, str] = {
    "mnasnet-a1": "MnasNet-A1 (arXiv 1807.11626, Fig. 7(a): squeeze-excite, 5x5 MBConv); "
                  "the built-in mnasnet is MnasNet-B1",
    "v3-large-minimalistic": "MobileNetV3-Large without squeeze-excite, h-swish and 5x5 "
                             "convolutions (TF-slim's minimalistic checkpoints)",
    "v3-small-minimalistic": "MobileNetV3-Small without squeeze-excite, h-swish and 5x5 "
                             "convolutions (TF-slim's minimalistic checkpoints)",
}

#: The file of devices; every other ``*.yaml`` in the directory is a source.
DEVICES_FILE = "devices.yaml"


def zoo_dir() -> Path:
    """``configs/zoo`` (packaged as ``mncost/configs/zoo``)."""
    return configs_dir() / "zoo"


def variants_dir() -> Path:
    """Specs of the networks some sources printed their figures for (``printed`` ``network``:
    a variant of a built-in, such as the v3-Small with the 1280-wide head)."""
    return zoo_dir() / "specs"


# ---------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class Device:
    """A device published latencies were measured on (``devices.yaml``)."""

    name: str
    title: str
    kind: str


@dataclass(frozen=True)
class Latency:
    """One latency figure as a source prints it, with how it was measured.

    Attributes:
        device: a :class:`Device` name.
        ms: the figure, milliseconds per image.
        runtime: the inference runtime (``TF-Lite``).
        precision: the row's precision (float32, int8).
        threads, batch: as the source states them (None where it does not).
        what: the source's own words for what was measured.
    """

    device: str
    ms: float
    runtime: str
    precision: str
    threads: int | None
    batch: int | None
    what: str

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "ms": self.ms, "runtime": self.runtime,
                "precision": self.precision, "threads": self.threads, "batch": self.batch,
                "what": self.what}


@dataclass(frozen=True)
class Figure:
    """A MACs or parameter figure as a source prints it, and how to reproduce it.

    Attributes:
        value: the number printed, in ``unit``.
        unit: a :data:`UNITS` key.
        decimals: digits after the point the source prints.
        rounding: :data:`ROUNDINGS`.
        count: what it counts (:data:`MACS_COUNTS` or :data:`PARAMS_COUNTS`).
        network: a spec in :func:`variants_dir` counted instead of the row's model (the same
            alpha, resolution and classes), or None.
        mismatch: why no convention reproduces it, or None.
    """

    value: float
    unit: str
    decimals: int
    rounding: str
    count: str
    network: str | None = None
    mismatch: str | None = None


@dataclass(frozen=True)
class Source:
    """One source file: where its rows come from."""

    id: str
    title: str
    file: str
    version: str
    url: str
    accuracy: str
    path: str
    not_transcribed: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "file": self.file,
                "version": self.version, "url": self.url, "accuracy": self.accuracy}


@dataclass(frozen=True)
class Published:
    """One published configuration: a row of a source's table.

    ``alpha`` and ``depth`` are None where the model's own spec default is meant
    (EfficientNet-B1...B7 carry their coefficients).
    """

    source: Source
    table: str
    line: int
    model: str
    alpha: float | None
    depth: float | None
    resolution: tuple[int, int]
    classes: int
    precision: str
    top1: float
    top5: float | None
    weights: str | None
    extra_data: str | None
    note: str | None
    macs: Figure | None
    params: Figure | None
    latencies: tuple[Latency, ...]

    @property
    def counted(self) -> bool:
        """Whether mncost counts this row (its model is a built-in)."""
        return self.model in BUILTINS

    @property
    def where(self) -> str:
        return f"{self.source.path}:{self.line}"

    def latency_on(self, device: str) -> Latency | None:
        for latency in self.latencies:
            if latency.device == device:
                return latency
        return None


@dataclass(frozen=True)
class Zoo:
    """Every source, device and published row."""

    devices: Mapping[str, Device]
    sources: tuple[Source, ...]
    rows: tuple[Published, ...]


# ---------------------------------------------------------------------------------------------
# Reading


class _Reader:
    """Checks of one file's values, each error ``FILE:LINE: FIELD: reason``."""

    def __init__(self, path: Path) -> None:
        self.file = str(path)

    def fail(self, doc: Any, key: str | None, field: str, reason: str) -> SpecError:
        line = None
        if isinstance(doc, LineDict):
            line = doc.line_of(key) if key is not None else doc.line
        elif isinstance(doc, LineList):
            line = doc.line
        return SpecError(reason, file=self.file, line=line, field=field)

    def mapping(self, doc: Any, key: str, field: str, required: bool = True) -> LineDict:
        value = doc.get(key) if isinstance(doc, dict) else None
        if value is None and not required:
            return LineDict(line=doc.line_of(key) if isinstance(doc, LineDict) else None)
        if not isinstance(value, dict):
            raise self.fail(doc, key, field, "must be a mapping")
        return value

    def keys(self, doc: LineDict, allowed: tuple[str, ...], field: str) -> None:
        for key in doc:
            if key not in allowed:
                raise self.fail(doc, key, f"{field}.{key}" if field else key,
                                f"unknown field (known: {', '.join(allowed)})")

    def text(self, doc: LineDict, key: str, field: str, required: bool = True) -> str | None:
        value = doc.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(doc, key, field, f"must be a non-empty string, got {value!r}")
        return value

    def number(self, doc: Any, key: str, field: str, lo: float, hi: float,
               required: bool = True) -> float | None:
        value = doc.get(key)
        if value is None and not required:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not math.isfinite(value) or not lo <= value <= hi:
            raise self.fail(doc, key, field, f"must be a number in [{lo:g}, {hi:g}], "
                                             f"got {value!r}")
        return float(value)

    def integer(self, doc: Any, key: str, field: str, lo: int, hi: int,
                required: bool = True) -> int | None:
        value = doc.get(key)
        if value is None and not required:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.fail(doc, key, field, f"must be an integer in [{lo}, {hi}], "
                                             f"got {value!r}")
        return value

    def choice(self, doc: Any, key: str, field: str, options, default: str | None = None
               ) -> str:
        value = doc.get(key, default)
        if value not in options:
            raise self.fail(doc, key, field, f"must be one of {', '.join(options)}, "
                                             f"got {value!r}")
        return value


_SOURCE_KEYS = ("title", "file", "version", "url", "accuracy")
_MEASURED_KEYS = ("device", "runtime", "threads", "batch", "what")
_TABLE_KEYS = ("table", "measured", "printed", "defaults", "rows")
_FIGURE_KEYS = ("unit", "decimals", "rounding", "count", "network")
_ROW_KEYS = ("table", "model", "alpha", "depth", "resolution", "classes", "precision", "top1",
             "top5", "weights", "extra_data", "note", "macs", "params", "ms", "macs_as",
             "params_as", "macs_mismatch", "params_mismatch")
#: Row fields a table's ``defaults`` may set.
_DEFAULT_KEYS = ("model", "alpha", "depth", "resolution", "classes", "precision",
                 "extra_data")


def _devices(path: Path) -> dict[str, Device]:
    read = _Reader(path)
    doc = load_yaml_file(path)
    if not isinstance(doc, dict):
        raise SpecError("must be a mapping with devices:", file=str(path))
    read.keys(doc, ("devices",), "")
    devices = read.mapping(doc, "devices", "devices")
    out = {}
    for name, entry in devices.items():
        field = f"devices.{name}"
        if not isinstance(entry, dict):
            raise read.fail(devices, name, field, "must be a mapping")
        read.keys(entry, ("name", "kind"), field)
        out[name] = Device(name, read.text(entry, "name", f"{field}.name"),
                           read.text(entry, "kind", f"{field}.kind"))
    return out


def _figure(read: _Reader, row: LineDict, what: str, base: Mapping[str, Any],
            counts: Mapping[str, str]) -> Figure | None:
    """The printed ``macs`` / ``params`` of a row under its table's conventions, with the
    row's ``<what>_as`` overrides and ``<what>_mismatch``."""
    value = row.get(what)
    mismatch = read.text(row, f"{what}_mismatch", f"{what}_mismatch", required=False)
    override = read.mapping(row, f"{what}_as", f"{what}_as", required=False)
    if value is None:
        if mismatch is not None or override:
            raise read.fail(row, f"{what}_as" if override else f"{what}_mismatch",
                            what, f"no {what} printed in this row")
        return None
    read.number(row, what, what, 0, 1e15)
    read.keys(override, _FIGURE_KEYS, f"{what}_as")
    spec = {**base, **override}
    where = override if override else row
    if not spec:
        raise read.fail(row, what, what, f"the table prints {what} but has no printed.{what}")
    unit = read.choice(spec, "unit", f"printed.{what}.unit", tuple(UNITS))
    decimals = read.integer(spec, "decimals", f"printed.{what}.decimals", 0, 9)
    rounding = read.choice(spec, "rounding", f"printed.{what}.rounding", ROUNDINGS)
    count = read.choice(spec, "count", f"printed.{what}.count", tuple(counts),
                        default="total" if what == "macs" else "trainable")
    if -Decimal(repr(float(value))).normalize().as_tuple().exponent > decimals:
        raise read.fail(row, what, what, f"{value!r} has more digits than the "
                                         f"{decimals} decimals printed.{what} says")
    network = spec.get("network")
    if network is not None:
        if not isinstance(network, str) or not (variants_dir() / network).is_file():
            raise read.fail(where, "network", f"{what}_as.network",
                            f"no spec {network!r} in {variants_dir()}")
    return Figure(float(value), unit, decimals, rounding, count, network, mismatch)


def _latencies(read: _Reader, row: LineDict, measured: Mapping[str, dict],
               precision: str) -> tuple[Latency, ...]:
    ms = read.mapping(row, "ms", "ms", required=False)
    out = []
    for name in ms:
        if name not in measured:
            raise read.fail(ms, name, f"ms.{name}", f"no measured.{name} in this file (have: "
                                                    f"{', '.join(measured) or 'none'})")
        value = read.number(ms, name, f"ms.{name}", 1e-6, 1e9)
        m = measured[name]
        out.append(Latency(m["device"], value, m["runtime"], precision, m["threads"],
                           m["batch"], m["what"]))
    return tuple(out)


def _measured(read: _Reader, doc: LineDict, devices: Mapping[str, Device]
              ) -> dict[str, dict]:
    block = read.mapping(doc, "measured", "measured", required=False)
    out = {}
    for name, entry in block.items():
        field = f"measured.{name}"
        if not isinstance(entry, dict):
            raise read.fail(block, name, field, "must be a mapping")
        read.keys(entry, _MEASURED_KEYS, field)
        device = read.choice(entry, "device", f"{field}.device", tuple(devices))
        out[name] = {"device": device,
                     "runtime": read.text(entry, "runtime", f"{field}.runtime"),
                     "threads": read.integer(entry, "threads", f"{field}.threads", 1, 4096,
                                             required=False),
                     "batch": read.integer(entry, "batch", f"{field}.batch", 1, 10 ** 6,
                                           required=False),
                     "what": read.text(entry, "what", f"{field}.what")}
    return out


def _row(read: _Reader, raw: Any, defaults: LineDict, printed: LineDict, table: str,
         measured: Mapping[str, dict], source: Source, index: int) -> Published:
    if not isinstance(raw, LineDict):
        raise SpecError("must be a mapping", file=read.file, field=f"rows[{index}]")
    read.keys(raw, _ROW_KEYS, f"rows[{index}]")
    row = LineDict({**defaults, **raw}, line=raw.line)
    row.key_lines = {**defaults.key_lines, **raw.key_lines}
    model = read.text(row, "model", "model")
    if model not in BUILTINS and model not in PENDING_MODELS:
        raise read.fail(row, "model", "model", f"unknown model {model!r}: a built-in "
                        f"({', '.join(BUILTINS)}) or one of mncost.zoo.data.PENDING_MODELS")
    try:
        resolution = parse_resolution(row.get("resolution"))
    except ValueError as exc:
        raise read.fail(row, "resolution", "resolution", str(exc)) from None
    precision = read.choice(row, "precision", "precision", PRECISIONS, default="float32")
    macs_printed = read.mapping(printed, "macs", "printed.macs", required=False)
    params_printed = read.mapping(printed, "params", "printed.params", required=False)
    return Published(
        source=source, table=read.text(row, "table", "table", required=False) or table,
        line=raw.line or 0, model=model,
        alpha=read.number(row, "alpha", "alpha", 1e-3, 100, required=False),
        depth=read.number(row, "depth", "depth", 1e-3, 100, required=False),
        resolution=resolution,
        classes=read.integer(row, "classes", "classes", 1, 10 ** 6, required=False) or 1000,
        precision=precision,
        top1=read.number(row, "top1", "top1", 0, 100),
        top5=read.number(row, "top5", "top5", 0, 100, required=False),
        weights=read.text(row, "weights", "weights", required=False),
        extra_data=read.text(row, "extra_data", "extra_data", required=False),
        note=read.text(row, "note", "note", required=False),
        macs=_figure(read, row, "macs", macs_printed, MACS_COUNTS),
        params=_figure(read, row, "params", params_printed, PARAMS_COUNTS),
        latencies=_latencies(read, row, measured, precision))


def load_source(path: Path, devices: Mapping[str, Device]) -> tuple[Source, list[Published]]:
    """One source file: its :class:`Source` and rows (a bad file is one :class:`SpecError`
    naming the file, the line and the field)."""
    read = _Reader(path)
    doc = load_yaml_file(path)
    if not isinstance(doc, LineDict):
        raise SpecError("must be a mapping with source: and tables:", file=str(path))
    read.keys(doc, ("source", "measured", "tables", "not_transcribed"), "")
    meta = read.mapping(doc, "source", "source")
    read.keys(meta, _SOURCE_KEYS, "source")
    left = doc.get("not_transcribed", [])
    if not isinstance(left, list) or not all(isinstance(x, str) and x for x in left):
        raise read.fail(doc, "not_transcribed", "not_transcribed", "must be a list of strings")
    source = Source(path.stem, *(read.text(meta, k, f"source.{k}") for k in _SOURCE_KEYS),
                    path=str(path), not_transcribed=tuple(left))
    measured = _measured(read, doc, devices)
    tables = doc.get("tables")
    if not isinstance(tables, list) or not tables:
        raise read.fail(doc, "tables", "tables", "must be a non-empty list of tables")
    rows: list[Published] = []
    for t, table in enumerate(tables):
        field = f"tables[{t}]"
        if not isinstance(table, LineDict):
            raise read.fail(tables, None, field, "must be a mapping")
        read.keys(table, _TABLE_KEYS, field)
        name = read.text(table, "table", f"{field}.table")
        printed = read.mapping(table, "printed", f"{field}.printed", required=False)
        read.keys(printed, ("macs", "params"), f"{field}.printed")
        defaults = read.mapping(table, "defaults", f"{field}.defaults", required=False)
        read.keys(defaults, _DEFAULT_KEYS, f"{field}.defaults")
        raw_rows = table.get("rows")
        if not isinstance(raw_rows, list) or not raw_rows:
            raise read.fail(table, "rows", f"{field}.rows", "must be a non-empty list")
        setups = {**measured, **_measured(read, table, devices)}
        rows += [_row(read, raw, defaults, printed, name, setups, source, i)
                 for i, raw in enumerate(raw_rows)]
    return source, rows


@lru_cache(maxsize=4)
def _load(directory: str) -> Zoo:
    path = Path(directory)
    devices = _devices(path / DEVICES_FILE)
    sources, rows = [], []
    for file in sorted(path.glob("*.yaml")):
        if file.name == DEVICES_FILE:
            continue
        source, found = load_source(file, devices)
        sources.append(source)
        rows += found
    return Zoo(devices, tuple(sources), tuple(rows))


def load_zoo(directory: Path | None = None) -> Zoo:
    """Every source in ``directory`` (default :func:`zoo_dir`), read once per process."""
    return _load(str(directory or zoo_dir()))

