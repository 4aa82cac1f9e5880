"""``mncost calibrate --evaluate``: the profile's ``evaluation`` section
(:func:`mncost.latency.device_profile.evaluation_section`) as JSON, Markdown or rich tables.

Every table fits 80 columns: the held-out rows leave their MACs and instability reasons to the
JSON (an unstable row is marked ``*``)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..costs.schema import resolution_str
from .formats import dispatch
from .output import Draw
from .tables import Section, print_sections, sections_markdown
from .text import to_json

#: ``--format`` choices of the report.
EVALUATION_FORMATS = ("table", "json", "markdown")
#: Rows of the error table: label, predictor key in ``error``, subset.
PREDICTORS = (("mncost model", "model"), ("latency ∝ MACs", "macs_baseline"))


def config_label(row: Mapping[str, Any]) -> str:
    """``v2 0.45/112``, ``v1 1.0/192``; ``*`` after an unstable one."""
    alpha = f"{row['alpha']:g}"
    alpha = alpha if "." in alpha or "e" in alpha else f"{alpha}.0"
    mark = " *" if row.get("unstable") else ""
    return f"{row['model']} {alpha}/{resolution_str(row['resolution'])}{mark}"


def _signed(error: float | None) -> str:
    return "-" if error is None else f"{error:+.1%}"


def error_section(ev: Mapping[str, Any]) -> Section:
    """Share within +-5% and +-10%, median and largest absolute error, per predictor, over
    every held-out configuration and over the stable ones."""
    rows = []
    for label, key in PREDICTORS:
        for subset in ("all", "stable"):
            e = ev["error"][key][subset]
            which = f"all {e['count']}" if subset == "all" else f"{e['count']} stable"
            rows.append((f"{label}, {which}", f"{e['within_5pct']:.0%}",
                         f"{e['within_10pct']:.0%}", f"{e['median_abs_error']:.1%}",
                         f"{e['max_abs_error']:.1%}", _signed(e.get("median_error"))))
    return Section("Error on the held-out configurations",
                   ("predictor", "±5%", "±10%", "median", "max", "bias"), rows)


def shares_section(shares: Sequence[Mapping[str, Any]]) -> Section:
    """Per-layer predicted against measured time shares, in percentage points."""
    return Section("Per-layer time shares, predicted vs measured (points)",
                   ("configuration", "layers", "≤ 5 points", "largest", "at layer", "mean"),
                   [(config_label(s), str(s["layers"]), f"{s['within_5_points']:.0%}",
                     f"{s['max_abs_points']:.1f}", s["worst_layer"],
                     f"{s['mean_abs_points']:.2f}") for s in shares], "lrrrlr")


def kinds_section(shares: Sequence[Mapping[str, Any]]) -> Section:
    """Measured and predicted share of the time in layers, by layer kind."""
    return Section("Time shares by layer kind",
                   ("configuration", "kind", "measured", "predicted"),
                   [(config_label(s), kind, f"{v['measured']:.1%}", f"{v['predicted']:.1%}")
                    for s in shares for kind, v in s["by_kind"].items()], "llrr")


def rows_section(rows: Sequence[Mapping[str, Any]]) -> Section:
    """Every held-out configuration: measured and predicted ms, both predictors' errors."""
    return Section("Held-out configurations (ms)",
                   ("configuration", "measured", "predicted", "error", "∝ MACs"),
                   [(config_label(r), f"{r['measured_ms']:.3f}", f"{r['predicted_ms']:.3f}",
                     _signed(r["error"]), _signed(r["macs_baseline_error"])) for r in rows])


def title(ev: Mapping[str, Any]) -> str:
    threads = ev["threads"]
    return (f"Evaluation: {ev['configurations']} held-out configurations, {ev['runtime']}, "
            f"{threads} thread{'s' if threads != 1 else ''}")


def notes(ev: Mapping[str, Any]) -> list[str]:
    return [f"Measured in the same {ev['rounds']} interleaved rounds as the calibration set "
            "and never fitted; latency ∝ MACs is fitted on the same calibration data. "
            f"{ev['unstable']} unstable (*: kept in the figures; reasons in the profile's "
            "evaluation.rows). Errors are predicted / measured - 1, times the "
            f"{ev.get('statistic', 'median')} of each configuration's runs; ±5% and ±10%: "
            "the share within; median and max: absolute errors; bias: the median signed "
            "error."]


def sections(ev: Mapping[str, Any]) -> list[Section]:
    out = [error_section(ev)]
    if ev["layer_shares"]:
        out += [shares_section(ev["layer_shares"]), kinds_section(ev["layer_shares"])]
    return out + [rows_section(ev["rows"])]


def render(fmt: str, ev: Mapping[str, Any]) -> str | Draw:
    """The report of ``ev`` (a profile's ``evaluation`` section) in ``fmt``."""
    return dispatch({
        "json": lambda: to_json(ev),
        "markdown": lambda: sections_markdown(title(ev), sections(ev), notes(ev)),
        "table": lambda: lambda console: print_sections(console, title(ev), sections(ev),
                                                        notes(ev)),
    }, fmt)
