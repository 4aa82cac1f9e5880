"""``mncost check``: a :class:`~mncost.check.baseline.CheckResult` as a terminal table (rich), a
Markdown report sized for a GitHub job summary, and JUnit XML."""

from __future__ import annotations

import re
import shlex
import xml.etree.ElementTree as ET
from decimal import Decimal
from typing import Any, Callable

from ..check.results import MEMORY_METRICS, CheckResult, ConfigResult, Configuration, MetricDelta
from ..check.units import format_bytes, format_count
from ..costs.analytic import DEFAULT_PARAMS
from ..costs.schema import resolution_str
from .tables import Section, plain, print_sections, sections_markdown
from .text import human, visible


def _value(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    if "latency" in metric:
        return f"{value:.3f} ms"
    return f"{value:,}" if isinstance(value, int) else human(value)


def _delta(m: MetricDelta) -> str:
    d = m.delta_percent
    if d is None:
        return "new" if m.new else "+0.00%"
    # Small moves keep four decimals, so a change never reads as +0.00%.
    return f"{d:+.2f}%" if d == 0 or abs(d) >= 0.01 else f"{d:+.4f}%"


def _limit(metric: str, limit: Decimal) -> str:
    """A budget's limit exactly as a budgets file writes it (``6MiB``, ``600M``, ``12.5 ms``),
    never rounded (a ``6MiB`` budget is not ``6.29M``)."""
    if metric in MEMORY_METRICS:
        return format_bytes(limit)
    if "latency" in metric:
        return f"{format_count(limit)} ms"
    return format_count(limit)


def _full(c: Configuration) -> str:
    return c.config


def short_config(c: Configuration) -> str:
    """``0.5/224``: alpha/resolution, then ``d=1.4`` and ``k=10`` where the depth multiplier
    is not 1 and the class count not 1000 (the terminal table's narrow column)."""
    return " ".join([f"{c.alpha:g}/{resolution_str(c.resolution)}",
                     *([f"d={c.depth:g}"] if c.depth != 1.0 else []),
                     *([f"k={c.classes}"] if c.classes != 1000 else [])])


#: Short metric names of the terminal table (explained in a note under it).
METRIC_LABELS = {"macs": "MACs", "peak_activation_bytes": "peak act.",
                 "bytes_moved": "moved", "latency_ms_median": "latency",
                 "latency_ms": "latency", "predicted_latency_ms": "predicted"}


def _metric_name(metric: str) -> str:
    return metric


def config_rows(result: CheckResult, config: Callable[[Configuration], str] = _full,
                metric: Callable[[str], str] = _metric_name) -> list[tuple[str, ...]]:
    """One row per metric per configuration: model, config, metric, old, new, delta, status
    (``config`` and ``metric`` name them: in full, or short for the terminal)."""
    rows = []
    for c in result.configs:
        for m in c.metrics:
            rows.append((c.model, config(c), metric(m.metric), _value(m.metric, m.old),
                         _value(m.metric, m.new), _delta(m), "ok" if m.ok else "MOVED"))
        if c.moved_layers:   # layers are checked in their own right, even when totals hold
            rows.append((c.model, config(c), "layers", "-", _layers_moved(c), "", "MOVED"))
    return rows


def _layers_moved(c: ConfigResult) -> str:
    n = len(c.moved_layers)
    return f"{n} layer{'' if n == 1 else 's'} moved"


def _budget_status(b: Any) -> str:
    return "skipped" if b.skipped else "ok" if b.ok else "BROKEN"


def budget_rows(result: CheckResult, config: Callable[[Configuration], str] = _full,
                metric: Callable[[str], str] = _metric_name) -> list[tuple[str, ...]]:
    return [(b.model, config(b), metric(b.metric), _value(b.metric, b.value),
             "<= " + _limit(b.metric, b.limit), _budget_status(b)) for b in result.budgets]


def layer_rows(config: ConfigResult, limit: int | None = None) -> list[tuple[str, ...]]:
    """The changed layers of one configuration (at most ``limit``)."""
    def fmt(v: int | None) -> str:
        return "-" if v is None else f"{v:,}"
    changes = config.layers[:limit] if limit else config.layers
    return [(c.name, c.status, fmt(c.old_macs), fmt(c.new_macs), fmt(c.old_params),
             fmt(c.new_params)) for c in changes]


CONFIG_HEAD = ("model", "configuration", "metric", "baseline", "now", "delta", "status")
BUDGET_HEAD = ("model", "configuration", "metric", "now", "budget", "status")
LAYER_HEAD = ("layer", "change", "MACs before", "MACs now", "params before", "params now")
#: The terminal's narrow configuration column (:func:`short_config`).
SHORT_CONFIG_HEAD = "config"
#: Layers listed per moved configuration in the Markdown report (a job summary has a limit).
MD_LAYER_LIMIT = 25


def check_sections(result: CheckResult, layer_limit: int | None,
                   short: bool = False) -> list[Section]:
    """Baseline, budgets, and the changed layers of each moved configuration (at most
    ``layer_limit`` each). ``short``: the terminal's narrow names (:func:`short_config`,
    :data:`METRIC_LABELS`), so that a row's model, configuration and metric and the values
    compared (baseline, now, delta, status) are one table at 80 columns."""
    config, metric = (short_config, lambda m: METRIC_LABELS.get(m, m)) if short \
        else (_full, _metric_name)
    head = ((lambda h: tuple(SHORT_CONFIG_HEAD if x == "configuration" else x for x in h))
            if short else (lambda h: h))
    sections = []
    if result.configs:
        sections.append(Section("Baseline", head(CONFIG_HEAD),
                                config_rows(result, config, metric), "lllrrrl", key=3,
                                together=(("baseline", "now", "delta", "status"),)))
    if result.budgets:
        sections.append(Section("Budgets", head(BUDGET_HEAD),
                                budget_rows(result, config, metric), "lllrrl", key=3,
                                together=(("now", "budget", "status"),)))
    for c in result.moved:
        if not c.layers:
            continue
        more = len(c.layers) - layer_limit if layer_limit else 0
        sections.append(Section(f"Layers changed: {c.model} {c.config}", LAYER_HEAD,
                                layer_rows(c, layer_limit), "llrrrr",
                                (f"... and {more} more layers",) if more > 0 else (), key=2,
                                together=(("MACs before", "MACs now"),
                                          ("params before", "params now"))))
    return sections


def _labels_note(result: CheckResult) -> list[str]:
    """What the terminal's short metric names stand for (those its tables show)."""
    used = {m.metric for c in result.configs for m in c.metrics}
    used |= {b.metric for b in result.budgets}
    names = [f"{label} = {metric}" for metric, label in METRIC_LABELS.items()
             if metric in used and label.lower() != metric]
    return ["config = alpha/resolution, then d=depth and k=classes where not 1 and 1000"
            + (f"; {', '.join(names)}." if names else ".")]


def accept_command(result: CheckResult, baseline_file: str | None = None) -> str:
    """The ``mncost baseline write`` command that records the current counts of the
    baseline's configurations (exact where they form a full grid, else a pattern). Every
    file is one shell word (:func:`shell_quote`); a model that begins with ``-`` comes after
    ``--``, so it is never read as an option."""
    models = list(dict.fromkeys(c.model for c in result.configs))
    alphas = list(dict.fromkeys(c.alpha for c in result.configs))
    resolutions = list(dict.fromkeys(c.resolution for c in result.configs))
    depths = list(dict.fromkeys(c.depth for c in result.configs))
    classes = {c.classes for c in result.configs}
    full = (len(result.configs) == len(models) * len(alphas) * len(resolutions) * len(depths)
            and len(classes) == 1)
    out = shell_quote(baseline_file or "mncost-baseline.json")
    if not full:
        return f"mncost baseline write MODELS --alpha LIST --res LIST -o {out}"
    options = ["--alpha " + ",".join(f"{a:g}" for a in alphas),
               "--res " + ",".join(resolution_str(r) for r in resolutions)]
    if depths != [1.0]:
        options.append("--depth " + ",".join(f"{d:g}" for d in depths))
    if classes != {1000}:
        options.append(f"--classes {classes.pop()}")
    if result.param_convention != DEFAULT_PARAMS:
        options.append(f"--params {result.param_convention}")
    if result.latency_tolerance is not None:
        options.append("--latency")
    options.append(f"-o {out}")
    quoted = [shell_quote(m) for m in models]
    if any(m.startswith("-") for m in models):
        return " ".join(["mncost baseline write", *options, "--", *quoted])
    return " ".join(["mncost baseline write", *quoted, *options])


def shell_quote(word: str) -> str:
    """``word`` as one shell word that pastes back as exactly ``word``: :func:`shlex.quote`
    (``'x; touch PWNED; .yaml'``), or bash's ``$'...'`` where it holds a character that is not
    printable (a newline, ESC), written as an escape so the command stays one visible line."""
    if word.isprintable():
        return shlex.quote(word)
    out = []
    for ch in word:
        if ch in "\\'":
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x80 else
                       f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "$'" + "".join(out) + "'"


def code_span(text: str) -> str:
    """``text`` as a Markdown code span: fenced by more backticks than the longest run inside
    it, so nothing in it ends the span early."""
    fence = "`" * (max(map(len, re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def check_markdown(result: CheckResult, baseline_file: str | None = None) -> str:
    """The report as Markdown, sized for a GitHub job summary: the verdict and what failed
    first, then every table folded in ``<details>`` (the layer tables too), and one line on
    how to accept an intended change."""
    icon = "✅" if result.ok else "❌"
    parts = [f"## {icon} mncost check: {result.summary()}\n\n",
             f"Counts are MACs (multiply-accumulates) and parameters "
             f"({result.param_convention}).\n"]
    if result.latency_tolerance is not None:
        from ..measure.timing import QUIET_STATISTIC  # only with --latency

        parts.append(f"Latency is measured and noisy; it is compared on the quiet estimate "
                     f"({QUIET_STATISTIC} of the timed runs; the median for a baseline written "
                     f"without it) and fails only when slower than the baseline by more than "
                     f"{result.latency_tolerance}.\n")
    if result.moved:
        parts.append(f"\nIf the change is intended, accept it by committing a new baseline "
                     f"with the change: {code_span(accept_command(result, baseline_file))}.\n")
    failing = []
    moved_rows = [row for row in config_rows(result) if row[-1] == "MOVED"]
    if moved_rows:
        failing.append(Section("Moved beyond tolerance", CONFIG_HEAD, moved_rows, "lllrrrl"))
    # A skipped budget (latency without --latency) neither holds nor breaks: not listed here.
    broken_rows = [row for row in budget_rows(result) if row[-1] == "BROKEN"]
    if broken_rows:
        failing.append(Section("Budgets broken", BUDGET_HEAD, broken_rows, "lllrrl"))
    if failing:
        parts.append(sections_markdown(None, failing, spaced=True))
    for section in check_sections(result, MD_LAYER_LIMIT):
        rows = len(section.rows)
        title = section.title + (f" ({rows} rows)" if section.title in ("Baseline", "Budgets")
                                 else f" ({len(section.rows)} layers shown)")
        body = sections_markdown(None, [Section("", section.headers, section.rows,
                                                section.align, section.notes)])
        parts.append(f"\n<details><summary>{_html(title)}</summary>\n\n{body}\n</details>\n")
    return "".join(parts)


def _html(text: str) -> str:
    """Text for inside an HTML element: visible (no newline ends the element's line) and
    ``&``, ``<``, ``>`` as entities."""
    return visible(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _failure_text(c: ConfigResult) -> str:
    lines = [f"{m.metric}: {m.old} -> {m.new} ({_delta(m)})" for m in c.metrics if not m.ok]
    lines += [f"layer {ch.name} {ch.status}: MACs {ch.old_macs} -> {ch.new_macs}, params "
              f"{ch.old_params} -> {ch.new_params}" for ch in c.layers]
    return "\n".join(lines)


def _class(model: str) -> str:
    """A model as one JUnit class-name segment: readers split class names at dots, so a spec
    path (``specs/my_net.v2.yaml``) becomes ``specs/my_net_v2`` (``.yaml`` dropped, other dots
    ``_``)."""
    for suffix in (".yaml", ".yml"):
        if model.endswith(suffix):
            model = model[: -len(suffix)]
    return model.replace(".", "_")


def _xml_safe(element: ET.Element) -> None:
    """Every attribute and text of ``element`` :func:`visible`: XML 1.0 forbids most control
    characters (``\x01``, ``\x0b``, ESC) and U+FFFE / U+FFFF even as character references,
    so a model or budget path holding one would make the file unreadable. Text keeps its own
    line breaks (the failure detail is one line per change)."""
    for name, value in element.attrib.items():
        element.set(name, visible(value))
    if element.text:
        element.text = "\n".join(map(visible, element.text.split("\n")))


def check_junit(result: CheckResult) -> bytes:
    """JUnit XML: a suite for the baseline (one test case per model and configuration) and
    one for the budgets (one per budget limit)."""
    root = ET.Element("testsuites", name="mncost check")
    suite = ET.SubElement(root, "testsuite", name="mncost.baseline",
                          tests=str(len(result.configs)), failures=str(len(result.moved)),
                          errors="0", skipped="0")
    for c in result.configs:
        case = ET.SubElement(suite, "testcase", classname=f"mncost.baseline.{_class(c.model)}",
                             name=c.config)
        if not c.ok:
            moved = ", ".join([f"{m.metric} {_delta(m)} ({_value(m.metric, m.old)} -> "
                               f"{_value(m.metric, m.new)})" for m in c.metrics if not m.ok]
                              + ([_layers_moved(c)] if c.moved_layers else []))
            failure = ET.SubElement(case, "failure", type="regression",
                                    message=f"{c.model} {c.config}: {moved}")
            failure.text = _failure_text(c)
    suite = ET.SubElement(root, "testsuite", name="mncost.budget",
                          tests=str(len(result.budgets)), failures=str(len(result.broken)),
                          errors="0", skipped=str(len(result.skipped)))
    for b in result.budgets:
        case = ET.SubElement(suite, "testcase", classname=f"mncost.budget.{_class(b.model)}",
                             name=f"{b.config} {b.metric}")
        if b.skipped:
            ET.SubElement(case, "skipped", message=f"{b.metric} budget not checked: "
                                                   f"{b.skipped} ({b.where})")
        elif not b.ok:
            failure = ET.SubElement(case, "failure", type="budget",
                                    message=f"{b.model} {b.config}: {b.metric} "
                                            f"{_value(b.metric, b.value)} > budget "
                                            f"{_limit(b.metric, b.limit)} ({b.where})")
            failure.text = f"{b.metric} = {b.value}, budget <= {b.limit} ({b.where})"
    root.set("tests", str(len(result.configs) + len(result.budgets)))
    root.set("failures", str(len(result.moved) + len(result.broken)))
    root.set("skipped", str(len(result.skipped)))
    for element in root.iter():
        _xml_safe(element)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def print_check(console: Any, result: CheckResult, layer_limit: int | None = 10) -> None:
    """The terminal report (rich; the caller passes the console)."""
    print_sections(console, None, check_sections(result, layer_limit, short=True),
                   _labels_note(result))
    console.print(plain(result.summary()))
