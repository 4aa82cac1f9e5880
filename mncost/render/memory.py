"""``mncost memory``: the memory report (:mod:`mncost.memory`), the roofline
(:mod:`mncost.roofline`) and the per-resolution view (:mod:`mncost.table3`) as plain data
(JSON, CSV) and titled tables (Markdown, rich). Fields: README, "Memory fields"."""

from __future__ import annotations

from typing import Any

from ..costs.kinds import REGISTRY
from ..costs.memory import SCHEDULES, MemoryReport, Traffic
from ..costs.roofline import Device, bound
from ..costs.schema import resolution_str
from ..costs.table3 import (
    PAPER_MAX,
    TENSOR_SETS,
    outlier_notes,
    paper_comparison,
    paper_k,
    per_resolution,
)
from .formats import dispatch
from .output import Draw
from .tables import Section, print_sections, sections_markdown
from .text import human, pct, to_csv, to_json

MEMORY_SCHEMA = "mncost.memory/1"


def traffic_fields(t: Traffic) -> dict[str, Any]:
    """Exact-integer traffic fields (and the intensity) of a layer or a sum."""
    return {"input_bytes": t.input_bytes, "weight_bytes": t.weight_bytes,
            "output_bytes": t.output_bytes, "bytes_moved": t.bytes_moved, "macs": t.macs,
            "intensity": t.intensity}


def bound_fields(t: Traffic, device: Device | None) -> dict[str, Any]:
    if device is None:
        return {}
    b = bound(t, device)
    return {"compute_s": b.compute_s, "memory_s": b.memory_s, "time_bound_s": b.time_s,
            "bound": b.bound,
            "memory_over_compute": b.memory_over_compute if t.macs else None}


def memory_dict(report: MemoryReport, model: str, device: Device | None = None,
                per_resolution_set: str | None = None) -> dict[str, Any]:
    """Everything of one memory report as JSON-ready data."""
    net = report.network
    live = {s: {step.layers[-1]: step for step in p.steps} for s, p in report.peaks.items()}
    layers = []
    for layer, t in report.layers:
        row = {"name": layer.name, "kind": layer.kind, **traffic_fields(t),
               **bound_fields(t, device)}
        for s, steps in live.items():
            step = steps.get(layer.name)
            row[f"live_bytes_{s}"] = step.live_bytes if step else None
        layers.append(row)
    by_kind = []
    for kind, t in report.by_kind.items():
        members = [(la, tr) for la, tr in report.layers if la.kind == kind]
        row = {"kind": kind, "label": REGISTRY[kind].label, "layers": len(members),
               **traffic_fields(t)}
        if device is not None:
            row["time_bound_s"] = sum(bound(tr, device).time_s for _, tr in members)
            row["memory_bound_layers"] = sum(bound(tr, device).bound == "memory"
                                             for _, tr in members)
        by_kind.append(row)
    totals = {**traffic_fields(report.total), "layers": len(report.layers)}
    if device is not None:
        totals["time_bound_s"] = sum(bound(t, device).time_s for _, t in report.layers)
        totals["memory_bound_layers"] = sum(bound(t, device).bound == "memory"
                                            for _, t in report.layers)
    data: dict[str, Any] = {
        "schema": MEMORY_SCHEMA, "model": model,
        "spec": {"name": net.spec_name, "file": net.spec_file},
        "alpha": net.alpha, "depth": net.depth, "resolution": list(net.resolution),
        "classes": net.classes,
        "dtype": report.dtype, "split": report.split,
        "conventions": {"bytes_moved": "compulsory: inputs and weights read once, output "
                                       "written once",
                        "weights": "inference: conv/fc weights + one bias per output "
                                   "channel (batch norm folded)"},
        "peaks": [{"schedule": s, "description": SCHEDULES[s], "bytes": p.bytes,
                   "step": p.step.name, "layers": list(p.step.layers)}
                  for s, p in report.peaks.items()],
        "device": device.to_dict() if device is not None else None,
        "totals": totals, "by_kind": by_kind, "layers": layers,
    }
    if per_resolution_set is not None:
        data["per_resolution"] = {
            "tensor_set": per_resolution_set, "description": TENSOR_SETS[per_resolution_set],
            "rows": [{"h": r.h, "w": r.w, "channels": r.channels, "bytes": r.bytes,
                      "tensor": r.tensor}
                     for r in per_resolution(net, per_resolution_set, report.dtype)]}
        entries = paper_comparison(net)
        data["table3"] = None if entries is None else {
            "max_k": PAPER_MAX[net.spec_name],
            "entries": [{"size": e.size, "paper_channels": e.paper_channels,
                         "paper_k": e.paper_k, "matched_by": list(e.matched_by),
                         "computed": {s: {"channels": c, "bytes": b, "k": k}
                                      for s, (c, b, k) in e.computed.items()}}
                        for e in entries],
            "outliers": outlier_notes(net)}
    return data


def analyze_memory_fields(data: dict[str, Any], report: MemoryReport) -> dict[str, Any]:
    """``analyze`` JSON with the memory figures added (fields added only, none changed):
    per layer the traffic fields, in totals the bytes moved and both schedules' peaks."""
    by_name = {layer.name: t for layer, t in report.layers}
    naive, streamed = report.peaks["naive"], report.peaks["streamed"]
    totals = {**data["totals"], "memory_dtype": report.dtype,
              "input_bytes": report.total.input_bytes,
              "weight_bytes": report.total.weight_bytes,
              "output_bytes": report.total.output_bytes,
              "bytes_moved": report.total.bytes_moved, "intensity": report.total.intensity,
              "peak_activation_bytes": naive.bytes, "peak_activation_step": naive.step.name,
              "peak_activation_bytes_streamed": streamed.bytes,
              "peak_activation_step_streamed": streamed.step.name,
              "streamed_split": report.split}
    layers = [{**row, **{k: v for k, v in traffic_fields(by_name[row["name"]]).items()
                         if k != "macs"}} for row in data["layers"]]
    return {**data, "totals": totals, "layers": layers}


def attach_measured(data: dict[str, Any], measured: dict[str, Any]) -> dict[str, Any]:
    return {**data, "measured": measured}


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
            f"resolution={resolution_str(data['resolution'])} dtype={data['dtype']} "
            f"split={data['split']}")


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
