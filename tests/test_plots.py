"""The plots (issue 22, item 8): the ``sweep --plot`` Pareto panel keeps the configurations
that are faster and cheaper (fewer MACs), draws each point's p10-p90 latency spread, and keeps
its labels inside the frame; the roofline plot's labels never cross its frame."""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib")

from mncost.render.sweep import plot_figure  # noqa: E402

#: Made-up configurations: (alpha, resolution, MACs, median, p10, p90 ms). The front of lower
#: latency and fewer MACs is a (1.0 ms, 300M), b (1.5 ms, 200M), d (4.0 ms, 100M), d at the
#: right edge; c is slower and costlier than b, e and f than a.
POINTS = {"a": (1.0, 224, 300_000_000, 1.0, 0.9, 1.2),
          "b": (0.75, 224, 200_000_000, 1.5, 1.4, 1.7),
          "c": (0.75, 192, 250_000_000, 2.0, 1.8, 2.4),
          "d": (0.5, 160, 100_000_000, 4.0, 3.5, 4.1),
          "e": (1.0, 256, 320_000_000, 1.1, 1.0, 1.3),
          "f": (1.4, 256, 600_000_000, 4.05, 4.0, 4.1)}


def rows() -> list[dict]:
    return [{"model": "v2", "alpha": alpha, "depth": 1.0, "resolution": (res, res),
             "macs": macs, "params": 3_000_000, "latency_ms_median": median,
             "latency_ms_p10": p10, "latency_ms_p90": p90}
            for alpha, res, macs, median, p10, p90 in POINTS.values()]


@pytest.fixture
def pareto():
    import matplotlib.pyplot as plt

    fig = plot_figure(rows(), latency=True)
    fig.canvas.draw()
    yield fig, fig.axes[3]
    plt.close(fig)


def test_the_front_is_faster_and_cheaper(pareto):
    fig, ax = pareto
    (front,) = [line for line in ax.lines if line.get_label() == "v2 Pareto front"]
    assert list(zip(front.get_xdata(), front.get_ydata())) == [
        (1.0, 300_000_000), (1.5, 200_000_000), (4.0, 100_000_000)]
    assert {t.get_text() for t in ax.texts} <= {"1/224", "0.75/224", "0.5/160"}
    assert "0.5/160" in {t.get_text() for t in ax.texts}


def test_every_point_shows_its_latency_spread(pareto):
    fig, ax = pareto
    (bars,) = ax.containers
    (segments,) = bars.lines[2]
    spans = sorted((round(x0, 6), round(x1, 6)) for (x0, _), (x1, _) in segments.get_segments())
    assert spans == sorted((p10, p90) for *_, p10, p90 in POINTS.values())


def test_labels_stay_inside_the_frame_and_apart(pareto):
    fig, ax = pareto
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    assert boxes
    for box in boxes:
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1
        assert frame.y0 <= box.y0 and box.y1 <= frame.y1
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    figure = fig.bbox
    for axes in fig.axes:
        title = axes.title.get_window_extent(renderer)
        assert figure.x0 <= title.x0 and title.x1 <= figure.x1, axes.get_title()


def test_roofline_labels_stay_off_the_plot():
    import matplotlib.pyplot as plt

    from mncost.render.roofline_plot import roofline_figure

    layers = [{"kind": kind, "intensity": intensity, "achieved_gmacs": achieved}
              for kind, intensity, achieved in (("conv", 2.5, 2.4), ("depthwise", 0.5, 0.2),
                                                ("pointwise", 1.5, 0.9), ("fc", 0.25, 7.5),
                                                ("se_fc", 0.2, 0.01))]
    data = {"model": "v3-small", "environment": {"threads": 1},
            "roofline": {"dtype": "float32", "layers": layers,
                         "device": {"source": "given", "peak_gmacs": 20.0,
                                    "bandwidth_gbs": 10.0, "ridge_macs_per_byte": 2.0}}}
    fig = roofline_figure(data)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    (ax,) = fig.axes
    legend = ax.get_legend().get_window_extent(renderer)
    frame = ax.get_window_extent(renderer)
    assert not legend.overlaps(frame)                 # beside the plot, over no point
    texts = [ax.title, ax.xaxis.label, ax.yaxis.label]
    for box in [legend] + [t.get_window_extent(renderer) for t in texts]:
        assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1
        assert fig.bbox.y0 <= box.y0 and box.y1 <= fig.bbox.y1
    plt.close(fig)
