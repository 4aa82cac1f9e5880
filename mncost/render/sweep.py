"""``mncost sweep``: the rows of :func:`mncost.sweep.sweep` as CSV, JSON, Markdown or a rich
table, and as a plot (matplotlib, imported only when drawing)."""

from __future__ import annotations

import io
import json
from typing import Any, Callable, Iterable, Iterator, Sequence

from ..costs.schema import resolution_str
from ..sweep.run import (
    columns,
    has_memory,
    has_predicted,
    json_head,
    json_tail,
    pareto_front,
    plain_row,
)
from .formats import dispatch
from .output import Draw
from .tables import Section, print_sections, sections_markdown
from .text import csv_header, csv_writer, human


def _ms(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "-"


def table_rows(rows: Sequence[dict[str, Any]], per_layer: bool, latency: bool
               ) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """Headers and human-unit cells for the table and Markdown formats. A depth column appears
    when some row has a depth multiplier other than 1. The ratios are to each model at its own
    alpha, depth and resolution (1.0 / 1.0 / 224 for the MobileNets)."""
    depth = any(r.get("depth", 1.0) != 1.0 for r in rows)
    widths = ("alpha", "depth") if depth else ("alpha",)

    def config(r: dict[str, Any]) -> tuple[str, ...]:
        return (r["model"], f"{r['alpha']:g}", *((f"{r['depth']:g}",) if depth else ()),
                resolution_str(r["resolution"]))

    if per_layer:
        head = ("model", *widths, "res", "layer", "kind", "out CxHxW", "MACs", "params")
        return head, [(*config(r), r["layer"], r["kind"], r["out_shape"], human(r["macs"]),
                       human(r["params"])) for r in rows]
    head = ("model", *widths, "res", "MACs", "params", "MACs ratio", "params ratio")
    cells = [(*config(r), human(r["macs"]), human(r["params"]), f"{r['macs_ratio']:.3f}x",
              f"{r['params_ratio']:.3f}x") for r in rows]
    if has_memory(rows):
        head += ("peak act.", "moved")
        cells = [c + (human(r["peak_activation_bytes"]) + "B", human(r["bytes_moved"]) + "B")
                 for c, r in zip(cells, rows)]
    if latency:
        head += ("latency ms (median)", "p10-p90 ms")
        cells = [c + (_ms(r.get("latency_ms_median")),
                      f"{_ms(r.get('latency_ms_p10'))}-{_ms(r.get('latency_ms_p90'))}")
                 for c, r in zip(cells, rows)]
    if has_predicted(rows):
        head += ("predicted ms",)
        cells = [c + (_ms(r.get("predicted_ms")),) for c, r in zip(cells, rows)]
    return head, cells


#: Columns a reader compares: one part of a table split to fit the terminal.
_TOGETHER = (("MACs", "params"), ("MACs ratio", "params ratio"), ("peak act.", "moved"),
             ("latency ms (median)", "p10-p90 ms", "predicted ms"),
             ("kind", "out CxHxW"))


def _sections(rows: Sequence[dict[str, Any]], per_layer: bool, latency: bool, params: str
              ) -> tuple[list[Section], list[str]]:
    head, cells = table_rows(rows, per_layer, latency)
    config = "l" + "r" * (head.index("res") - 1) + "l"
    align = config + ("lllrr" if per_layer else "r" * (len(head) - len(config)))
    notes = [f"MACs = multiply-accumulates; params: {params}."]
    if not per_layer:
        notes.append("Ratios: to the same model at its own alpha, depth and resolution.")
    # A row is named by its configuration (and layer): every part of a split table repeats it.
    key = head.index("res") + 1 + (1 if per_layer else 0)
    return [Section("", head, cells, align, key=key, together=_TOGETHER)], notes


def sweep_markdown(rows: Sequence[dict[str, Any]], per_layer: bool, latency: bool,
                   params: str) -> str:
    return sections_markdown(None, *_sections(rows, per_layer, latency, params))


def print_sweep(console: Any, rows: Sequence[dict[str, Any]], per_layer: bool, latency: bool,
                params: str) -> None:
    """The rich table (the caller passes the console)."""
    print_sections(console, None, *_sections(rows, per_layer, latency, params))


def render(fmt: str, rows: Sequence[dict[str, Any]], per_layer: bool, latency: bool,
           params: str, partial: bool = False, total: int | None = None) -> str | Draw:
    """The rows in ``fmt``: text, or for ``table`` a rich drawing."""
    def streamed() -> str:
        return "".join(stream(fmt, rows, per_layer, latency, lambda: (partial, total),
                              has_memory(rows), has_predicted(rows)))

    return dispatch({
        "table": lambda: lambda console: print_sweep(console, rows, per_layer, latency, params),
        **{name: streamed for name in STREAMED},
        "markdown": lambda: sweep_markdown(rows, per_layer, latency, params),
    }, fmt)


#: Formats written row by row as the rows are computed (constant memory).
STREAMED = ("csv", "jsonl", "json")
#: Rows gathered into one write (fewer, larger writes).
_CHUNK = 2000


def stream(fmt: str, rows: Iterable[dict[str, Any]], per_layer: bool, latency: bool,
           status: Callable[[], tuple[bool, int | None]] = lambda: (False, None),
           memory: bool = False, predicted: bool = False) -> Iterator[str]:
    """The rows in a streamed format, as text chunks produced while ``rows`` is consumed.

    ``csv``: a header line, then one line per row. ``jsonl``: one JSON object per line, no
    header (the columns are the CSV's). ``json``: the :data:`mncost.sweep.SWEEP_SCHEMA`
    document, its ``rows`` array written row by row; ``status()`` is
    called after the last row for the ``partial`` flag and the configurations total (an
    interrupted ``--latency`` sweep).
    ``memory``, ``predicted``: the rows carry ``--memory``'s or ``--device-profile``'s columns.
    """
    names = columns(per_layer, latency, memory, predicted)
    buffer: list[str] = []
    if fmt == "csv":
        writer = csv_writer(buffer, names)
        buffer.append(csv_header(names))
        for row in rows:
            writer(plain_row(row))
            if len(buffer) >= _CHUNK:
                yield "".join(buffer)
                buffer.clear()
    elif fmt == "jsonl":
        for row in rows:
            buffer.append(json.dumps(plain_row(row)) + "\n")
            if len(buffer) >= _CHUNK:
                yield "".join(buffer)
                buffer.clear()
    else:
        buffer.append(json.dumps(json_head(names, per_layer), indent=2)[:-2]
                      + ',\n  "rows": [')
        first = True
        for row in rows:
            buffer.append(("\n    " if first else ",\n    ") + json.dumps(plain_row(row)))
            first = False
            if len(buffer) >= _CHUNK:
                yield "".join(buffer)
                buffer.clear()
        partial, total = status()
        buffer.append(("\n  ]," if not first else "],")
                      + json.dumps(json_tail(partial, total), indent=2)[1:] + "\n")
    yield "".join(buffer)


# ---------------------------------------------------------------------------------------------
# Plot (matplotlib, imported only here)

#: Lines per panel at most (evenly chosen from the grid), so a big grid stays readable.
PLOT_LINES = 5


def _pick(values: Sequence, n: int) -> list:
    """At most ``n`` values spread evenly over ``values`` (first and last included)."""
    if len(values) <= n:
        return list(values)
    step = (len(values) - 1) / (n - 1)
    return [values[round(i * step)] for i in range(n)]


#: The row fields the plot reads (a streamed sweep keeps only these for it).
PLOT_FIELDS = ("model", "alpha", "depth", "resolution", "macs", "params", "latency_ms_median",
               "latency_ms_p10", "latency_ms_p90")


def require_matplotlib() -> None:
    """Raise :class:`MissingDependency` without matplotlib (checked before a sweep computes
    anything, so a missing plot extra does not cost the sweep)."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        from ..errors import MissingDependency
        raise MissingDependency("matplotlib", "plot")


def plot_figure(rows: Sequence[dict[str, Any]], latency: bool) -> Any:
    """A matplotlib figure: MACs against alpha and against resolution, params against alpha
    (and, with latency, MACs against latency, each point with its p10-p90 spread, and the
    Pareto front of lower latency and fewer MACs, its points labelled alpha/rho).

    Axes are linear from zero, with ticks in M (millions), so 300M reads off the axis; each
    model has its own colour and each line its own marker. Raises
    :class:`MissingDependency` without matplotlib."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    if latency:
        fig, grid = plt.subplots(2, 2, figsize=(13, 10.5))
        axes = list(grid.flat)
    else:
        fig, row = plt.subplots(1, 3, figsize=(18, 5.2))
        axes = list(row)
    # One series (one colour) per model, or per model and depth when the grid has depths.
    series = list(dict.fromkeys((r["model"], r.get("depth", 1.0)) for r in rows))
    depths = {m: sum(1 for s in series if s[0] == m) for m, _ in series}
    for i, (name, depth) in enumerate(series):
        mine = [r for r in rows if r["model"] == name and r.get("depth", 1.0) == depth]
        model = name if depths[name] == 1 else f"{name} depth {depth:g}"
        color = _COLORS[i % len(_COLORS)]
        _lines(axes[0], mine, model, by="resolution", x="alpha", y="macs", color=color)
        _lines(axes[1], mine, model, by="alpha", x="resolution", y="macs", color=color)
        _params(axes[2], mine, model, color=color)
        if latency:
            _pareto(axes[3], mine, model, color=color)
    millions = FuncFormatter(_millions)
    axes[0].set_xlabel("width multiplier alpha")
    axes[1].set_xlabel("input resolution rho (pixels, height)")
    axes[2].set_xlabel("width multiplier alpha")
    axes[0].set_title("MACs vs alpha (one line per resolution)")
    axes[1].set_title("MACs vs resolution (one line per alpha)")
    axes[2].set_title("params vs alpha (resolution does not change them)")
    for ax in axes[:2]:
        ax.set_ylabel("MACs (millions of multiply-accumulates)")
    axes[2].set_ylabel("parameters (millions)")
    if latency:
        # Limits once every model is drawn (set per model, the first would fix them), with
        # room for the p10-p90 bars and the labels.
        axes[3].margins(x=0.1, y=0.08)
        axes[3].autoscale_view()
        axes[3].set_xlim(left=0)
    for ax in axes:
        ax.yaxis.set_major_formatter(millions)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="x-small", loc="upper left")
    fig.tight_layout()
    if latency:
        _declutter(fig, axes[3])
    return fig


def _declutter(fig: Any, ax: Any) -> None:
    """Keep the Pareto labels readable: a label that would cross the frame is moved to the
    left of its point, and one that would still cross it or cover a label already placed is
    left out (front points lie close together)."""
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    kept: list[Any] = []

    def inside(box: Any) -> bool:
        return (frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0
                and box.y1 <= frame.y1)

    for text in list(ax.texts):
        box = text.get_window_extent(renderer)
        if not inside(box):
            text.set_horizontalalignment("right")
            text.xyann = (-4, 4)
            box = text.get_window_extent(renderer)
        if not inside(box) or any(box.overlaps(other) for other in kept):
            text.remove()
        else:
            kept.append(box)


def plot_png(rows: Sequence[dict[str, Any]], latency: bool) -> bytes:
    """:func:`plot_figure` as PNG bytes."""
    fig = plot_figure(rows, latency)
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


#: One colour per model (matplotlib's default cycle: distinct hues).
_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown",
           "tab:pink", "tab:gray")
#: One marker and dash per line of a model.
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
_DASHES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 3)))


def _millions(value: float, _pos: Any = None) -> str:
    """Tick label: ``3e8`` -> ``300M``."""
    return f"{value / 1e6:g}M" if value else "0"


def _res_height(resolution: Sequence[int]) -> int:
    return resolution[0]


def _lines(ax: Any, rows: Sequence[dict[str, Any]], model: str, by: str, x: str, y: str,
           color: Any) -> None:
    """One line per (evenly picked) value of ``by``, ``x`` along the axis; lines of one model
    share its colour and differ by marker and dash."""
    values = _pick(list(dict.fromkeys(r[by] for r in rows)), PLOT_LINES)
    for j, value in enumerate(values):
        line = [r for r in rows if r[by] == value]
        xs = [_res_height(r[x]) if x == "resolution" else r[x] for r in line]
        shown = resolution_str(value) if by == "resolution" else format(value, "g")
        label = f"{model}, {'rho' if by == 'resolution' else 'alpha'} {shown}"
        ax.plot(xs, [r[y] for r in line], color=color, linestyle=_DASHES[j % len(_DASHES)],
                marker=_MARKERS[j % len(_MARKERS)], markersize=4 if len(line) < 40 else 0,
                label=label)


def _params(ax: Any, rows: Sequence[dict[str, Any]], model: str, color: Any) -> None:
    """Params against alpha (one value per alpha: the resolution does not change them)."""
    by_alpha = {r["alpha"]: r["params"] for r in rows}
    alphas = sorted(by_alpha)
    ax.plot(alphas, [by_alpha[a] for a in alphas], color=color, marker="o", markersize=4,
            label=f"{model}")


#: Pareto points labelled per model at most (evenly picked along the front, ends included).
PARETO_LABELS = 12


def _spread(row: dict[str, Any]) -> tuple[float, float]:
    """How far p10 and p90 lie below and above the median (0 where not measured)."""
    median = row["latency_ms_median"]
    low, high = row.get("latency_ms_p10"), row.get("latency_ms_p90")
    return (median - low if isinstance(low, (int, float)) else 0.0,
            high - median if isinstance(high, (int, float)) else 0.0)


def _pareto(ax: Any, rows: Sequence[dict[str, Any]], model: str, color: Any) -> None:
    """Every configuration as a point with its p10-p90 latency spread, and the Pareto front
    (lower latency and fewer MACs are better: no other point is both faster and cheaper) as
    a line, its points labelled ``alpha/rho`` inside the frame."""
    points = [(r["latency_ms_median"], r["macs"], r) for r in rows
              if isinstance(r.get("latency_ms_median"), (int, float))]
    if not points:
        return
    spread = [_spread(p[2]) for p in points]
    ax.errorbar([p[0] for p in points], [p[1] for p in points],
                xerr=[[s[0] for s in spread], [s[1] for s in spread]], fmt="o", markersize=3,
                alpha=0.45, color=color, elinewidth=0.8, capsize=2,
                label=f"{model} configurations (p10-p90)")
    front = pareto_front([(p[0], p[1]) for p in points])
    ax.plot([p[0] for p in front], [p[1] for p in front], color=color, marker="o",
            drawstyle="steps-post", label=f"{model} Pareto front")
    where = {(p[0], p[1]): p[2] for p in points}
    for latency, macs in _pick(front, PARETO_LABELS):
        row = where[(latency, macs)]
        # Up and to the right of the point, a clipped label never crosses the frame.
        ax.annotate(f"{row['alpha']:g}/{resolution_str(row['resolution'])}", (latency, macs),
                    textcoords="offset points", xytext=(4, 4), fontsize="x-small",
                    color=color, annotation_clip=True, clip_on=True)
    ax.set_xlabel("latency, median ms per batch (bars: p10-p90)")
    ax.set_ylabel("MACs (millions)")
    ax.set_title("MACs vs latency: Pareto front labelled alpha/rho")
