"""The roofline plot (matplotlib, imported only here): log-log, arithmetic intensity (MACs per
byte moved) against achieved GMAC/s, one point per MAC layer coloured by kind, with the
memory roof (bandwidth x intensity) and the compute roof (peak) drawn."""

from __future__ import annotations

import io
from typing import Any

from ..files.outputfile import write_atomic


def roofline_png(data: dict[str, Any]) -> bytes:
    """A PNG of :func:`roofline_figure`."""
    import matplotlib.pyplot as plt

    fig = roofline_figure(data)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def roofline_figure(data: dict[str, Any]) -> Any:
    """The figure of ``profile`` data joined with a roofline
    (:func:`mncost.costs.roofline.join_profile`). MAC-free layers (pool, add, scale) have intensity
    0 and are left out of a log axis. The legend (kinds and both roofs) stands beside the
    plot, so no label covers a point or crosses the frame."""
    try:
        import matplotlib
    except ImportError:
        from ..errors import MissingDependency
        raise MissingDependency("matplotlib", "plot") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    roof = data["roofline"]
    device = roof["device"]
    points = [r for r in roof["layers"] if r["intensity"] > 0 and r["achieved_gmacs"]]
    fig, ax = plt.subplots(figsize=(9.5, 5))
    kinds = list(dict.fromkeys(r["kind"] for r in points))
    colors = plt.get_cmap("tab10")
    for i, kind in enumerate(kinds):
        mine = [r for r in points if r["kind"] == kind]
        ax.scatter([r["intensity"] for r in mine], [r["achieved_gmacs"] for r in mine],
                   s=28, color=colors(i), label=f"{kind} ({len(mine)})", zorder=3)
    lo = min([r["intensity"] for r in points] + [device["ridge_macs_per_byte"]]) / 2
    hi = max([r["intensity"] for r in points] + [device["ridge_macs_per_byte"]]) * 2
    ridge = device["ridge_macs_per_byte"]
    ax.plot([lo, ridge], [device["bandwidth_gbs"] * lo, device["peak_gmacs"]], color="black",
            lw=1.5, label=f"memory roof {device['bandwidth_gbs']:.1f} GB/s")
    ax.plot([ridge, hi], [device["peak_gmacs"]] * 2, color="black", lw=1.5, ls="--",
            label=f"compute roof {device['peak_gmacs']:.1f} GMAC/s")
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    for axis in (ax.xaxis, ax.yaxis):
        # Ticks at 1, 2, 5 x 10^k, printed as plain numbers (0.2, 5, 50), no 6x10^1.
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("arithmetic intensity, MACs per byte moved (compulsory traffic)")
    ax.set_ylabel("achieved GMAC/s (analytic MACs / measured median)")
    env = data.get("environment", {})
    ax.set_title(f"{data['model']} roofline ({device['source']}; "
                 f"{env.get('threads', '?')} thread(s), {roof['dtype']})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
    fig.tight_layout()
    return fig


def roofline_plot(data: dict[str, Any], path: str) -> None:
    write_atomic(path, roofline_png(data))
