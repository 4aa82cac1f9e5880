"""``mncost profile``: measured latency beside the analytic MACs (torch, imported on use).

The command parses options, calls :func:`mncost.torch_backend.profile.profile_network` and
renders its plain data (:meth:`ProfileResult.to_dict`) as rich tables, JSON, CSV or Markdown.
This module never imports torch at import time, so ``mncost --help`` stays torch-free.
"""

from __future__ import annotations

import io
import time
from typing import Any, Callable, Optional, Sequence

import click

from ..errors import MissingDependency
from ..models import resolve_model
from ..render import FORMATS, human, markdown_table, pct, resolution_str, to_csv, to_json
from .common import emit, format_option, network_options, output_option

DTYPE_CHOICES = ("float32", "float16", "bfloat16")


@click.command()
@click.argument("model")
@network_options
@click.option("--device", "-d", default="cpu", show_default=True, metavar="cpu|cuda|cuda:N",
              help="Device to run on.")
@click.option("--batch", "-b", type=click.IntRange(min=1), default=1, show_default=True,
              help="Images per forward pass.")
@click.option("--threads", "-t", type=click.IntRange(min=1), default=None,
              help="CPU threads (torch.set_num_threads); default: torch's current setting. "
                   "Reported, and restored afterwards.")
@click.option("--dtype", type=click.Choice(DTYPE_CHOICES), default="float32",
              show_default=True, help="Weights and input dtype, where the device runs it.")
@click.option("--warmup", type=click.IntRange(min=0), default=10, show_default=True,
              help="Untimed runs before timing.")
@click.option("--repeats", "-n", type=click.IntRange(min=1), default=30, show_default=True,
              help="At least this many timed runs...")
@click.option("--min-time", "min_time_s", type=click.FloatRange(min=0), default=1.0,
              show_default=True, metavar="S", help="...and at least S seconds of timed runs.")
@click.option("--per-layer", is_flag=True,
              help="Also time every layer (separate runs): MAC share vs time share per layer "
                   "and per layer kind.")
@click.option("--channels-last", is_flag=True, help="NHWC memory format (input and weights).")
@click.option("--fuse-bn", is_flag=True,
              help="Fold batch norm into the preceding conv, as inference deployments do.")
@click.option("--compile", "compile_", is_flag=True,
              help="Run through torch.compile (the first run compiles; not with --per-layer).")
@format_option(FORMATS)
@output_option
def profile(model: str, alpha: float, resolution: Optional[str], classes: Optional[int],
            device: str, batch: int, threads: Optional[int], dtype: str, warmup: int,
            repeats: int, min_time_s: float, per_layer: bool, channels_last: bool,
            fuse_bn: bool, compile_: bool, fmt: str, output: Optional[str]) -> None:
    """Measure the latency of MODEL on this machine, end to end and (--per-layer) per layer,
    beside its analytic MACs.

    \b
    Examples:
      mncost profile v1 --threads 2
      mncost profile v2 --per-layer --alpha 0.5 --res 160
      mncost profile v3-large --device cuda --batch 32 --dtype float16 --format json -o v3.json

    Timed under torch.inference_mode() after warm-up runs; each run is timed alone with
    perf_counter_ns (after torch.cuda.synchronize on CUDA). Progress goes to stderr.
    """
    network = resolve_model(model, alpha, resolution, classes)
    try:
        from ..torch_backend.profile import ProfileOptions, profile_network
    except ImportError:
        raise MissingDependency("torch", "torch") from None
    options = ProfileOptions(device=device, threads=threads, batch=batch, dtype=dtype,
                             warmup=warmup, repeats=repeats, min_time_s=min_time_s,
                             per_layer=per_layer, channels_last=channels_last,
                             fuse_bn=fuse_bn, compile=compile_)
    with ProgressDisplay() as progress:
        result = profile_network(network, options, progress=progress)
    data = result.to_dict(model)
    if fmt == "json":
        emit(to_json(data), output)
    elif fmt == "csv":
        emit(profile_csv(data), output)
    elif fmt == "markdown":
        emit(profile_markdown(data), output)
    else:
        _print_table(data, output)


def _print_table(data: dict[str, Any], output: Optional[str]) -> None:
    from rich.console import Console

    if output:
        buffer = io.StringIO()
        profile_rich(Console(file=buffer, width=140, no_color=True), data)
        emit(buffer.getvalue(), output)
    else:
        profile_rich(Console(), data)


class ProgressDisplay:
    """A rich progress display on stderr (only when it is a terminal), as a context manager
    yielding the ``progress(phase, fraction, runs)`` callback the API calls between runs.

    There is no background refresh thread: the callback redraws, at most 4 times a second, on
    the measuring thread between timed runs, so drawing never competes with a timed run for
    a CPU core.
    """

    #: Seconds between redraws.
    INTERVAL = 0.25

    def __init__(self, console: Any = None) -> None:
        self._console = console

    def __enter__(self) -> Callable[[str, float, int], None]:
        from rich.console import Console
        from rich.progress import (BarColumn, Progress, TaskProgressColumn, TextColumn,
                                   TimeElapsedColumn)

        console = self._console or Console(stderr=True)
        self._progress = Progress(TextColumn("{task.description:<10}"), BarColumn(),
                                  TaskProgressColumn(), TextColumn("{task.fields[runs]} runs"),
                                  TimeElapsedColumn(), console=console, transient=True,
                                  auto_refresh=False, disable=not console.is_terminal)
        self._tasks: dict[str, Any] = {}
        self._drawn = 0.0
        self._progress.start()
        return self._update

    def _update(self, phase: str, fraction: float, runs: int) -> None:
        task = self._tasks.get(phase)
        if task is None:
            task = self._tasks[phase] = self._progress.add_task(phase, total=1.0, runs=0)
        self._progress.update(task, completed=fraction, runs=runs)
        now = time.monotonic()
        if now - self._drawn >= self.INTERVAL or fraction >= 1.0:
            self._drawn = now
            self._progress.refresh()

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()


# ---------------------------------------------------------------------------------------------
# Rendering the plain data (no torch needed)

#: CSV columns of ``mncost profile --format csv``: one table, a ``scope`` per row (README,
#: "Profile fields"): end_to_end, instrumented_end_to_end, layers_sum, and with --per-layer
#: one ``kind`` row per layer kind and one ``layer`` row per layer.
PROFILE_CSV_COLUMNS = (
    "model", "alpha", "resolution", "classes", "device", "device_name", "torch", "threads",
    "dtype", "batch", "channels_last", "fuse_bn", "compile", "scope", "name", "kind", "macs",
    "runs", "median_ms", "mean_ms", "std_ms", "p10_ms", "p25_ms", "p75_ms", "p90_ms",
    "iqr_ms", "min_ms", "max_ms", "images_per_s", "gmacs_per_s", "mac_share", "time_share",
    "share_ratio", "vs_end_to_end")
_ENV_COLUMNS = ("device", "device_name", "torch", "threads", "dtype", "batch", "channels_last",
                "fuse_bn", "compile")


def profile_csv(data: dict[str, Any]) -> str:
    """CSV rows for every figure, each carrying the model and environment columns."""
    env = data["environment"]
    head = {"model": data["model"], "alpha": data["alpha"],
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
    return to_csv(rows, PROFILE_CSV_COLUMNS)


def _ms(value: float) -> str:
    return f"{value:.3f}"


def _opt(value: Optional[float], fmt: Callable[[float], str]) -> str:
    return "-" if value is None else fmt(value)


def _title(data: dict[str, Any]) -> str:
    return (f"{data['model']} ({data['spec']['name']}) alpha={data['alpha']:g} "
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
        ("median", f"{_ms(e['median_ms'])} ms"),
        ("mean ± std", f"{_ms(e['mean_ms'])} ± {_ms(e['std_ms'])} ms"),
        ("p10 / p90", f"{_ms(e['p10_ms'])} / {_ms(e['p90_ms'])} ms"),
        ("IQR (p75 - p25)", f"{_ms(e['iqr_ms'])} ms"),
        ("min / max", f"{_ms(e['min_ms'])} / {_ms(e['max_ms'])} ms"),
        ("timed runs", str(e["runs"])),
        ("images/s", f"{e['images_per_s']:.1f}"),
        ("MACs per image", human(data["macs"])),
        ("achieved GMAC/s", f"{e['gmacs_per_s']:.2f}"),
    ]


def _env_rows(data: dict[str, Any]) -> list[tuple[str, str]]:
    env = data["environment"]
    keys = ("torch", "device", "device_name", "threads", "interop_threads", "dtype", "batch",
            "channels_last", "fuse_bn", "compile", "warmup", "repeats", "min_time_s", "clock",
            "python", "platform")
    return [(k, str(env[k])) for k in keys if k in env] + [
        (k, str(v)) for k, v in env.items() if k not in keys and k != "mncost"]


_KIND_HEAD = ("kind", "layers", "MACs", "MAC %", "time ms", "time %", "GMAC/s", "time/MAC")
_LAYER_HEAD = ("layer", "kind", "MACs", "MAC %", "median ms", "p10-p90 ms", "time %",
               "GMAC/s", "time/MAC")


def _ratio(value: Optional[float]) -> str:
    return _opt(value, lambda v: f"{v:.2f}x")


def _kind_rows(per_layer: dict[str, Any]) -> list[tuple[str, ...]]:
    return [(k["label"], str(k["layers"]), human(k["macs"]), pct(k["mac_share"]),
             _ms(k["time_ms"]), pct(k["time_share"]),
             _opt(k["gmacs_per_s"], lambda v: f"{v:.2f}"), _ratio(k["share_ratio"]))
            for k in per_layer["by_kind"]]


def _layer_rows(per_layer: dict[str, Any]) -> list[tuple[str, ...]]:
    return [(t["name"], t["kind"], human(t["macs"]), pct(t["mac_share"]), _ms(t["median_ms"]),
             f"{_ms(t['p10_ms'])}-{_ms(t['p90_ms'])}", pct(t["time_share"]),
             _opt(t["gmacs_per_s"], lambda v: f"{v:.2f}"), _ratio(t["share_ratio"]))
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


def profile_markdown(data: dict[str, Any]) -> str:
    """Markdown: summary, per-kind and per-layer tables, environment."""
    parts = [f"## {_title(data)}\n", "\n### End to end\n",
             markdown_table(("figure", "value"), _summary_rows(data))]
    if data["per_layer"] is not None:
        parts += ["\n### By layer kind: MAC share vs time share\n",
                  markdown_table(_KIND_HEAD, _kind_rows(data["per_layer"])),
                  "\n", overhead_note(data), "\n",
                  "\n### Per layer\n",
                  markdown_table(_LAYER_HEAD, _layer_rows(data["per_layer"]), "llrrrrrrr")]
    parts += ["\n### Environment\n", markdown_table(("key", "value"), _env_rows(data), "ll")]
    return "".join(parts)


def profile_rich(console: Any, data: dict[str, Any]) -> None:
    """Print the human tables with rich (imported here: machine formats never load it)."""
    from rich.table import Table

    def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]],
              first_left: int = 1) -> Table:
        t = Table(title=title, title_justify="left", header_style="bold")
        for i, h in enumerate(headers):
            t.add_column(h, justify="left" if i < first_left else "right",
                         no_wrap=i < first_left)
        for row in rows:
            t.add_row(*row)
        return t

    console.print(table(_title(data), ("end to end", "value"), _summary_rows(data),
                        first_left=2))
    if data["per_layer"] is not None:
        per_layer = data["per_layer"]
        console.print(table("Per layer", _LAYER_HEAD, _layer_rows(per_layer), first_left=2))
        console.print(table("By layer kind: MAC share vs time share", _KIND_HEAD,
                            _kind_rows(per_layer)))
        console.print(f"[dim]{overhead_note(data)}[/dim]")
    console.print(table("Environment", ("key", "value"), _env_rows(data), first_left=2))
