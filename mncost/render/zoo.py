"""``mncost zoo``: the published configurations (:func:`mncost.zoo.zoo_rows`) as rich tables,
Markdown, JSON or CSV, and as a plot of top-1 against latency or MACs with the Pareto front
(matplotlib, imported only when drawing)."""

from __future__ import annotations

import io
import math
from typing import Any, Sequence

from ..costs.schema import resolution_str
from ..zoo.rows import ZooResult
from .formats import dispatch
from .output import Draw
from .tables import Section, print_sections, sections_markdown
from .text import human, to_csv, to_json

#: CSV columns of ``mncost zoo -f csv`` (``predicted_ms`` / ``published_*`` only with a
#: device).
ZOO_CSV_COLUMNS = ("model", "alpha", "depth", "resolution", "classes", "precision", "top1",
                   "top5", "macs", "params", "peak_activation_bytes", "pareto", "source",
                   "table", "weights", "extra_data")
PREDICTED_CSV_COLUMNS = ("predicted_ms",)
PUBLISHED_CSV_COLUMNS = ("published_ms", "predicted_ms", "published_runtime",
                         "published_threads", "published_batch", "published_what")

_AXIS_WORDS = {"macs": "MACs", "predicted_ms": "predicted latency",
               "published_ms": "published latency"}


def _columns(result: ZooResult) -> tuple[str, ...]:
    extra = {"predicted_ms": PREDICTED_CSV_COLUMNS,
             "published_ms": PUBLISHED_CSV_COLUMNS}.get(result.axis, ())
    head = ZOO_CSV_COLUMNS[:ZOO_CSV_COLUMNS.index("pareto")]
    return head + extra + ZOO_CSV_COLUMNS[len(head):]


def _csv_row(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "published"}
    for key, value in (row.get("published") or {}).items():
        if key in ("runtime", "threads", "batch", "what"):
            out[f"published_{key}"] = "" if value is None else value
    return {k: ("" if v is None else v) for k, v in out.items()}


def zoo_csv(result: ZooResult) -> str:
    return to_csv((_csv_row(r) for r in result.rows), _columns(result))


def _ms(value: Any, axis: str) -> str:
    """Predicted: 3 decimals; published: as the source printed it; none: ``-``."""
    if not isinstance(value, (int, float)):
        return "-"
    return f"{value:.3f}" if axis == "predicted_ms" else f"{value:g}"


def _latency_header(result: ZooResult) -> str | None:
    if result.axis == "predicted_ms":
        return "predicted ms"
    if result.axis == "published_ms":
        return f"{result.device['name']} ms"
    return None


def _cells(row: dict[str, Any], latency: str | None, axis: str) -> tuple[str, ...]:
    cells = (row["model"], f"{row['alpha']:g}", resolution_str(row["resolution"]),
             row["precision"], f"{row['top1']:g}")
    if latency is not None:
        value = row.get(axis)
        if value is None and row.get("predicted_ms") is not None:   # published device
            cells += (f"~{row['predicted_ms']:.1f}",)
        else:
            cells += (_ms(value, axis),)
    return cells + (human(row["macs"]), human(row["params"]),
                    human(row["peak_activation_bytes"]) + "B", row["source"])


def sections(result: ZooResult) -> list[Section]:
    """The front, then the other rows. Each row is named by model, alpha, resolution and dtype
    (kept in every part of a split table), and top-1 stays beside the cost it is ranked against
    (the latency, or MACs without a device)."""
    latency = _latency_header(result)
    head = ("model", "alpha", "res", "dtype", "top-1 %") + ((latency,) if latency else ()) + (
        "MACs", "params", "peak act.", "source")
    align = "lrllr" + ("r" if latency else "") + "rrrl"
    together = [("top-1 %", latency or "MACs")]
    front = [_cells(r, latency, result.axis) for r in result.rows if r["pareto"]]
    rest = [_cells(r, latency, result.axis) for r in result.rows if not r["pareto"]]
    out = [Section(f"Pareto front: {len(front)} rows", head, front, align, key=4,
                   together=together)]
    if rest:
        out.append(Section(f"The other {len(rest)} rows", head, rest, align, key=4,
                           together=together))
    return out


def _title(result: ZooResult) -> str:
    where = ""
    if result.axis == "predicted_ms":
        where = f" on {result.device['profile']}"
    elif result.axis == "published_ms":
        where = f" on {result.device['name']}"
    return (f"Published configurations: top-1 against {_AXIS_WORDS[result.axis]}{where} "
            f"({len(result.rows)} rows)")


def notes(result: ZooResult) -> list[str]:
    cost = {"macs": "fewer MACs", "predicted_ms": "a lower predicted latency",
            "published_ms": "a lower published latency"}[result.axis]
    out = [f"Pareto front: no other row has at least its top-1 with {cost}. MACs, params "
           "(trainable) and peak activation memory (naive schedule, at the row's dtype) are "
           "mncost's count of the checkpoint's network; top-1 is the source's."]
    out += result.notes
    out += [f"{s['id']}: {s['title']}; {s['file']} ({s['version']})" for s in result.sources]
    return out


def render(fmt: str, result: ZooResult) -> str | Draw:
    return dispatch({
        "json": lambda: to_json(result.to_dict()),
        "csv": lambda: zoo_csv(result),
        "markdown": lambda: sections_markdown(_title(result), sections(result),
                                              notes(result)),
        "table": lambda: lambda console: print_sections(console, _title(result),
                                                        sections(result), notes(result)),
    }, fmt)


# ---------------------------------------------------------------------------------------------
# Plot

#: One colour per model family (the -tf readings share their table's).
_FAMILY_COLORS = {"v1": "tab:blue", "v2": "tab:orange", "v3-large": "tab:green",
                  "v3-small": "tab:red", "mnasnet": "tab:purple", "efficientnet": "tab:brown"}
_OTHER_COLOR = "tab:gray"
#: Label font size (points) and the marker radius (pixels) labels keep clear of.
_FONT = 7
_DPI = 110
_MARKER_PX = 4.0


def family(model: str) -> str:
    """``v3-large-tf`` -> ``v3-large``, ``efficientnet-b3`` -> ``efficientnet``."""
    if model.startswith("efficientnet"):
        return "efficientnet"
    if model.startswith("v1"):
        return "v1"
    return model[:-3] if model.endswith("-tf") else model


def point_labels(rows: Sequence[dict[str, Any]]) -> list[str]:
    """:func:`point_label` of each row; where two rows would read alike, with their source,
    and where that is not enough either, with their weights' names (or their table's)."""
    def alike(labels: list[str]) -> set[str]:
        return {label for label in labels if labels.count(label) > 1}

    plain = [point_label(r) for r in rows]
    twice = alike(plain)
    sourced = [f"{label} ({r['source']})" if label in twice else label
               for label, r in zip(plain, rows)]
    still = alike(sourced)
    return [f"{label[:-1]}: {r.get('weights') or r['table']})" if label in still else label
            for label, r in zip(sourced, rows)]


def point_label(row: dict[str, Any]) -> str:
    """``v2 0.75/160``, ``v3-large 1/224 int8``, ``efficientnet-b3/300``."""
    model = row["model"][:-3] if row["model"].endswith("-tf") else row["model"]
    res = resolution_str(row["resolution"])
    size = f"/{res}" if model.startswith("efficientnet") else f" {row['alpha']:g}/{res}"
    return model + size + (" int8" if row["precision"] != "float32" else "")


def _axis_label(result: ZooResult) -> str:
    if result.axis == "macs":
        return "MACs (millions of multiply-accumulates, log scale); fewer is better"
    where = (result.device["profile"] if result.axis == "predicted_ms"
             else result.device["name"])
    kind = "predicted" if result.axis == "predicted_ms" else "published"
    return f"{kind} latency on {where} (ms per image, log scale); lower is better"


def _cost(row: dict[str, Any], axis: str) -> float | None:
    value = row.get(axis)
    if value is None:
        return None
    return value / 1e6 if axis == "macs" else float(value)


class _Grid:
    """Boxes ``(x0, y0, x1, y1)`` and segments in display pixels, bucketed for overlap
    queries."""

    def __init__(self, cell: float = 40.0) -> None:
        self.cell = cell
        self.buckets: dict[tuple[int, int], list[tuple[float, float, float, float]]] = {}
        self.lines: dict[tuple[int, int], list[tuple[float, float, float, float]]] = {}

    def _keys(self, box):
        c = self.cell
        for i in range(int(box[0] // c), int(box[2] // c) + 1):
            for j in range(int(box[1] // c), int(box[3] // c) + 1):
                yield i, j

    def add(self, box) -> None:
        for key in self._keys(box):
            self.buckets.setdefault(key, []).append(box)

    def add_line(self, seg) -> None:
        for key in self._keys(_bounds(seg)):
            self.lines.setdefault(key, []).append(seg)

    def hits(self, box, lines: bool = True) -> bool:
        """Whether ``box`` overlaps a box or (with ``lines``) is crossed by a segment."""
        for key in self._keys(box):
            for b in self.buckets.get(key, ()):
                if box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3]:
                    return True
            for seg in self.lines.get(key, ()) if lines else ():
                if _crosses(seg, box):
                    return True
        return False

    def crossed_by(self, seg) -> bool:
        """Whether the segment crosses a box."""
        for key in self._keys(_bounds(seg)):
            for b in self.buckets.get(key, ()):
                if _crosses(seg, b):
                    return True
        return False


def _bounds(seg):
    return (min(seg[0], seg[2]), min(seg[1], seg[3]), max(seg[0], seg[2]),
            max(seg[1], seg[3]))


def _crosses(seg, box) -> bool:
    """Whether segment ``(x0, y0, x1, y1)`` passes through the inside of ``box``
    (Liang-Barsky clipping)."""
    x0, y0, x1, y1 = seg
    dx, dy = x1 - x0, y1 - y0
    lo, hi = 0.0, 1.0
    for p, q in ((-dx, x0 - box[0]), (dx, box[2] - x0), (-dy, y0 - box[1]),
                 (dy, box[3] - y0)):
        if p == 0:
            if q <= 0:
                return False
            continue
        t = q / p
        if p < 0:
            lo = max(lo, t)
        else:
            hi = min(hi, t)
        if lo >= hi:
            return False
    return True


def _candidates():
    """Label offsets (pixels) from its point: near first, then further out, 16 directions."""
    for radius in (7, 12, 18, 26, 36, 48, 62, 80, 100, 125, 155, 190, 230):
        for k in range(16):
            angle = math.pi * 2 * k / 16
            yield radius * math.cos(angle), radius * math.sin(angle)


def _box(x: float, y: float, dx: float, dy: float, w: float, h: float):
    """The label's box when its anchor is offset by (dx, dy) from (x, y): left-aligned to
    the right of the point, right-aligned to its left, centred above and below."""
    x0 = _start(x + dx, dx, dy, w)
    y0 = _start(y + dy, dy, dx, h)
    return (x0, y0, x0 + w, y0 + h)


def _start(anchor: float, along: float, across: float, size: float) -> float:
    """Where a label of ``size`` starts on one axis: centred on its anchor when the offset
    along that axis is nil or small beside the one across it, else on the side away from the
    point."""
    if abs(along) < 1e-9 or abs(across) > 2 * abs(along):
        return anchor - size / 2
    return anchor if along > 0 else anchor - size


#: Farther than this (pixels) from its point, a label gets a leader line.
LEADER_PX = 14.0


def leader(point: tuple[float, float], box: tuple[float, float, float, float]
           ) -> tuple[float, float, float, float] | None:
    """The leader line from just outside the point's marker to the nearest edge of its
    label, or None for a label next to its point."""
    x, y = point
    ex, ey = min(max(x, box[0]), box[2]), min(max(y, box[1]), box[3])
    length = math.hypot(ex - x, ey - y)
    if length <= LEADER_PX:
        return None
    start = (_MARKER_PX + 1) / length
    return (x + (ex - x) * start, y + (ey - y) * start, ex, ey)


def place_labels(points: Sequence[tuple[float, float]], sizes: Sequence[tuple[float, float]],
                 frame: tuple[float, float, float, float],
                 obstacles: Sequence[tuple[float, float, float, float]] = (),
                 pad: float = 1.5) -> list[tuple[float, float, float, float] | None]:
    """Boxes for each point's label (display pixels, in order: earlier points get the nearer
    places), all inside ``frame``, none overlapping another label, any point's marker, an
    obstacle (the front line) or another label's leader line, and each leader line
    (:func:`leader`) crossing no label and no marker; None for a label no place fits."""
    grid = _Grid()
    for x, y in points:
        grid.add((x - _MARKER_PX, y - _MARKER_PX, x + _MARKER_PX, y + _MARKER_PX))
    for box in obstacles:
        grid.add(box)
    out: list[tuple[float, float, float, float] | None] = []
    for (x, y), (w, h) in zip(points, sizes):
        # The nearest place whose leader line crosses nothing; failing that, the nearest
        # place at all (its leader may cross another's, a label never overlaps one).
        chosen = _nearest(grid, frame, x, y, w + 2 * pad, h + 2 * pad, strict=True) or \
            _nearest(grid, frame, x, y, w + 2 * pad, h + 2 * pad, strict=False)
        if chosen is not None:
            grid.add(chosen)
            line = leader((x, y), chosen)
            if line is not None:
                grid.add_line(line)
            chosen = (chosen[0] + pad, chosen[1] + pad, chosen[2] - pad, chosen[3] - pad)
        out.append(chosen)
    return out


def _nearest(grid: _Grid, frame: tuple[float, float, float, float], x: float, y: float,
             w: float, h: float, strict: bool) -> tuple[float, float, float, float] | None:
    for dx, dy in _candidates():
        box = _box(x, y, dx, dy, w, h)
        if (box[0] < frame[0] or box[1] < frame[1] or box[2] > frame[2]
                or box[3] > frame[3] or grid.hits(box, lines=strict)):
            continue
        line = leader((x, y), box)
        if strict and line is not None and grid.crossed_by(line):
            continue
        return box
    return None


def require_matplotlib() -> None:
    """Raise :class:`MissingDependency` without matplotlib (before any work)."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        from ..errors import MissingDependency
        raise MissingDependency("matplotlib", "plot")


def plot_figure(result: ZooResult) -> Any:
    """Top-1 against latency (or MACs), log x axis: every row with a cost a point (colour:
    family; square: int8; outlined: on the front), the Pareto front a step line, every point
    labelled (:func:`place_labels`). The figure grows until every label has a place."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result.rows if _cost(r, result.axis) is not None]
    scale = 1.0
    for _ in range(6):
        fig, placed = _draw(plt, result, rows, scale)
        if placed:
            break
        plt.close(fig)
        scale *= 1.25
    return fig


def plot_png(result: ZooResult) -> bytes:
    """:func:`plot_figure` as PNG bytes."""
    fig = plot_figure(result)
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    plt.close(fig)
    return buffer.getvalue()


def _draw(plt: Any, result: ZooResult, rows: Sequence[dict[str, Any]], scale: float
          ) -> tuple[Any, bool]:
    """One attempt at a figure ``scale`` times the base size; whether every label found a
    place (if not, the labels without one are drawn at their points regardless)."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    n = max(len(rows), 1)
    width = min(11 + n / 12, 30) * scale
    height = min(6.5 + n / 20, 20) * scale
    fig = plt.figure(figsize=(width, height), dpi=_DPI)
    ax = fig.add_axes((0.07, 0.09, 0.76, 0.84))
    xs = [_cost(r, result.axis) for r in rows]
    ys = [r["top1"] for r in rows]
    if rows:
        lo, hi = min(xs), max(xs)
        ax.set_xscale("log")
        ax.set_xlim(lo / 1.6, hi * 1.6)
        ax.set_ylim(min(ys) - 2.5, max(ys) + 2.5)
    for r, x, y in zip(rows, xs, ys):
        color = _FAMILY_COLORS.get(family(r["model"]), _OTHER_COLOR)
        ax.plot([x], [y], marker="s" if r["precision"] != "float32" else "o",
                markersize=5, color=color, markeredgecolor="black" if r["pareto"] else color,
                markeredgewidth=0.8, linestyle="none", zorder=3)
    front = sorted((x, y) for r, x, y in zip(rows, xs, ys) if r["pareto"])
    if front:
        ax.plot([p[0] for p in front], [p[1] for p in front], color="black", lw=1.2,
                drawstyle="steps-post", zorder=2)
    if rows:
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        ax.text(0.5, 0.5, "no configuration to draw", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_xlabel(_axis_label(result))
    ax.set_ylabel("ImageNet top-1 (%), as published")
    undrawn = len(result.rows) - len(rows)
    ax.set_title(_title(result) + (f", {undrawn} without a latency not drawn" if undrawn
                                   else "") + "; black line: Pareto front")
    ax.grid(True, which="major", alpha=0.3)
    families = list(dict.fromkeys(family(r["model"]) for r in rows))
    handles = [Line2D([], [], marker="o", linestyle="none", color=_FAMILY_COLORS.get(
        f, _OTHER_COLOR), label=f) for f in families]
    handles += [Line2D([], [], marker="o", linestyle="none", color="white",
                       markeredgecolor="black", label="float32"),
                Line2D([], [], marker="s", linestyle="none", color="white",
                       markeredgecolor="black", label="int8"),
                Line2D([], [], color="black", lw=1.2, label="Pareto front (outlined)")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              fontsize="small", borderaxespad=0)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    order = sorted(range(len(rows)), key=lambda i: (not rows[i]["pareto"], xs[i]))
    labels = point_labels(rows)
    display = ax.transData.transform(list(zip(xs, ys))) if rows else []
    sizes = []
    for i in order:
        t = ax.text(0, 0, labels[i], fontsize=_FONT)
        box = t.get_window_extent(renderer)
        sizes.append((box.width, box.height))
        t.remove()
    frame = ax.get_window_extent(renderer)
    boxes = place_labels([tuple(display[i]) for i in order], sizes,
                         (frame.x0, frame.y0, frame.x1, frame.y1),
                         _step_boxes(ax.transData.transform(front) if front else []))
    to_data = ax.transData.inverted()
    for i, box in zip(order, boxes):
        if box is None:
            ax.annotate(labels[i], (xs[i], ys[i]), fontsize=_FONT)
            continue
        anchor = to_data.transform((box[0], box[1]))
        ax.text(anchor[0], anchor[1], labels[i], fontsize=_FONT, ha="left", va="bottom",
                zorder=4)
        line = leader(tuple(display[i]), box)
        if line is not None:
            ends = to_data.transform([line[:2], line[2:]])
            ax.plot(ends[:, 0], ends[:, 1], color="0.6", lw=0.5, zorder=1)
    return fig, all(b is not None for b in boxes)


def _step_boxes(points: Sequence[Sequence[float]], half: float = 1.5
                ) -> list[tuple[float, float, float, float]]:
    """The front's step line (display pixels) as thin boxes: across to the next point's x,
    then up to its y."""
    boxes = []
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        boxes.append((x0, y0 - half, x1, y0 + half))
        boxes.append((x1 - half, min(y0, y1), x1 + half, max(y0, y1)))
    return boxes


