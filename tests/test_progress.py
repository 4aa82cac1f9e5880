"""``calibrate``'s progress (issue 22, item 7): its rounds as a rich bar (count, elapsed, ETA) on
a terminal, and a few lines, not one per round, where stderr is not a terminal (a CI log).

The lines are the ones :func:`mncost.torch_backend.calibrate.measure_set` writes; the display
is :class:`mncost.cli.progress.LineProgress`, which ``mncost calibrate`` passes as its
``progress``."""

from __future__ import annotations

import io
import re

from rich.console import Console

from mncost.cli.progress import LineProgress

ROUNDS = 38


def feed(progress) -> None:
    progress("57 configurations, about 4.0 s a round: 38 rounds (eager, 1 thread)")
    for built in (10, 20, 30, 40, 50, 57):
        progress(f"built {built}/57 networks ({built} s)")
    for r in range(1, ROUNDS + 1):
        progress(f"round {r}/{ROUNDS} done ({4 * r} s of 180 s)")
    progress("per-layer profiles (one profiling session per configuration)")


def test_a_log_gets_sparse_lines():
    buffer = io.StringIO()
    with LineProgress(Console(file=buffer, force_terminal=False, width=100)) as progress:
        feed(progress)
    lines = buffer.getvalue().splitlines()
    rounds = [line for line in lines if " done (" in line]
    assert rounds[0] == "mncost: round 1/38 done (4 s of 180 s)"
    assert rounds[-1] == "mncost: round 38/38 done (152 s of 180 s)"
    assert len(rounds) <= 6                       # the first, one per quarter, the last
    assert lines[0].startswith("mncost: 57 configurations")
    assert lines[-1] == "mncost: per-layer profiles (one profiling session per configuration)"
    assert len(lines) <= 14


def test_a_terminal_gets_a_bar_with_the_count_and_eta():
    buffer = io.StringIO()
    with LineProgress(Console(file=buffer, force_terminal=True, width=100,
                              color_system=None)) as progress:
        feed(progress)
    text = buffer.getvalue()
    assert "round 7/38 done" not in text              # no line per round
    assert re.search(r"round +━+ 38/38 \d:\d\d:\d\d ETA", text)
    assert "mncost: per-layer profiles" in text        # other lines still shown
    assert "57/57" in text


def test_calibrate_writes_sparse_rounds_to_a_log(tmp_path, monkeypatch):
    """``mncost calibrate`` with a stand-in for the measuring (no torch) that reports 38
    rounds: stderr, not a terminal here, gets a handful of lines."""
    import sys
    import types

    from click.testing import CliRunner

    from mncost.cli import cli

    def calibrate(progress, **options):
        feed(progress)
        error = {"within_10pct": 0.9, "median_abs_error": 0.03}
        return {"training": [{}] * 57, "measurement": {
                    "rounds": ROUNDS, "unstable": 0, "statistic": "quiet (p5)",
                    "noise": {"median_over_quiet": {"median": 1.1, "p90": 1.2}}},
                "fit": {"training_error": error, "macs_baseline_error": error}}

    module = types.ModuleType("mncost.torch_backend.calibrate")
    module.calibrate = calibrate
    monkeypatch.setitem(sys.modules, "mncost.torch_backend.calibrate", module)
    result = CliRunner().invoke(cli, ["calibrate", "-o", str(tmp_path / "device.json")])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert sum(" done (" in line for line in lines) <= 6
    assert "mncost: round 38/38 done (152 s of 180 s)" in lines
    assert lines[-1].startswith(f"wrote {tmp_path / 'device.json'}: 57 configurations")
