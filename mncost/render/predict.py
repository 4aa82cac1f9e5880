"""``mncost predict``: a prediction's document
(:meth:`mncost.latency.predict.NetworkPrediction.to_dict`) as JSON, CSV, Markdown or rich
tables."""

from __future__ import annotations

from typing import Any

from ..costs.schema import resolution_str
from .formats import dispatch
from .output import Draw
from .tables import Section, print_sections, sections_markdown
from .text import human, pct, to_csv, to_json

#: CSV columns of ``mncost predict --format csv``: one table, a ``scope`` per row (``total``,
#: ``between_layers``, ``fixed``, ``kind``, ``stage``, ``layer``).
PREDICT_CSV_COLUMNS = ("model", "alpha", "resolution", "classes", "runtime", "threads",
                       "scope", "name", "kind", "variant", "stage", "layers", "macs", "bytes",
                       "predicted_ms", "share", "statistic", "precision")


def predict_csv(data: dict[str, Any]) -> str:
    head = {"model": data["model"], "alpha": data["alpha"],
            "resolution": resolution_str(data["resolution"]), "classes": data["classes"],
            "runtime": data["device"]["runtime"], "threads": data["device"]["threads"],
            "statistic": data["statistic"],
            "precision": data["device"].get("precision", "float32")}
    rows = [{**head, "scope": "total", "name": "total", "layers": len(data["layers"]),
             "macs": sum(l["macs"] for l in data["layers"]),
             "predicted_ms": data["predicted_ms"]},
            {**head, "scope": "between_layers", "name": "between layers",
             "predicted_ms": data["between_layers_ms"]},
            {**head, "scope": "fixed", "name": "fixed", "predicted_ms": data["fixed_ms"]}]
    rows += [{**head, "scope": "kind", "name": k["label"], "kind": k["kind"],
              "layers": k["layers"], "macs": k["macs"], "predicted_ms": k["ms"],
              "share": k["share"]} for k in data["by_kind"]]
    rows += [{**head, "scope": "stage", "name": s["stage"], "stage": s["stage"],
              "predicted_ms": s["ms"], "share": s["share"]} for s in data["by_stage"]]
    rows += [{**head, "scope": "layer", "name": l["name"], "kind": l["kind"],
              "variant": l["variant"],
              "stage": l["stage"], "macs": l["macs"], "bytes": l["bytes"],
              "predicted_ms": l["ms"], "share": l["share"]} for l in data["layers"]]
    return to_csv(rows, PREDICT_CSV_COLUMNS)


def _ms(value: float) -> str:
    return f"{value:.3f}"


def _title(data: dict[str, Any]) -> str:
    return (f"{data['model']} ({data['spec']['name']}) alpha={data['alpha']:g} "
            f"resolution={resolution_str(data['resolution'])} classes={data['classes']}: "
            f"predicted {_ms(data['predicted_ms'])} ms, {data['statistic']}")


def sections(data: dict[str, Any], per_layer: bool) -> list[Section]:
    dev = data["device"]
    summary = [(f"predicted end to end, {data['statistic']}", f"{_ms(data['predicted_ms'])} ms")]
    noise = data.get("under_noise")
    if noise is not None:
        summary.append(("median under calibration noise",
                        f"{_ms(noise['median_ms'])} ms (p90 {_ms(noise['p90_ms'])} ms)"))
    summary.append(("in layers", f"{_ms(data['layers_ms'])} ms"))
    uncached = data.get("uncached_weights")
    if uncached is not None:
        mib = 2 ** 20
        # Part of the time in layers: the weight bytes a run of this footprint re-reads from
        # memory, beyond the cache capacity the calibration found (docs/latency.md).
        summary += [("of which weights from memory",
                     f"{_ms(uncached['ms'])} ms ({pct(uncached['share'])} of them)"),
                    ("run footprint / cache", f"{uncached['footprint_bytes'] / mib:.1f} / "
                                              f"{uncached['cache_bytes'] / mib:.1f} MiB")]
    summary += [("between layers", f"{_ms(data['between_layers_ms'])} ms"),
                ("fixed", f"{_ms(data['fixed_ms'])} ms"),
                ("device profile", str(dev["file"])),
                ("runtime / threads", f"{dev['runtime']} / {dev['threads']}"
                                      + (f" ({dev['precision']})"
                                         if dev.get("precision", "float32") != "float32"
                                         else "")),
                ("calibrated on", str(dev.get("device_name")))]
    out = [Section("Prediction", ("figure", "value"), summary, "ll"),
           Section("By layer kind", ("kind", "layers", "MACs", "ms", "share"),
                   [(k["label"], str(k["layers"]), human(k["macs"]), _ms(k["ms"]),
                     pct(k["share"])) for k in data["by_kind"]]),
           Section("By stage", ("stage", "ms", "share"),
                   [(s["stage"], _ms(s["ms"]), pct(s["share"])) for s in data["by_stage"]])]
    if per_layer:
        # The kernel whose coefficients priced the layer: its kind, or a variant of it
        # (conv@stem, depthwise@nchw: a conv ONNX Runtime runs outside its blocked layout).
        out.append(Section("Per layer", ("layer", "kernel", "MACs", "bytes", "ms", "share"),
                           [(l["name"], l.get("variant", l["kind"]), human(l["macs"]),
                             human(l["bytes"]), _ms(l["ms"]), pct(l["share"]))
                            for l in data["layers"]], "llrrrr", key=2,
                           together=(("ms", "share"),)))
    return out


NOTE = ("Shares are of the time in layers. Predicted from the device profile's fitted model "
        "(docs/latency.md, 'Predicted latency'); see its measured error there. The quiet "
        "estimate (p5 of the runs) is the latency when nothing competes; the median a run "
        "reads under the noise the calibration saw is that times its median / quiet ratio.")


def render(fmt: str, data: dict[str, Any], per_layer: bool = False) -> str | Draw:
    return dispatch({
        "json": lambda: to_json(data),
        "csv": lambda: predict_csv(data),
        "markdown": lambda: sections_markdown(_title(data), sections(data, per_layer), [NOTE]),
        "table": lambda: lambda console: print_sections(console, _title(data),
                                                        sections(data, per_layer), [NOTE]),
    }, fmt)
