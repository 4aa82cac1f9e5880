"""``mncost sweep``: the rows of :func:`mncost.sweep.sweep` as CSV, JSON, Markdown or a rich
table, and as a plot (matplotlib, imported only when drawing)."""

from __future__ import annotations

import io
from typing import Any, Sequence

from ..sweep import (COLUMNS, LATENCY_COLUMNS, LAYER_COLUMNS, MEMORY_COLUMNS, SWEEP_SCHEMA,
                     pareto_front)
from .output import Draw
from .tables import Section, print_sections, sections_markdown
from .text import human, to_csv, to_json


def columns(per_layer: bool, latency: bool, memory: bool = False) -> tuple[str, ...]:
    """The CSV columns of a sweep (README: stable, units in the names)."""
    if per_layer:
        return LAYER_COLUMNS
    return COLUMNS + (MEMORY_COLUMNS if memory else ()) + (LATENCY_COLUMNS if latency else ())


def _memory(rows: Sequence[dict[str, Any]]) -> bool:
    """Whether the rows carry ``--memory``'s columns."""
    return bool(rows) and MEMORY_COLUMNS[0] in rows[0]


def sweep_dict(rows: Sequence[dict[str, Any]], per_layer: bool, latency: bool,
               partial: bool = False, total: int | None = None) -> dict[str, Any]:
    """The JSON document of a sweep (schema :data:`SWEEP_SCHEMA`)."""
    doc: dict[str, Any] = {"schema": SWEEP_SCHEMA, "rows_are": "layers" if per_layer
                           else "configurations", "partial": partial,
                           "columns": list(columns(per_layer, latency, _memory(rows))),
                           "rows": list(rows)}
    if partial:
        doc["configurations_total"] = total
    return doc


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
                r["resolution"])

    if per_layer:
        head = ("model", *widths, "res", "layer", "kind", "out CxHxW", "MACs", "params")
        return head, [(*config(r), r["layer"], r["kind"], r["out_shape"], human(r["macs"]),
                       human(r["params"])) for r in rows]
    head = ("model", *widths, "res", "MACs", "params", "MACs ratio", "params ratio")
    cells = [(*config(r), human(r["macs"]), human(r["params"]), f"{r['macs_ratio']:.3f}x",
              f"{r['params_ratio']:.3f}x") for r in rows]
    if _memory(rows):
        head += ("peak act.", "moved")
        cells = [c + (human(r["peak_activation_bytes"]) + "B", human(r["bytes_moved"]) + "B")
                 for c, r in zip(cells, rows)]
    if latency:
        head += ("latency ms (median)", "p10-p90 ms")
        cells = [c + (_ms(r.get("latency_ms_median")),
                      f"{_ms(r.get('latency_ms_p10'))}-{_ms(r.get('latency_ms_p90'))}")
                 for c, r in zip(cells, rows)]
    return head, cells


def _sections(rows: Sequence[dict[str, Any]], per_layer: bool, latency: bool, params: str
              ) -> tuple[list[Section], list[str]]:
    head, cells = table_rows(rows, per_layer, latency)
    config = "l" + "r" * (head.index("res") - 1) + "l"
    align = config + ("lllrr" if per_layer else "r" * (len(head) - len(config)))
    notes = [f"MACs = multiply-accumulates; params: {params}."]
    if not per_layer:
        notes.append("Ratios: to the same model at its own alpha, depth and resolution.")
    return [Section("", head, cells, align)], notes


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
    if fmt == "table":
        return lambda console: print_sweep(console, rows, per_layer, latency, params)
    if fmt == "csv":
        return to_csv(rows, columns(per_layer, latency, _memory(rows)))
    if fmt == "json":
        return to_json(sweep_dict(rows, per_layer, latency, partial, total))
    return sweep_markdown(rows, per_layer, latency, params)


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


def plot_png(rows: Sequence[dict[str, Any]], latency: bool) -> bytes:
    """A PNG: MACs against alpha and against resolution (and, with latency, latency against
    MACs with the Pareto front). Raises :class:`MissingDependency` without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        from ..errors import MissingDependency
        raise MissingDependency("matplotlib", "plot") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 3 if latency else 2
    fig, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 5))
    # One series (one hue) per model, or per model and depth when the grid has depths.
    series = list(dict.fromkeys((r["model"], r.get("depth", 1.0)) for r in rows))
    depths = {m: sum(1 for s in series if s[0] == m) for m, _ in series}
    for i, (name, depth) in enumerate(series):
        mine = [r for r in rows if r["model"] == name and r.get("depth", 1.0) == depth]
        model = name if depths[name] == 1 else f"{name} depth {depth:g}"
        cmap = plt.get_cmap(_MODEL_CMAPS[i % len(_MODEL_CMAPS)])
        _lines(axes[0], mine, model, by="resolution", x="alpha", cmap=cmap)
        _lines(axes[1], mine, model, by="alpha", x="resolution", cmap=cmap)
        if latency:
            _pareto(axes[2], mine, model, color=cmap(0.75))
    axes[0].set_xlabel("width multiplier alpha")
    axes[1].set_xlabel("input resolution (pixels, height)")
    for ax in axes[:2]:
        ax.set_ylabel("MACs (multiply-accumulates)")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_title("MACs vs alpha (one line per resolution)")
    axes[1].set_title("MACs vs resolution (one line per alpha)")
    for ax in axes:
        ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  borderaxespad=0.0)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return buffer.getvalue()


#: One sequential colour map per model: a model's lines share a hue, darker = larger value.
_MODEL_CMAPS = ("Blues", "Oranges", "Greens", "Reds", "Purples", "Greys", "YlOrBr", "PuRd")


def _res_height(text: str) -> int:
    return int(str(text).split("x")[0])


def _lines(ax: Any, rows: Sequence[dict[str, Any]], model: str, by: str, x: str,
           cmap: Any) -> None:
    """One line per (evenly picked) value of ``by``, ``x`` along the axis, shaded by value."""
    values = _pick(list(dict.fromkeys(r[by] for r in rows)), PLOT_LINES)
    for j, value in enumerate(values):
        line = [r for r in rows if r[by] == value]
        xs = [_res_height(r[x]) if x == "resolution" else r[x] for r in line]
        shown = value if by == "resolution" else format(value, "g")
        label = f"{model}, {'res' if by == 'resolution' else 'alpha'} {shown}"
        shade = 0.45 + 0.5 * (j / max(1, len(values) - 1))
        ax.plot(xs, [r["macs"] for r in line], marker="." if len(line) < 40 else None,
                color=cmap(shade), label=label)


def _pareto(ax: Any, rows: Sequence[dict[str, Any]], model: str, color: Any) -> None:
    points = [(r["latency_ms_median"], r["macs"]) for r in rows
              if isinstance(r.get("latency_ms_median"), (int, float))]
    if not points:
        return
    ax.scatter([p[0] for p in points], [p[1] for p in points], s=12, alpha=0.5, color=color,
               label=f"{model} configurations")
    front = pareto_front(points)
    ax.plot([p[0] for p in front], [p[1] for p in front], color=color,
            drawstyle="steps-post", label=f"{model} Pareto front")
    ax.set_xlabel("latency, median ms per batch")
    ax.set_ylabel("MACs (multiply-accumulates)")
    ax.set_yscale("log")
    ax.set_title("MACs vs latency (Pareto: most MACs for the time)")
    ax.grid(True, alpha=0.3)
