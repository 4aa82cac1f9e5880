"""The measuring options of ``sweep``, ``baseline write`` and ``check`` apply only with
``--latency``: given without it they are refused, not silently ignored; ``--latency``'s thread
count defaults to 1, as ``profile`` and ``calibrate``."""

from __future__ import annotations

import pytest
from _helpers import run

from mncost.cli.common import profiler_options


@pytest.mark.parametrize("args, flags", [
    (["sweep", "v2", "--alpha", "0.5", "--threads", "1"], "--threads applies"),
    (["sweep", "v2", "--batch", "2", "--min-time", "0.1"], "--batch, --min-time apply"),
    (["baseline", "write", "v2", "--repeats", "5", "-o", "-"], "--repeats applies"),
    (["check", "--baseline", "x.json", "--device", "cpu"], "--device applies"),
])
def test_latency_only_options_without_latency_are_refused(args, flags):
    result = run(*args)
    assert result.exit_code == 2
    assert f"mncost: error: {flags} only with --latency" in result.stderr


def test_latency_threads_default_to_one():
    assert profiler_options("cpu", None, 1, None, None, None).threads == 1
    assert profiler_options("cpu", 2, 1, None, None, None).threads == 2
