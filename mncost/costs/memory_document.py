"""The ``mncost memory`` document (schema :data:`MEMORY_SCHEMA`, docs/memory.md, "JSON and CSV
fields"), and the memory fields ``analyze -f json --dtype`` adds: built here, above the three
modules it joins (:mod:`.memory`'s traffic and peaks, :mod:`.roofline`'s bounds, :mod:`.table3`'s
per-resolution view), so none of them imports another upwards. Rendered by
:mod:`mncost.render.memory`.
"""

from __future__ import annotations

from typing import Any

from . import int8
from .kinds import REGISTRY
from .memory import SCHEDULES, MemoryReport, Traffic
from .roofline import Device, bound
from .table3 import PAPER_MAX, TENSOR_SETS, outlier_notes, paper_comparison, per_resolution

MEMORY_SCHEMA = "mncost.memory/1"


def traffic_fields(t: Traffic) -> dict[str, Any]:
    """Exact-integer traffic fields (and the intensity) of a layer or a sum."""
    return {"input_bytes": t.input_bytes, "weight_bytes": t.weight_bytes,
            "output_bytes": t.output_bytes, "bytes_moved": t.bytes_moved, "macs": t.macs,
            "intensity": t.intensity}


def bound_fields(t: Traffic, device: Device | None) -> dict[str, Any]:
    """The roofline fields of a layer or a sum (none without a device)."""
    if device is None:
        return {}
    b = bound(t, device)
    return {"compute_s": b.compute_s, "memory_s": b.memory_s, "time_bound_s": b.time_s,
            "bound": b.bound,
            "memory_over_compute": b.memory_over_compute if t.macs else None}


def memory_dict(report: MemoryReport, model: str, device: Device | None = None,
                per_resolution_set: str | None = None) -> dict[str, Any]:
    """Everything of one memory report as JSON-ready data (schema :data:`MEMORY_SCHEMA`):
    with a roofline ``device`` the bound of every layer, with ``per_resolution_set`` the
    per-resolution view and the v2 paper's Table 3."""
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
        "peaks": [{"schedule": s, "description": SCHEDULES[s] + (
                       f". {int8.SCHEDULE_NOTES[s]}" if report.dtype == "int8" else ""),
                   "bytes": p.bytes,
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
    if report.dtype == "int8":
        data["conventions"]["weights"] = (
            "inference, int8 (ONNX Runtime QDQ): int8 weights + int32 biases + a float32 "
            "scale and an int8 zero point per weight tensor (per output channel with "
            "--per-channel) and per int8 tensor the op reads and writes; float32 where ORT "
            "leaves the op in float")
        data["quantization"] = quantization_fields(report)
    return data


def quantization_fields(report: MemoryReport) -> dict[str, Any]:
    """What the int8 figures assume (:mod:`.int8`): the runtime, the weights' granularity and,
    from :func:`.int8.precisions`, how many layers ORT runs in each precision, the kinds of
    those it runs in float32, the activations it runs in float32 after an int8 op, and how
    many layers leave a float32 tensor."""
    net = report.network
    precision = int8.precisions(net)
    size = int8.sizes(net, precision)
    runs = [(la, precision[la.name]) for la in net.layers]
    return {"runtime": "onnxruntime QDQ static quantization",
            "weights": "per-channel" if report.per_channel else "per-tensor",
            "layers_by_precision": {p: sum(q == p for _, q in runs) for p in (
                int8.INT8_RUN, int8.MIXED_RUN, int8.FLOAT_RUN, int8.FOLDED)},
            "float_kinds": sorted({la.kind for la, p in runs if p == int8.FLOAT_RUN}),
            "float_activations": sorted({la.act for la, p in runs
                                         if int8.float_activation(la, p)}),
            "float_outputs": sum(p != int8.FOLDED and size[la.name] == int8.FLOAT32
                                 for la, p in runs)}


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
    """A memory document with torch's measured peaks (``memory --measure``) added."""
    return {**data, "measured": measured}
