"""Predicted latency from a device profile: one configuration (``mncost predict``), many
(``sweep --predict``) and budgets (``check``). Pure Python: no numpy, no torch.

A sweep does not resolve every configuration. As in :mod:`mncost.sweep`, a layer's features
split into a part fixed by alpha (channels, kernel, parameters) and a part fixed by the
resolution (input and output pixels): MACs are output pixels x work per pixel, bytes are input
pixels x input channels + output pixels x output channels + parameters. So each alpha is
resolved once, each resolution once, and a configuration is two dot products. The split is
checked once per alpha layout and resolution against the full prediction of that
configuration; where it does not hold the model falls back to resolving every configuration.
"""

from __future__ import annotations

import math
import platform
from typing import Any, Iterable, Iterator, Mapping

from ..costs.analytic import REGISTRY
from ..measure.timing import cpu_name
from ..network.layers import Network, spatial_key
from ..network.resolve import check_resolution, resolve
from ..spec.load import Spec
from .device_profile import DeviceProfile
from .model import LatencyModel, Prediction, layer_elements

PREDICTION_SCHEMA = "mncost.prediction/1"


def environment_warnings(device: DeviceProfile) -> list[str]:
    """How this machine differs from the one the profile was calibrated on."""
    import os

    env, notes = device.environment, []
    if (device.data.get("measurement") or {}).get("fitted_unstable"):
        notes.append(f"{device.path} was fitted on unstable measurements (a busy machine, "
                     "--allow-unstable): expect large errors; calibrate again on a quiet one")
    here = {"device_name": cpu_name(), "cpu_count": os.cpu_count(),
            "machine": platform.machine()}
    for key, value in here.items():
        if key in env and env[key] != value:
            notes.append(f"{device.path} was calibrated on {key} {env[key]!r}, this machine "
                         f"has {value!r}: predictions are for that machine")
    return notes


# ---------------------------------------------------------------------------------------------
# One configuration


def prediction_dict(model: str, network: Network, device: DeviceProfile,
                    prediction: Prediction, warnings: list[str]) -> dict[str, Any]:
    """The JSON document of ``mncost predict`` (README, "Predicted latency")."""
    total = prediction.layers_ms
    kinds_macs: dict[str, int] = {}
    kinds_layers: dict[str, int] = {}
    for p in prediction.layers:
        kinds_macs[p.kind] = kinds_macs.get(p.kind, 0) + p.macs
        kinds_layers[p.kind] = kinds_layers.get(p.kind, 0) + 1

    def share(ms: float) -> float:
        return ms / total if total else 0.0

    return {
        "schema": PREDICTION_SCHEMA, "model": model,
        "spec": {"name": network.spec_name, "file": network.spec_file},
        "alpha": network.alpha, "resolution": list(network.resolution),
        "classes": network.classes,
        "device": {"file": device.path, "runtime": device.runtime, "threads": device.threads,
                   "device_name": device.environment.get("device_name"),
                   "created": device.data.get("created")},
        "predicted_ms": prediction.total_ms, "layers_ms": prediction.layers_ms,
        "between_layers_ms": prediction.between_ms, "fixed_ms": prediction.fixed_ms,
        "by_kind": [{"kind": k, "label": REGISTRY[k].label, "layers": kinds_layers[k],
                     "macs": kinds_macs[k], "ms": ms, "share": share(ms)}
                    for k, ms in prediction.by("kind").items()],
        "by_stage": [{"stage": s, "ms": ms, "share": share(ms)}
                     for s, ms in prediction.by("stage").items()],
        "layers": [{"name": p.name, "kind": p.kind, "variant": p.kernel, "stage": p.stage,
                    "macs": p.macs,
                    "bytes": p.bytes, "ms": p.ms, "share": share(p.ms)}
                   for p in prediction.layers],
        "warnings": warnings,
    }


def predict_network(model: str, network: Network, device: DeviceProfile
                    ) -> dict[str, Any]:
    """Predict ``network`` with ``device`` and lay it out with its warnings."""
    warnings = environment_warnings(device) + device.outside(network)
    return prediction_dict(model, network, device, device.model.predict(network), warnings)


# ---------------------------------------------------------------------------------------------
# Many configurations (``sweep --predict``)


def _layout(network: Network) -> tuple:
    return tuple(map(spatial_key, network.layers))


class _AlphaPart:
    """Coefficients of one alpha: ms per output pixel, per input pixel, and a constant."""

    def __init__(self, network: Network, model: LatencyModel) -> None:
        self.network = network
        self.layout = _layout(network)
        self.per_out: list[float] = []
        self.per_in: list[float] = []
        const = model.fixed_ms + model.between_ms * len(network.layers)
        d = model.dtype_bytes
        self.ok = True
        for layer in network.layers:
            a, b, c = model.coefficients(layer)
            p, q = model.activations.get(layer.act, (0.0, 0.0))
            pixels = layer.out_shape.h * layer.out_shape.w
            work, rest = divmod(model.features(layer)[0], pixels)
            if rest:
                self.ok = False
            read, _, weights = layer_elements(layer)
            # Reads: in_c x input pixels (two maps for an add), plus a C x 1 x 1 gate for an SE
            # scale; writes: out_c x output pixels (the activation reads and writes them once
            # more); weights: fixed by alpha. Channels as the kernel computes them (padded to
            # whole blocks for a blocked conv).
            cin, cout = model.effective_channels(layer)
            maps = REGISTRY[layer.kind].input_maps
            gate = REGISTRY[layer.kind].side_input(layer)
            self.per_out.append(a * work + (b + p) * d * cout)
            self.per_in.append(b * d * maps * cin)
            const += b * d * (weights + gate) + c * model.calls(layer) + q
        self.const = const


class SweepPredictor:
    """Predicted ms for sweep rows (``model``, ``alpha``, ``depth``, ``resolution``,
    ``classes``)."""

    def __init__(self, device: DeviceProfile, specs: Mapping[str, Spec]) -> None:
        self.device = device
        self.model = device.model
        self.specs = specs
        self._alphas: dict[tuple, _AlphaPart] = {}
        self._pixels: dict[tuple, tuple[list[int], list[int]]] = {}
        self._slow: set[str] = set()
        #: Rows predicted so far, and how many lay outside the calibrated alpha / resolution.
        self.count = 0
        self.outside = 0

    def predict(self, model: str, alpha: float, resolution: tuple[int, int],
                classes: int | None, depth: float | None = None) -> float:
        spec = self.specs[model]
        if model in self._slow:
            return self.model.predict(resolve(spec, alpha, resolution, classes, depth)).total_ms
        key = (model, alpha, depth, classes)
        part = self._alphas.get(key)
        if part is None:
            part = self._alphas[key] = _AlphaPart(resolve(spec, alpha, None, classes, depth),
                                                  self.model)
        pkey = (model, part.layout, classes, resolution)
        pixels = self._pixels.get(pkey)
        if pixels is None:
            full = resolve(spec, alpha, resolution, classes, depth)
            if not part.ok or _layout(full) != part.layout:
                self._slow.add(model)
                return self.model.predict(full).total_ms
            pixels = self._pixels[pkey] = (
                [l.out_shape.h * l.out_shape.w for l in full.layers],
                [l.in_shape.h * l.in_shape.w for l in full.layers])
            split = _dot(part, pixels)
            exact = self.model.predict(full).total_ms
            if not math.isclose(split, exact, rel_tol=1e-9, abs_tol=1e-12):
                self._slow.add(model)
            return exact
        return _dot(part, pixels)

    def rows(self, rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Each row with :data:`mncost.sweep.PREDICTED_COLUMNS` added (``predicted_ms`` to 4
        decimals)."""
        cov = self.device.coverage
        (alo, ahi), (rlo, rhi) = cov["alpha"], cov["resolution"]
        for row in rows:
            resolution = check_resolution(row["resolution"])
            ms = self.predict(row["model"], row["alpha"], resolution, row["classes"],
                              row.get("depth"))
            self.count += 1
            if not (alo <= row["alpha"] <= ahi and rlo <= min(resolution)
                    and max(resolution) <= rhi):
                self.outside += 1
            yield {**row, "predicted_ms": round(ms, 4),
                   "predicted_runtime": self.device.runtime,
                   "predicted_threads": self.device.threads}


def outside_note(predictor: SweepPredictor) -> str | None:
    """One line when some predicted rows lay outside the calibrated alpha and resolution."""
    if not predictor.outside:
        return None
    cov = predictor.device.coverage
    return (f"{predictor.outside:,} of {predictor.count:,} configurations lie outside the "
            f"calibrated alpha {cov['alpha'][0]:g}-{cov['alpha'][1]:g} and resolution "
            f"{cov['resolution'][0]}-{cov['resolution'][1]}: their predictions extrapolate")


def _dot(part: _AlphaPart, pixels: tuple[list[int], list[int]]) -> float:
    out_pixels, in_pixels = pixels
    return (math.fsum(map(float.__mul__, part.per_out, map(float, out_pixels)))
            + math.fsum(map(float.__mul__, part.per_in, map(float, in_pixels))) + part.const)
