"""Which convs eager PyTorch runs through oneDNN on padded blocks: probed, not assumed.

``mncost calibrate --runtime eager`` runs single convs (:data:`mncost.latency.model.
ONEDNN_PROBES`) in a child process with oneDNN's verbose log on (``ONEDNN_VERBOSE=1``, read
when oneDNN first runs, so it must be set before the child starts), reads from the log which
convs oneDNN executed and whether their tensors were padded to whole blocks (the ``p`` flag
of a memory descriptor: ``src:f32:ap:blocked:aBcd16b``), and keeps the
:class:`mncost.latency.model.OneDnnPaths` that explains every probe
(:func:`mncost.latency.model.infer_onednn`). A conv missing from the log ran in PyTorch's own
kernel. The child is a process of its own so that the log, written by oneDNN to file
descriptor 1, never mixes with mncost's output.

Run as ``python -m mncost.torch_backend.onednn_probe THREADS [CONVS]``: the probes (or the
convs of the JSON list ``CONVS``, each ``[cin, cout, groups, kernel, stride]``) at that thread
count (what the calibration measures at), the log on stdout.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from typing import Iterable

from ..latency.model import ONEDNN_PROBE_SIZE, ONEDNN_PROBES, OneDnnPaths, infer_onednn

#: A conv's problem in the log: ``g24mb1_ic24oc24_ih96oh96kh3sh1...`` (no ``g`` for groups 1).
_PROBLEM = re.compile(r"\b(?:g(\d+))?mb\d+_ic(\d+)oc(\d+)_ih(\d+)oh\d+kh(\d+)sh(\d+)")
#: A memory descriptor: ``src:f32:ap:blocked:...`` (oneDNN 3), ``src_f32:p:blocked:...`` (2).
_TENSOR = re.compile(r"\b(src|wei|dst)[_:]\w+?:(\w*):blocked")
#: Seconds the child may take (importing torch, about 40 convs).
TIMEOUT_S = 120

#: ``(cin, cout, groups, kernel, stride)``, and optionally the input map's side (else
#: :data:`mncost.latency.model.ONEDNN_PROBE_SIZE`).
Conv = tuple[int, ...]


def _sized(conv: Conv) -> tuple[int, ...]:
    return tuple(conv) if len(conv) == 6 else (*conv, ONEDNN_PROBE_SIZE)


def executed_convs(log: Iterable[str]) -> dict[tuple[int, ...], bool]:
    """``(cin, cout, groups, kernel, stride, input side)`` -> whether it ran on padded
    blocks, for every conv oneDNN's verbose ``log`` shows executed."""
    found: dict[tuple[int, ...], bool] = {}
    for line in log:
        fields = line.split(",")
        if "exec" not in fields or "convolution" not in fields:
            continue
        problem = _PROBLEM.search(line)
        if problem is None:
            continue
        groups, cin, cout, side, kernel, stride = problem.groups()
        conv = (int(cin), int(cout), int(groups or 1), int(kernel), int(stride), int(side))
        padded = any("p" in flags for _, flags in _TENSOR.findall(line))
        found[conv] = found.get(conv, False) or padded
    return found


def observations(log: Iterable[str], convs: Iterable[Conv] = ONEDNN_PROBES
                 ) -> list[tuple[int, int, int, int, int, bool, bool]]:
    """Each of ``convs`` with whether it ran through oneDNN and on padded blocks (the input
    of :func:`mncost.latency.model.infer_onednn`)."""
    found = executed_convs(log)
    return [(*conv[:5], _sized(conv) in found, found.get(_sized(conv), False))
            for conv in convs]


def run_probes(threads: int, convs: Iterable[Conv] = ONEDNN_PROBES) -> str:
    """oneDNN's verbose log of ``convs`` (the probes), run in a child at ``threads`` threads.

    Raises:
        RuntimeError: the child failed or timed out (its last line of stderr).
    """
    env = {**os.environ, "ONEDNN_VERBOSE": "1", "DNNL_VERBOSE": "1"}
    command = [sys.executable, "-m", __name__, str(threads), json.dumps(list(convs))]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True,
                              timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"the probes took over {TIMEOUT_S} s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeError(f"the probe process failed ({last})")
    return done.stdout


@functools.lru_cache(maxsize=None)
def probe_onednn(threads: int) -> tuple[OneDnnPaths | None, tuple[tuple, ...]]:
    """The rule that explains the probes at ``threads`` threads (``None`` if none does, or no
    conv ran through oneDNN) and the observations it was inferred from; probed once per
    process and thread count (the installed PyTorch does not change)."""
    observed = tuple(observations(run_probes(threads).splitlines()))
    return infer_onednn(observed), observed


def _main(threads: int, convs: Iterable[Conv]) -> None:
    import torch

    torch.set_num_threads(threads)
    with torch.inference_mode():
        for cin, cout, groups, kernel, stride, side in map(_sized, convs):
            conv = torch.nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups).eval()
            x = torch.zeros(1, cin, side, side)
            conv(x)
            conv(x)
    sys.stdout.flush()


if __name__ == "__main__":
    _main(int(sys.argv[1]), json.loads(sys.argv[2]) if len(sys.argv) > 2 else ONEDNN_PROBES)
