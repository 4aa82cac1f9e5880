"""``mncost profile``: a profile's plain data (:meth:`ProfileResult.to_dict`) as JSON, CSV,
Markdown or rich tables. Needs no torch: it renders the dict, not the measurement."""

from __future__ import annotations

from typing import Any, Callable

from ..costs.schema import resolution_str
from ..measure.profile_results import QUIET_MEANING
from ..measure.timing import QUIET_STATISTIC
from .formats import dispatch
from .output import Draw
from .tables import Section, print_sections, sections_markdown
from .text import human, pct, to_csv, to_json

#: CSV columns of ``mncost profile --format csv``: one table, a ``scope`` per row
#: (docs/profiling.md): end_to_end, instrumented_end_to_end, layers_sum, and with --per-layer
#: one ``kind`` row per layer kind and one ``layer`` row per layer.
PROFILE_CSV_COLUMNS = (
    "model", "alpha", "depth", "resolution", "classes", "device", "device_name", "torch",
    "threads", "dtype", "batch", "channels_last", "fuse_bn", "compile", "scope", "name", "kind",
    "macs",
    "runs", "quiet_ms", "quiet_statistic", "median_ms", "mean_ms", "std_ms", "p10_ms", "p25_ms",
    "p75_ms", "p90_ms", "iqr_ms", "min_ms", "max_ms", "images_per_s", "gmacs_per_s", "mac_share",
    "time_share", "share_ratio", "vs_end_to_end")
_ENV_COLUMNS = ("device", "device_name", "torch", "threads", "dtype", "batch", "channels_last",
                "fuse_bn", "compile")


#: Columns added with ``--compare``: the comparison dtype's figures beside each row's own
#: (end to end, per kind, per layer) and what ran for a layer.
COMPARE_CSV_COLUMNS = ("precision", "baseline_dtype", "baseline_quiet_ms", "baseline_median_ms",
                       "speedup")


def _compare_cells(data: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Add :data:`COMPARE_CSV_COLUMNS` to the end-to-end, kind and layer rows in place."""
    c = data["compare"]
    e = c["end_to_end"]
    kinds = {k["label"]: k for k in c.get("by_kind") or ()}
    layers = {t["name"]: t for t in c.get("layers") or ()}
    for row in rows:
        row["baseline_dtype"] = c["baseline_dtype"]
        if row["scope"] == "end_to_end":
            row.update(baseline_quiet_ms=e["baseline_quiet_ms"],
                       baseline_median_ms=e["baseline_median_ms"], speedup=e["speedup_median"])
        elif row["scope"] == "kind" and row["name"] in kinds:
            k = kinds[row["name"]]
            row.update(baseline_median_ms=k["baseline_time_ms"], speedup=k["speedup"])
        elif row["scope"] == "layer" and row["name"] in layers:
            t = layers[row["name"]]
            row.update(precision=t["precision"], baseline_quiet_ms=t["baseline_quiet_ms"],
                       baseline_median_ms=t["baseline_median_ms"], speedup=t["speedup"])
        elif row["scope"] == "layers_sum" and c.get("layers_sum"):
            row.update(baseline_median_ms=c["layers_sum"]["baseline_time_ms"],
                       speedup=c["layers_sum"]["speedup"])


def profile_csv(data: dict[str, Any]) -> str:
    """CSV rows for every figure, each carrying the model and environment columns (with
    ``--compare``, also :data:`COMPARE_CSV_COLUMNS`)."""
    env = data["environment"]
    head = {"model": data["model"], "alpha": data["alpha"], "depth": data.get("depth", 1.0),
            "resolution": resolution_str(data["resolution"]), "classes": data["classes"],
            **{k: env[k] for k in _ENV_COLUMNS}}
    e2e = data["end_to_end"]
    rows = [{**head, "scope": "end_to_end", "name": "total", "macs": data["macs"],
             **{k: v for k, v in e2e.items() if k != "samples_ms"}, "vs_end_to_end": 1.0}]
    per_layer = data["per_layer"]
    if per_layer is not None:
        inst = per_layer["instrumented_end_to_end"]
        rows.append({**head, "scope": "instrumented_end_to_end", "name": "total",
                     "macs": data["macs"], **inst,
                     "vs_end_to_end": inst["median_ms"] / e2e["median_ms"]})
        rows.append({**head, "scope": "layers_sum", "name": "total", "macs": data["macs"],
                     "runs": per_layer["runs"], "median_ms": per_layer["layers_sum_ms"],
                     "time_share": 1.0, "mac_share": 1.0,
                     "vs_end_to_end": per_layer["coverage"]})
        rows += [{**head, "scope": "kind", "name": k["label"], "runs": per_layer["runs"],
                  **k, "median_ms": k["time_ms"]} for k in per_layer["by_kind"]]
        rows += [{**head, "scope": "layer", **layer} for layer in per_layer["layers"]]
    if data.get("compare"):
        _compare_cells(data, rows)
        return to_csv(rows, PROFILE_CSV_COLUMNS + COMPARE_CSV_COLUMNS)
    return to_csv(rows, PROFILE_CSV_COLUMNS)


def _ms(value: float) -> str:
    return f"{value:.3f}"


def _opt(value: float | None, fmt: Callable[[float], str]) -> str:
    return "-" if value is None else fmt(value)


def _title(data: dict[str, Any]) -> str:
    depth = data.get("depth", 1.0)
    return (f"{data['model']} ({data['spec']['name']}) alpha={data['alpha']:g} "
            + (f"depth={depth:g} " if depth != 1.0 else "") +
            f"resolution={resolution_str(data['resolution'])} classes={data['classes']}")


def _setup(env: dict[str, Any]) -> str:
    threads = f"{env['threads']} thread" + ("" if env["threads"] == 1 else "s")
    flags = [name for name in ("channels_last", "fuse_bn", "compile") if env[name]]
    return ", ".join([threads, env["dtype"], f"batch {env['batch']}", *flags])


def _summary_rows(data: dict[str, Any]) -> list[tuple[str, str]]:
    e, env = data["end_to_end"], data["environment"]
    return [
        ("device", f"{env['device']} ({env['device_name']})"),
        ("setup", _setup(env)),
        (f"quiet ({QUIET_STATISTIC}) · median",
         f"{_ms(e['quiet_ms'])} ms · {_ms(e['median_ms'])} ms"),
        ("mean ± std", f"{_ms(e['mean_ms'])} ± {_ms(e['std_ms'])} ms"),
        ("p10 / p90", f"{_ms(e['p10_ms'])} / {_ms(e['p90_ms'])} ms"),
        ("IQR (p75 - p25)", f"{_ms(e['iqr_ms'])} ms"),
        ("min / max", f"{_ms(e['min_ms'])} / {_ms(e['max_ms'])} ms"),
        ("timed runs", str(e["runs"])),
        ("page faults / run", _opt(e.get("page_faults_per_run"), lambda v: f"{v:,.0f}")),
        ("images/s", f"{e['images_per_s']:.1f}"),
        ("MACs per image", human(data["macs"])),
        ("achieved GMAC/s", f"{e['gmacs_per_s']:.2f}"),
    ]


def summary_notes(data: dict[str, Any]) -> tuple[str, ...]:
    """What the quiet estimate and the median are, the allocator the runs had and, for a
    quantized model, what ran quantized."""
    note = data["environment"].get("malloc_note")
    return (f"quiet = {QUIET_MEANING}; median = the middle run under this run's conditions.",
            *((note,) if note else ()), *precision_notes(data))


def precision_notes(data: dict[str, Any]) -> tuple[str, ...]:
    """For a quantized profile: how many layers ran int8 kernels and which stayed float32
    (the environment's ``layer_precision``, read from the graph ORT ran)."""
    env = data["environment"]
    precision = env.get("layer_precision")
    if not precision:
        return ()
    q = env.get("quantization", {})
    count = {p: sum(1 for v in precision.values() if v == p) for p in ("int8", "float32",
                                                                        "mixed", "-")}
    floats = [name for name, p in precision.items() if p in ("float32", "mixed")]
    line = (f"{env['dtype']} ({q.get('format', '?')}, "
            f"{'per channel' if q.get('per_channel') else 'per tensor'}): "
            f"{count['int8']} of {len(precision)} layers ran int8 kernels, "
            f"{count['float32']} float32, {count['mixed']} mixed, {count['-']} no node.")
    return (line,) + ((f"stayed float (ORT has no int8 kernel or fusion for them here): "
                       f"{', '.join(floats)}",) if floats else ())


def _env_rows(data: dict[str, Any]) -> list[tuple[str, str]]:
    env = data["environment"]
    keys = ("torch", "device", "device_name", "threads", "interop_threads", "dtype", "batch",
            "channels_last", "fuse_bn", "compile", "warmup", "repeats", "min_time_s", "clock",
            "python", "platform")
    quantization = [(f"quant.{k}", str(v))
                    for k, v in (env.get("quantization") or {}).items()]
    return [(k, str(env[k])) for k in keys if k in env] + [
        (k, str(v)) for k, v in env.items()
        if k not in (*keys, "mncost", "malloc_note", "quantization", "layer_precision")
    ] + quantization


# MAC share, time share and their ratio side by side (the comparison the view exists for):
# one part of a table split to fit the terminal, before the absolute figures.
_KIND_HEAD = ("kind", "layers", "MAC %", "time %", "share ratio", "MACs", "time ms", "GMAC/s")
_LAYER_HEAD = ("layer", "kind", "MAC %", "time %", "share ratio", "MACs", "median ms",
               "p10-p90 ms", "GMAC/s")
_SHARES = (("MAC %", "time %", "share ratio"), ("median ms", "p10-p90 ms"))
#: What the share ratio is (it is not a time per MAC).
SHARE_NOTE = ("share ratio = time % / MAC %: above 1x a layer takes more of the time than of "
              "the MACs.")


def _ratio(value: float | None) -> str:
    return _opt(value, lambda v: f"{v:.2f}x")


def _kind_rows(per_layer: dict[str, Any]) -> list[tuple[str, ...]]:
    return [(k["label"], str(k["layers"]), pct(k["mac_share"]), pct(k["time_share"]),
             _ratio(k["share_ratio"]), human(k["macs"]), _ms(k["time_ms"]),
             _opt(k["gmacs_per_s"], lambda v: f"{v:.2f}"))
            for k in per_layer["by_kind"]]


def _layer_rows(per_layer: dict[str, Any]) -> list[tuple[str, ...]]:
    return [(t["name"], t["kind"], pct(t["mac_share"]), pct(t["time_share"]),
             _ratio(t["share_ratio"]), human(t["macs"]), _ms(t["median_ms"]),
             f"{_ms(t['p10_ms'])}-{_ms(t['p90_ms'])}",
             _opt(t["gmacs_per_s"], lambda v: f"{v:.2f}"))
            for t in per_layer["layers"]]


def overhead_note(data: dict[str, Any]) -> str:
    """The per-layer overhead statement: sum of layer medians and instrumented runs vs the
    plain end-to-end median."""
    p, e2e = data["per_layer"], data["end_to_end"]["median_ms"]
    inst = p["instrumented_end_to_end"]["median_ms"]
    return (f"Sum of per-layer medians {_ms(p['layers_sum_ms'])} ms = {pct(p['coverage'])} of "
            f"the end-to-end median {_ms(e2e)} ms, {pct(p['instrumented_coverage'])} of the "
            f"per-layer runs' own median {_ms(inst)} ms (the rest runs between layers). "
            f"Per-layer runs vs plain runs: {100 * p['instrumentation_overhead']:+.1f}% (timing "
            f"wrappers and noise, {p['runs']} runs). Time shares are of the sum of layer "
            f"medians.")


def profile_sections(data: dict[str, Any]) -> list[Section]:
    """End to end; with per-layer timing, by kind (and the overhead note) and per layer; the
    environment."""
    sections = [Section("End to end", ("figure", "value"), _summary_rows(data),
                        notes=summary_notes(data))]
    per_layer = data["per_layer"]
    if per_layer is not None:
        sections += [Section("By layer kind: MAC share vs time share", _KIND_HEAD,
                             _kind_rows(per_layer), notes=(SHARE_NOTE, overhead_note(data)),
                             together=_SHARES),
                     Section("Per layer", _LAYER_HEAD, _layer_rows(per_layer), "llrrrrrrr",
                             key=2, together=_SHARES)]
    if data.get("compare"):
        sections += compare_sections(data["compare"])
    if data.get("roofline"):
        sections += roofline_sections(data["roofline"])
    sections.append(Section("Environment", ("key", "value"), _env_rows(data), "ll"))
    return sections


def _speedup(value: float | None) -> str:
    return _opt(value, lambda v: f"{v:.2f}x")


def compare_sections(compare: dict[str, Any]) -> list[Section]:
    """A quantized model beside its comparison dtype (``--compare``): end to end, by layer
    kind and per layer, each with the speed-up (:func:`compare_dict`)."""
    this, base = compare["dtype"], compare["baseline_dtype"]
    e = compare["end_to_end"]
    note = (f"speed-up = {base} time / {this} time (above 1x {this} is faster); runs of the "
            f"two models interleaved one by one.")
    sections = [Section(f"{this} vs {base} end to end",
                        ("figure", f"{this} ms", f"{base} ms", "speed-up"),
                        [(f"quiet ({QUIET_STATISTIC})", _ms(e["quiet_ms"]),
                          _ms(e["baseline_quiet_ms"]), _speedup(e["speedup_quiet"])),
                         ("median", _ms(e["median_ms"]), _ms(e["baseline_median_ms"]),
                          _speedup(e["speedup_median"]))], notes=(note,))]
    if compare.get("by_kind") is None:
        return sections
    total = compare["layers_sum"]
    kinds = [(k["label"], str(k["layers"]), str(k["quantized_layers"]), _ms(k["time_ms"]),
              _ms(k["baseline_time_ms"]), _speedup(k["speedup"])) for k in compare["by_kind"]]
    kinds.append(("all layers", str(sum(k["layers"] for k in compare["by_kind"])),
                  str(sum(k["quantized_layers"] for k in compare["by_kind"])),
                  _ms(total["time_ms"]), _ms(total["baseline_time_ms"]),
                  _speedup(total["speedup"])))
    layers = [(t["name"], t["kind"], t["precision"] or "-", _ms(t["median_ms"]),
               _ms(t["baseline_median_ms"]), _speedup(t["speedup"]))
              for t in compare["layers"]]
    sections += [
        Section(f"{this} vs {base} by layer kind",
                ("kind", "layers", f"{this} layers", f"{this} ms", f"{base} ms", "speed-up"),
                kinds, notes=(f"{this} layers = layers that ran only {this} kernels; times "
                              f"are sums of the layers' medians.",),
                together=((f"{this} ms", f"{base} ms", "speed-up"),)),
        Section(f"{this} vs {base} per layer",
                ("layer", "kind", "ran", f"{this} ms", f"{base} ms", "speed-up"), layers,
                "lll", key=2, notes=(f"ran = the kernels ORT ran for the layer ({this}, "
                                     f"{base}, mixed, or - for no node of its own).",),
                together=((f"{this} ms", f"{base} ms", "speed-up"),))]
    return sections


def _frac(value: float | None) -> str:
    return _opt(value, pct)


def roofline_sections(roof: dict[str, Any]) -> list[Section]:
    """Per kind and per layer: intensity, bound, roofline time, measured time, roof reached."""
    d = roof["device"]
    note = (f"Roofline ({d['source']}): {d['peak_gmacs']:.1f} GMAC/s, {d['bandwidth_gbs']:.1f} "
            f"GB/s, ridge {d['ridge_macs_per_byte']:.2f} MAC/B. bound ms = max(MACs / peak, "
            f"bytes moved / bandwidth); roof % = bound / measured median; memory Nx = memory-"
            f"bound, its memory time N x its compute time.")
    kinds = [(k["kind"], str(k["layers"]), f"{k['intensity']:.1f}",
              f"{k['memory_bound_layers']}/{k['layers']}", _ms(k["time_bound_ms"]),
              _ms(k["median_ms"]), _frac(k["roof_fraction"])) for k in roof["by_kind"]]
    # "memory 2.3x" folds the bound and its margin into one column (80-column tables)
    layers = [(r["name"], r["kind"], f"{r['intensity']:.1f}",
               "compute" if r["bound"] == "compute" else
               f"memory {_opt(r['memory_over_compute'], lambda v: f'{v:.1f}x')}".strip(),
               _ms(r["time_bound_ms"]), _ms(r["median_ms"]), _frac(r["roof_fraction"]))
              for r in roof["layers"]]
    return [Section("Roofline by kind", ("kind", "layers", "MAC/B", "mem-bound", "bound ms",
                                         "measured ms", "roof %"), kinds, notes=(note,),
                    together=(("bound ms", "measured ms", "roof %"),)),
            Section("Roofline per layer", ("layer", "kind", "MAC/B", "bound", "bound ms",
                                           "measured", "roof %"), layers, "llrr", key=2,
                    together=(("bound ms", "measured", "roof %"),))]


def profile_markdown(data: dict[str, Any]) -> str:
    """Markdown: summary, per-kind and per-layer tables, environment."""
    return sections_markdown(_title(data), profile_sections(data))


def profile_rich(console: Any, data: dict[str, Any]) -> None:
    """Print the human tables with rich."""
    sections = profile_sections(data)
    if data["per_layer"] is not None:
        # The long per-layer table first, so the by-kind summary ends on screen.
        sections[1], sections[2] = sections[2], sections[1]
    titles = [s.title for s in sections]
    if data.get("compare") and data["compare"].get("layers") is not None:
        # Likewise: the per-layer comparison before the by-kind speed-ups.
        i = next(i for i, t in enumerate(titles) if t.endswith(" per layer") and " vs " in t)
        sections[i - 1], sections[i] = sections[i], sections[i - 1]
    print_sections(console, _title(data), sections)


def render(fmt: str, data: dict[str, Any]) -> str | Draw:
    """``data`` in ``fmt``: text, or for ``table`` a rich drawing."""
    return dispatch({"table": lambda: lambda console: profile_rich(console, data),
                     "json": lambda: to_json(data), "csv": lambda: profile_csv(data),
                     "markdown": lambda: profile_markdown(data)}, fmt)
