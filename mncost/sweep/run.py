"""Sweeps: costs over a grid of models x alpha x depth x resolution (``mncost sweep``).

Pure and torch-free (latency is measured by :func:`measure_latency` with the profiler the caller
passes in). Rows are plain dicts with the stable columns of :func:`config_columns` /
:data:`LAYER_COLUMNS` (documented in docs/sweeps.md), exact integers throughout, the resolution an
``(H, W)`` tuple until the edge (:func:`plain_row`); they are rendered by
:mod:`mncost.render.sweep`.

Speed: a grid of A alphas x R resolutions is not resolved A x R times. A layer's MACs are its
output pixels (which depend only on the resolution and the strides) times the work per output
pixel (which depends only on alpha and depth: channels, kernel, groups, repeats), and its
parameters do not depend on the resolution at all. So each (alpha, depth) is resolved once at
the spec's resolution and each resolution once, and every configuration is a dot product of the
two (:mod:`mncost.sweep.split`, which predicted sweeps share). The split is *checked*, layer by
layer, against the registry's own formulas for every resolution; where it does not hold (a spec
whose structure changes with alpha, a formula that is not per-pixel) that part of the grid
falls back to resolving that configuration (:func:`_config_rows`).

Work: every resolve costs about 20 us a layer, so a sweep is bounded by the layers it resolves
(:data:`MAX_RESOLVED_LAYERS`), not only by its configurations: :func:`check_work` estimates them
before any work (one network per model x alpha x depth, one per resolution, and with
``--memory`` one per configuration), and :class:`_Work` counts them as they are done (the slow
path can resolve every configuration).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

from ..costs.analytic import DEFAULT_PARAMS, Report, analyze, layer_macs
from ..costs.kinds import mac_kinds
from ..costs.schema import resolution_str
from ..errors import InputError
from ..limits import MAX_RESOLVED_LAYERS, MAX_SWEEP_ROWS
from ..network.layers import Network, channel_key
from ..network.resolve import resolve
from ..spec.load import Spec
from .grid import MAX_CONFIGS
from .split import Split, flat_sizes

# ---------------------------------------------------------------------------------------------
# The columns and the JSON document (schema SWEEP_SCHEMA)

SWEEP_SCHEMA = "mncost.sweep/1"

def config_columns() -> tuple[str, ...]:
    """CSV columns of ``mncost sweep`` (one row per configuration), in order: ``macs_<kind>``
    for each kind with MACs (:func:`mncost.costs.kinds.mac_kinds`, registry order)."""
    return ("model", "alpha", "depth", "resolution", "classes", "macs", "params",
            "param_convention", *(f"macs_{k}" for k in mac_kinds()), "macs_ratio",
            "params_ratio")


#: CSV columns of ``mncost sweep --per-layer`` (one row per layer per configuration).
LAYER_COLUMNS = ("model", "alpha", "depth", "resolution", "classes", "layer", "kind", "stage",
                 "in_shape", "out_shape", "macs", "params", "param_convention")
#: Columns that ``--latency`` adds (milliseconds per batch, from the profiler's end-to-end runs;
#: ``latency_ms_quiet`` is the quiet estimate, :data:`mncost.measure.timing.QUIET_STATISTIC`).
LATENCY_COLUMNS = ("latency_ms_quiet", "latency_ms_median", "latency_ms_p10", "latency_ms_p90",
                   "latency_ms_mean", "latency_ms_std", "latency_runs", "latency_device",
                   "latency_threads", "latency_batch")
#: Columns that ``--memory`` adds (``--dtype``, float32 by default; the naive schedule;
#: docs/memory.md): the peak
#: live activation bytes and the compulsory bytes moved of one pass.
MEMORY_COLUMNS = ("peak_activation_bytes", "bytes_moved")
#: Columns that ``--device-profile FILE`` adds (:mod:`mncost.latency.predict`).
PREDICTED_COLUMNS = ("predicted_ms", "predicted_runtime", "predicted_threads",
                     "predicted_statistic")


def has_memory(rows: Sequence[dict[str, Any]]) -> bool:
    """Whether sweep rows carry ``--memory``'s columns."""
    return bool(rows) and MEMORY_COLUMNS[0] in rows[0]


def plain_row(row: dict[str, Any]) -> dict[str, Any]:
    """A sweep row at the edge: its ``(H, W)`` resolution as text (``224``, ``224x160``)."""
    return {**row, "resolution": resolution_str(row["resolution"])}


def columns(per_layer: bool, latency: bool, memory: bool = False, predicted: bool = False
            ) -> tuple[str, ...]:
    """The CSV columns of a sweep (docs/sweeps.md: stable, units in the names)."""
    if per_layer:
        return LAYER_COLUMNS
    return (config_columns() + (MEMORY_COLUMNS if memory else ())
            + (LATENCY_COLUMNS if latency else ()) + (PREDICTED_COLUMNS if predicted else ()))


def has_predicted(rows: Sequence[dict[str, Any]]) -> bool:
    """Whether sweep rows carry ``--device-profile``'s columns."""
    return bool(rows) and PREDICTED_COLUMNS[0] in rows[0]


def json_head(names: Sequence[str], per_layer: bool) -> dict[str, Any]:
    """The :data:`SWEEP_SCHEMA` document before its ``rows``: what a row is and its columns."""
    return {"schema": SWEEP_SCHEMA, "rows_are": "layers" if per_layer else "configurations",
            "columns": list(names)}


def json_tail(partial: bool, total: int | None) -> dict[str, Any]:
    """The :data:`SWEEP_SCHEMA` document after its ``rows``: whether the sweep was interrupted
    (``--latency``, Ctrl-C) and then how many configurations the grid had."""
    return {"partial": partial, **({"configurations_total": total} if partial else {})}


# ---------------------------------------------------------------------------------------------
# The grid


@dataclass(frozen=True)
class Grid:
    """What to sweep: models (names or spec paths, each loaded once) x alphas x depths x
    resolutions.

    ``resolutions`` empty means each spec's own resolution; ``classes`` None the spec's; an
    alpha or depth of None the spec's own multiplier (1.0 except EfficientNet-B1...B7).
    """

    models: tuple[str, ...]
    specs: tuple[Spec, ...]
    alphas: tuple[float | None, ...]
    resolutions: tuple[tuple[int, int], ...]
    classes: int | None = None
    params: str = DEFAULT_PARAMS
    depths: tuple[float | None, ...] = (None,)

    @property
    def size(self) -> int:
        return (len(self.models) * len(self.alphas) * len(self.depths)
                * max(1, len(self.resolutions)))

    @property
    def multipliers(self) -> tuple[tuple[float | None, float | None], ...]:
        """(alpha, depth) pairs, alpha outer."""
        return tuple((a, d) for a in self.alphas for d in self.depths)

    def resolutions_of(self, spec: Spec) -> tuple[tuple[int, int], ...]:
        return self.resolutions or (tuple(spec.resolution),)


def _shape(c: int, h: int, w: int) -> str:
    return f"{c}x{h}x{w}"


@dataclass
class _AlphaCosts:
    """One (alpha, depth), resolved at the spec's resolution: per-layer work per output pixel
    (MACs /
    output pixels) and parameters, which no resolution changes."""

    network: Network
    per_pixel: list[int]
    params: list[int]


def _alpha_costs(report: Report, params: str) -> _AlphaCosts | None:
    """Split each layer's MACs into output pixels x work per pixel; None if one does not
    divide (then this alpha takes the slow path)."""
    per_pixel = []
    for row in report.layers:
        pixels = row.layer.out_shape.h * row.layer.out_shape.w
        work, rest = divmod(row.cost.macs, pixels)
        if rest:
            return None
        per_pixel.append(work)
    return _AlphaCosts(report.network, per_pixel, [r.cost.params(params) for r in report.layers])


def _layer_key(network: Network) -> tuple:
    """Everything of a layer but its spatial size: what parameters and per-pixel work read."""
    return tuple(map(channel_key, network.layers))


def _per_pixel_holds(base: _AlphaCosts) -> Callable[[Network], bool]:
    """The check of the split for a sweep: the configuration has ``base``'s layers, and by
    the registry's formulas every layer's MACs are its output pixels x ``base``'s work per
    pixel."""
    def check(network: Network) -> bool:
        if _layer_key(network) != _layer_key(base.network):
            return False
        return all(layer_macs(layer) == work * layer.out_shape.h
                   * layer.out_shape.w for layer, work in zip(network.layers, base.per_pixel))

    return check


def _reference(spec: Spec, classes: int | None, params: str, work: "_Work"
               ) -> tuple[int, int]:
    """MACs and parameters of the model at its own multipliers and resolution (alpha 1.0 at 224
    for the MobileNets; EfficientNet-B3's coefficients at 300): the denominators of
    ``macs_ratio`` and ``params_ratio``."""
    total = analyze(work.done(resolve(spec, None, None, classes))).total
    return total.macs, total.params(params)


def _ratio(value: int, reference: int) -> float:
    return round(value / reference, 6) if reference else 0.0


def _config_row(model: str, network: Network, resolution: tuple[int, int], macs: int,
                macs_by_kind: dict[str, int], params: int, convention: str,
                reference: tuple[int, int]) -> dict[str, Any]:
    """One configuration: ``macs`` is the network's total (every layer), ``macs_by_kind`` its
    split by kind (only :func:`mac_kinds` get a column)."""
    classes = network.classes
    row = {"model": model, "alpha": network.alpha, "depth": network.depth,
           "resolution": tuple(resolution),
           "classes": classes, "macs": macs, "params": params, "param_convention": convention}
    for kind in mac_kinds():
        row[f"macs_{kind}"] = macs_by_kind.get(kind, 0)
    row["macs_ratio"] = _ratio(macs, reference[0])
    row["params_ratio"] = _ratio(params, reference[1])
    return row


def _layer_rows(model: str, network: Network, macs: Iterable[int], params: Iterable[int],
                resolution: Sequence[int], sizes: Sequence[int],
                convention: str) -> Iterator[dict[str, Any]]:
    """Long rows: the layers of ``network`` (channels) at ``resolution``, whose layers have
    the spatial ``sizes`` (in H, in W, out H, out W of each layer, flattened)."""
    head = {"model": model, "alpha": network.alpha, "depth": network.depth,
            "resolution": tuple(resolution), "classes": network.classes}
    quads = zip(*[iter(sizes)] * 4)
    for layer, (ih, iw, oh, ow), m, p in zip(network.layers, quads, macs, params):
        yield {**head, "layer": layer.name, "kind": layer.kind, "stage": layer.stage,
               "in_shape": _shape(layer.in_shape.c, ih, iw),
               "out_shape": _shape(layer.out_shape.c, oh, ow),
               "macs": m, "params": p, "param_convention": convention}


class _KindSums:
    """Per-kind sums of ``work x pixels`` for networks with one layer layout (every kind
    present, so the kinds' sums add up to the network's total)."""

    def __init__(self, network: Network) -> None:
        kinds = [layer.kind for layer in network.layers]
        self.index = {k: [i for i, kind in enumerate(kinds) if kind == k]
                      for k in dict.fromkeys(kinds)}

    def split(self, values: Sequence[int]) -> dict[str, list[int]]:
        return {k: [values[i] for i in idx] for k, idx in self.index.items()}


class _Work:
    """The layers one sweep has resolved, refused past :data:`MAX_RESOLVED_LAYERS`."""

    def __init__(self) -> None:
        self.layers = 0

    def done(self, network: Network) -> Network:
        self.layers += len(network.layers)
        if self.layers > MAX_RESOLVED_LAYERS:
            raise InputError(f"the sweep has resolved {MAX_RESOLVED_LAYERS:,} layers (the "
                             f"limit) and is not done: {network.spec_name}'s layers change with "
                             "alpha or resolution, so each configuration is resolved on its "
                             "own; use fewer --alpha, --depth or --res values")
        return network


def _model_rows(model: str, spec: Spec, grid: Grid, per_layer: bool, fast: bool, work: _Work
                ) -> Iterator[dict[str, Any]]:
    """The rows of one model, alpha by alpha, resolution by resolution: by the split of the
    module docstring where it is checked to hold, else by resolving that configuration.

    Only one alpha's network is held at a time, and a bounded number of layers' spatial sizes
    (:data:`mncost.sweep.split.CACHE_LAYERS`), never the rows: memory does not grow with the
    grid.
    """
    reference = _reference(spec, grid.classes, grid.params, work)
    resolutions = grid.resolutions_of(spec)
    split = Split(spec, grid.classes, sizes=per_layer, done=work.done)
    for alpha, depth in grid.multipliers:
        costs = (_alpha_costs(analyze(split.base(alpha, depth)), grid.params)
                 if fast else None)
        if costs is None:
            for resolution in resolutions:
                yield from _config_rows(model, spec, grid, alpha, depth, resolution,
                                        per_layer, reference, work)
            continue
        sums = _KindSums(costs.network)
        work_by_kind = sums.split(costs.per_pixel)
        total_params = sum(costs.params)
        holds = _per_pixel_holds(costs)
        for resolution in resolutions:
            spatial = split.at(costs.network, resolution, holds)
            if spatial is None:
                yield from _config_rows(model, spec, grid, alpha, depth, resolution,
                                        per_layer, reference, work)
            elif per_layer:
                macs = list(map(operator.mul, costs.per_pixel, spatial.out_pixels))
                yield from _layer_rows(model, costs.network, macs, costs.params,
                                       spatial.resolution, spatial.sizes, grid.params)
            else:
                pixels_by_kind = sums.split(spatial.out_pixels)
                by_kind = {k: sum(map(operator.mul, work, pixels_by_kind[k]))
                           for k, work in work_by_kind.items()}
                yield _config_row(model, costs.network, resolution, sum(by_kind.values()),
                                  by_kind, total_params, grid.params, reference)


def _config_rows(model: str, spec: Spec, grid: Grid, alpha: float | None,
                 depth: float | None, resolution: tuple[int, int], per_layer: bool,
                 reference: tuple[int, int], work: _Work) -> Iterator[dict[str, Any]]:
    """The slow path for one configuration: resolve and analyze it."""
    report = analyze(work.done(resolve(spec, alpha, resolution, grid.classes, depth)))
    net = report.network
    if per_layer:
        yield from _layer_rows(model, net, [r.cost.macs for r in report.layers],
                               [r.cost.params(grid.params) for r in report.layers],
                               net.resolution, flat_sizes(net), grid.params)
        return
    by_kind = {k: c.macs for k, c in report.by_kind.items()}
    yield _config_row(model, net, resolution, report.total.macs, by_kind,
                      report.total.params(grid.params), grid.params, reference)


def check_grid(grid: Grid) -> None:
    """Refuse a grid over :data:`MAX_CONFIGS` before any work."""
    if grid.size > MAX_CONFIGS:
        raise InputError(f"the grid has {grid.size:,} configurations (at most "
                         f"{MAX_CONFIGS:,}); use fewer values or a larger range step")


def check_work(grid: Grid, per_layer: bool = False, memory: bool = False) -> None:
    """Refuse, before any work, a grid over :data:`MAX_CONFIGS`, one whose resolves would
    pass :data:`MAX_RESOLVED_LAYERS` (module docstring; ``memory``: :func:`add_memory` resolves
    every configuration), or one with ``per_layer`` rows past :data:`MAX_SWEEP_ROWS`. One
    resolve per model (at its deepest depth) finds the layers a network has."""
    check_grid(grid)
    total = largest = 0
    for spec in grid.specs:
        layers = _most_layers(spec, grid)
        largest = max(largest, layers)
        configs = len(grid.multipliers) * len(grid.resolutions_of(spec))
        networks = len(grid.multipliers) + len(grid.resolutions_of(spec)) + 1
        total += layers * (networks + (configs if memory else 0))
    if total > MAX_RESOLVED_LAYERS:
        raise InputError(f"the sweep would resolve about {total:,} layers (networks of up to "
                         f"{largest:,} layers; at most {MAX_RESOLVED_LAYERS:,}): use fewer "
                         "--alpha, --depth or --res values"
                         + (", or drop --memory, which resolves every configuration"
                            if memory else ""))
    if per_layer:
        rows = row_count(grid, True)
        if rows > MAX_SWEEP_ROWS:
            raise InputError(f"--per-layer gives {rows:,} rows (at most {MAX_SWEEP_ROWS:,}): "
                             "use fewer --alpha, --depth or --res values")


def _most_layers(spec: Spec, grid: Grid) -> int:
    """Layers of ``spec`` at the grid's first alpha and deepest depth (depth adds repeats;
    alpha and resolution do not change the count of a spec the fast path serves)."""
    depths = [d for d in grid.depths if d is not None]
    deepest = max(depths) if depths and None not in grid.depths else None
    return len(resolve(spec, grid.alphas[0], None, grid.classes, deepest).layers)


def iter_rows(grid: Grid, per_layer: bool = False, fast: bool = True
              ) -> Iterator[dict[str, Any]]:
    """The rows of ``grid``, one at a time: one per model x alpha x depth x resolution (in
    that nesting order), or with ``per_layer`` one per layer of each configuration.

    Memory does not grow with the number of rows: what is held is one resolved network per
    alpha and per resolution (the split of the module docstring), never the rows, so a
    caller that writes each row as it comes (``sweep -f csv``/``jsonl``) runs in constant
    memory however large the product.

    Args:
        grid: the models and values to sweep.
        per_layer: long format (:data:`LAYER_COLUMNS`) instead of :func:`config_columns`.
        fast: use the checked pixel split (module docstring); False resolves every
            configuration (the reference the tests compare the fast path with).
    """
    check_work(grid, per_layer)
    work = _Work()
    for model, spec in zip(grid.models, grid.specs):
        yield from _model_rows(model, spec, grid, per_layer, fast, work)


def sweep(grid: Grid, per_layer: bool = False, fast: bool = True) -> list[dict[str, Any]]:
    """All rows of ``grid`` as a list (:func:`iter_rows`, which streams them)."""
    return list(iter_rows(grid, per_layer, fast))


def row_count(grid: Grid, per_layer: bool) -> int:
    """How many rows ``grid`` gives: its configurations, or with ``per_layer`` its
    configurations times each model's layers (counted at each depth, the first alpha and
    resolution: the depth changes the number of layers)."""
    if not per_layer:
        return grid.size
    total = 0
    for spec in grid.specs:
        resolution = grid.resolutions_of(spec)[0]
        layers = sum(len(resolve(spec, grid.alphas[0], resolution, grid.classes, d).layers)
                     for d in grid.depths)
        total += layers * len(grid.alphas) * len(grid.resolutions_of(spec))
    return total


def add_memory(rows: Iterable[dict[str, Any]], specs: dict[str, Spec],
               dtype: str = "float32", per_channel: bool = False
               ) -> Iterator[dict[str, Any]]:
    """Each configuration row with :data:`MEMORY_COLUMNS` added at ``dtype`` (int8: ONNX
    Runtime's QDQ graph, :mod:`mncost.costs.int8`), one at a time (a streamed sweep stays in
    constant memory). Every configuration is resolved (the pixel split does not hold for
    liveness), so this is ~1 ms per row."""
    from ..costs.memory import memory_totals

    for row in rows:
        net = resolve(specs[row["model"]], row["alpha"], row["resolution"], row["classes"],
                      row.get("depth"))
        yield {**row, **memory_totals(net, dtype, per_channel)}


# ---------------------------------------------------------------------------------------------
# Latency (the caller passes the profiler: the engine never imports torch)

def latency_fields(result: Any, options: Any) -> dict[str, Any]:
    """The :data:`LATENCY_COLUMNS` of one profiler result (milliseconds, 4 decimals). Device
    and threads are the ones the profiler used (its ``environment``), not the ones asked for:
    ``--threads`` left out still records the thread count that was measured."""
    e2e = result.end_to_end
    env = getattr(result, "environment", None) or {}
    threads = env.get("threads", options.threads)
    return {"latency_ms_quiet": round(e2e.quiet_ms, 4),
            "latency_ms_median": round(e2e.median_ms, 4), "latency_ms_p10": round(e2e.p10_ms, 4),
            "latency_ms_p90": round(e2e.p90_ms, 4), "latency_ms_mean": round(e2e.mean_ms, 4),
            "latency_ms_std": round(e2e.std_ms, 4), "latency_runs": e2e.runs,
            "latency_device": env.get("device", options.device),
            "latency_threads": "" if threads is None else threads,
            "latency_batch": options.batch}


def measure_latency(rows: Iterable[dict[str, Any]], specs: dict[str, Spec], options: Any,
                    profile: Callable[[Network, Any], Any],
                    on_done: Callable[[int], None] | None = None
                    ) -> Iterator[dict[str, Any]]:
    """Measure each configuration row with ``profile(network, options)`` (the torch
    profiler's ``profile_network``) and yield it with the latency columns added.

    Rows are yielded one by one, so a caller interrupted (Ctrl-C) keeps the ones measured.
    ``on_done(i)`` is called after row ``i`` (for a progress bar).
    """
    for i, row in enumerate(rows):
        spec = specs[row["model"]]
        network = resolve(spec, row["alpha"], row["resolution"], row["classes"],
                          row.get("depth"))
        result = profile(network, options)
        yield {**row, **latency_fields(result, options)}
        if on_done is not None:
            on_done(i)


# ---------------------------------------------------------------------------------------------
# Pareto front (drawn by :func:`mncost.render.sweep.plot_png`)

def pareto_front(points: Sequence[tuple[float, int]]) -> list[tuple[float, int]]:
    """The configurations no other one beats on both costs: for (latency, MACs) points, where
    lower latency and fewer MACs are better, those with fewer MACs than every faster one (no
    other point is as fast and as cheap). Sorted by latency, so MACs fall along it."""
    front: list[tuple[float, int]] = []
    for latency, macs in sorted(points):
        if not front or macs < front[-1][1]:
            front.append((latency, macs))
    return front
