"""``mncost memory``: the memory document (:func:`mncost.costs.memory_document.memory_dict`: the
memory report, the roofline and the per-resolution view) as JSON, CSV and titled tables (Markdown,
rich). Fields: docs/memory.md, "Memory fields"."""

from __future__ import annotations

from typing import Any

from ..costs.schema import resolution_str
from ..costs.table3 import paper_k
from .formats import dispatch
from .output import Draw
from .tables import Section, print_sections, sections_markdown
from .text import human, pct, to_csv, to_json

# ---------------------------------------------------------------------------------------------
# CSV

MEMORY_KIND_COLUMNS = ("model", "alpha", "resolution", "dtype", "kind", "layers",
                       "input_bytes", "weight_bytes", "output_bytes", "bytes_moved", "macs",
                       "intensity", "time_bound_s", "memory_bound_layers")
MEMORY_LAYER_COLUMNS = ("model", "alpha", "resolution", "dtype", "name", "kind", "input_bytes",
                        "weight_bytes", "output_bytes", "bytes_moved", "macs", "intensity",
                        "live_bytes_naive", "live_bytes_streamed", "compute_s", "memory_s",
                        "time_bound_s", "bound", "memory_over_compute")


def memory_csv(data: dict[str, Any], per_layer: bool) -> str:
    head = {"model": data["model"], "alpha": data["alpha"],
            "resolution": resolution_str(data["resolution"]), "dtype": data["dtype"]}
    if per_layer:
        return to_csv(({**head, **row} for row in data["layers"]), MEMORY_LAYER_COLUMNS)
    rows = [{**head, **row} for row in data["by_kind"]]
    rows.append({**head, "kind": "total", **data["totals"]})
    return to_csv(rows, MEMORY_KIND_COLUMNS)


# ---------------------------------------------------------------------------------------------
# Tables

def _b(n: int | None) -> str:
    return "" if n is None else human(n) + "B"


def _t(seconds: float) -> str:
    return f"{seconds * 1e6:.1f}"


def _x(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}x"


def _title(data: dict[str, Any]) -> str:
    depth = f"depth={data['depth']:g} " if data.get("depth", 1.0) != 1.0 else ""
    return (f"{data['model']} ({data['spec']['name']}) alpha={data['alpha']:g} {depth}"
            f"resolution={resolution_str(data['resolution'])} dtype={data['dtype']}"
            + (f" ({data['quantization']['weights']})" if "quantization" in data else "")
            + f" split={data['split']}")


def memory_sections(data: dict[str, Any], per_layer: bool) -> list[Section]:
    device = data["device"]
    sections = [Section("Peak activation memory",
                        ("schedule", "peak", "exact bytes", "at"),
                        [(p["schedule"], _b(p["bytes"]), f"{p['bytes']:,}", p["step"])
                         for p in data["peaks"]], "lrrl")]
    if "measured" in data:
        m = data["measured"]
        sections.append(Section("Measured peak (torch, live tensors)",
                                 ("model as", "peak", "exact bytes", "vs naive"),
                                 [(r["label"], _b(r["bytes"]), f"{r['bytes']:,}",
                                   f"{r['bytes'] / m['naive_bytes'] - 1:+.2%}")
                                  for r in m["runs"]], notes=m["notes"]))
    t = data["totals"]
    kind_headers = ["kind", "n", "moved", "MACs", "MAC/B"]
    if device:
        kind_headers += ["bound us", "share", "mem"]
    rows = []
    for r in data["by_kind"] + [{**t, "label": "total", "kind": "total"}]:
        # kind names, not labels, and short headers: the table reads at 80 columns
        row = [r["kind"], str(r["layers"]), _b(r["bytes_moved"]), human(r["macs"]),
               f"{r['intensity']:.1f}"]
        if device:
            row += [_t(r["time_bound_s"]), pct(r["time_bound_s"] / t["time_bound_s"]),
                    f"{r['memory_bound_layers']}/{r['layers']}"]
        rows.append(row)
    notes = ["n = layers; moved = compulsory traffic (inputs and weights read once, output "
             "written once); MAC/B = MACs per byte moved."]
    if "quantization" in data:
        q = data["quantization"]
        runs = ", ".join(f"{n} {p if p != '-' else 'folded'}"
                         for p, n in q["layers_by_precision"].items() if n)
        kept = [f"kinds {', '.join(q['float_kinds'])}" if q["float_kinds"] else "",
                f"activations {', '.join(q['float_activations'])}"
                if q["float_activations"] else ""]
        kept = [k for k in kept if k]
        notes.append(f"int8: {q['runtime']}, {q['weights']} weights (int32 biases, a scale and "
                     f"a zero point per quantized tensor); layers: {runs} (a tensor with two "
                     "readers keeps its writer and readers float32); float32: "
                     + (" and ".join(kept) + f" ({q['float_outputs']} outputs)" if kept
                        else "none"))
    if device:
        notes.append(f"Roofline ({device['source']}): {device['peak_gmacs']:.1f} GMAC/s, "
                     f"{device['bandwidth_gbs']:.1f} GB/s, ridge "
                     f"{device['ridge_macs_per_byte']:.2f} MAC/B: a layer below the ridge "
                     f"is memory-bound. bound us = sum of max(MACs/peak, bytes/bandwidth); "
                     f"mem = memory-bound layers of n.")
    sections.append(Section("Bytes moved and intensity by kind", kind_headers, rows,
                            notes=notes))
    if "per_resolution" in data:
        pr = data["per_resolution"]
        sections.append(Section(
            f"Per resolution ({pr['tensor_set']}: {pr['description']})",
            ("size", "max channels", "memory", "K (paper's)", "tensor"),
            [(f"{r['h']}x{r['w']}", str(r["channels"]), f"{r['bytes']:,} B",
              str(paper_k(r["bytes"])), r["tensor"]) for r in pr["rows"]], "lrrrl"))
    if data.get("table3"):
        t3 = data["table3"]
        sets = list(t3["entries"][0]["computed"])
        rows = [[f"{e['size']}x{e['size']}", f"{e['paper_channels']}/{e['paper_k']}"]
                + [f"{e['computed'][s]['channels']}/{e['computed'][s]['k']}"
                   + ("" if s in e["matched_by"] else " *") for s in sets]
                for e in t3["entries"]]
        sections.append(Section(
            "v2 paper Table 3 (16-bit, K = 1000 B rounded down to 2 figures; * = differs)",
            ["size", "paper"] + sets, rows, notes=[f"outlier {n}" for n in t3["outliers"]],
            together=(["paper"] + sets,)))
    if per_layer:
        # At 80 columns: with a roofline the byte split gives way to the bound.
        if device:
            headers = ["layer", "kind", "moved", "MAC/B", "bound us", "bound"]
        else:
            headers = ["layer", "kind", "in", "weights", "out", "moved", "MAC/B"]
        rows = []
        for r in data["layers"]:
            row = [r["name"], r["kind"]]
            if not device:
                row += [_b(r["input_bytes"]), _b(r["weight_bytes"]), _b(r["output_bytes"])]
            row += [_b(r["bytes_moved"]), f"{r['intensity']:.1f}"]
            if device:
                # "memory 2.3x": memory time / compute time; "compute" below the ridge
                row += [_t(r["time_bound_s"]), "compute" if r["bound"] == "compute" else
                        f"memory {_x(r['memory_over_compute'])}".strip()]
            rows.append(row)
        notes = (["bound: memory Nx = memory-bound, its memory time N x its compute time"]
                 if device else [])
        sections.append(Section("Per layer", headers, rows, "ll", notes, key=2,
                                together=(("in", "weights", "out", "moved"),)))
    return sections


def memory_markdown(data: dict[str, Any], per_layer: bool) -> str:
    return sections_markdown(_title(data), memory_sections(data, per_layer))


def _print(console: Any, data: dict[str, Any], per_layer: bool) -> None:
    notes = [f"{p['schedule']}: {p['description']}." for p in data["peaks"]]
    print_sections(console, _title(data), memory_sections(data, per_layer), notes)


def render(fmt: str, data: dict[str, Any], per_layer: bool) -> str | Draw:
    return dispatch({"table": lambda: lambda console: _print(console, data, per_layer),
                     "json": lambda: to_json(data),
                     "csv": lambda: memory_csv(data, per_layer),
                     "markdown": lambda: memory_markdown(data, per_layer)}, fmt)
