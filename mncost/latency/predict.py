"""Predicted latency from a device profile: one configuration (``mncost predict``), many
(``sweep --predict``) and budgets (``check``). Pure Python: no numpy, no torch.

**A prediction is a time or an error.** Every one goes through :func:`predicted` (or, in a
sweep, :func:`check_ms`): a total that is not finite and above 0 ms (coefficients so large
they overflow, a profile whose terms cancel to nothing) is an :class:`InputError` naming the
profile and the configuration, never a number that passes a budget. No layer is predicted
below 0 ms (:meth:`mncost.latency.model.LatencyModel.predict`).

**Warnings** come from one place, :func:`prediction_notes`: the profile's own
(:func:`machine_notes`: fitted on unstable measurements, calibrated on another machine) and the
configuration's (:meth:`mncost.latency.device_profile.DeviceProfile.notes`: outside the
calibrated alpha, resolution or MACs, kinds predicted as 0 ms, plain kernels; and layers the
time between layers clamped to 0 ms). ``predict`` shows them all, ``check`` each once
(:class:`BudgetPredictor`), a predicted sweep the profile's once and the configurations'
counted by topic (:meth:`SweepPredictor.warnings`).

A sweep does not resolve every configuration: it shares the alpha x resolution split of
:mod:`mncost.sweep.split`. A layer's features split into a part fixed by alpha (channels,
kernel, parameters) and a part fixed by the resolution (input and output pixels): MACs are
output pixels x work per pixel, bytes are input pixels x input channels + output pixels x
output channels + parameters. So each alpha is resolved once, each resolution once per
layout, and a configuration is two dot products. The split is checked once per layout and
resolution against the full prediction of that configuration; where it does not hold that
configuration is resolved whole. So is one where a layer's kernel depends on its input map's
size and that size puts it on another kernel than in the alpha's own network (eager PyTorch
keeps small convs from oneDNN, :meth:`mncost.latency.model.OneDnnPaths.small_input_limit`):
the check at one alpha says nothing of another's kernels.
"""

from __future__ import annotations

import functools
import math
import operator
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping, Sequence

from ..costs.analytic import REGISTRY
from ..costs.int8 import conversions
from ..costs.schema import resolution_str
from ..errors import InputError
from ..measure.environment import Host
from ..network.layers import INPUT, Network
from ..network.resolve import check_resolution
from ..spec.load import Spec
from ..sweep.split import Split, pixels
from .device_profile import DeviceProfile, Note
from .model import (
    LatencyModel,
    Prediction,
    layer_elements,
    round_up,
    run_footprint,
    uncached_share,
)

PREDICTION_SCHEMA = "mncost.prediction/1"
#: Note topics that belong to the profile, not to a configuration: shown once.
MACHINE_TOPICS = ("unstable", "machine")


# ---------------------------------------------------------------------------------------------
# Warnings and errors


def machine_notes(device: DeviceProfile) -> list[Note]:
    """How the profile was fitted and how this machine differs from the one it was
    calibrated on."""
    notes = []
    if device.fitted_unstable:
        notes.append(Note("unstable", f"{device.path} was fitted on unstable measurements (a "
                                      "busy machine, --allow-unstable): expect large errors; "
                                      "calibrate again on a quiet one"))
    if device.published is not None:
        # Fitted on a phone's published figures, not on any machine: no host to compare.
        env = device.environment
        notes.append(Note("machine", f"{device.path} is fitted on the latencies published for "
                                     f"{env.get('device_name', device.published)} "
                                     f"({env.get('runtime', device.runtime)}, "
                                     f"{device.threads} thread): predictions are for that "
                                     "device, not this machine"))
        return notes
    for key, recorded, here in _this_host().differences(device.environment):
        notes.append(Note("machine", f"{device.path} was calibrated on {key} {recorded!r}, "
                                     f"this machine has {here!r}: predictions are for that "
                                     "machine"))
    return notes


@functools.cache
def _this_host() -> Host:
    """This machine, read once (``check`` predicts a budget file's every entry)."""
    return Host.here()


def clamp_notes(device: DeviceProfile, clamped: int, layers: int) -> list[Note]:
    """Layers whose time the (negative) time between layers took below 0 ms."""
    if not clamped:
        return []
    return [Note("clamped", f"{clamped:,} of {layers:,} layers would take less than 0 ms with "
                            f"the time between layers ({device.model.between_ms:g} ms each): "
                            "counted as 0 ms")]


def prediction_notes(device: DeviceProfile, network: Network,
                     prediction: Prediction) -> list[Note]:
    """Every warning about predicting ``network`` with ``device`` (module docstring)."""
    return (machine_notes(device) + device.notes(network)
            + clamp_notes(device, prediction.clamped, len(prediction.layers)))


def label(network: Network) -> str:
    """``v2 0.6/176``: a configuration in warnings and errors."""
    return f"{network.spec_name} {network.alpha:g}/{resolution_str(network.resolution)}"


def check_ms(device: DeviceProfile, ms: float, what: str) -> float:
    """``ms``, a predicted total, if it is finite and above 0.

    Raises:
        InputError: otherwise (exit 2 on the CLI), naming the profile and ``what``.
    """
    if not (math.isfinite(ms) and ms > 0):
        raise InputError(f"{device.path}: the fitted model predicts {ms:g} ms for {what}: a "
                         "latency must be finite and above 0 ms (are its coefficients sane?)")
    return ms


def predicted(device: DeviceProfile, network: Network) -> Prediction:
    """``device``'s prediction of ``network``, its total checked (:func:`check_ms`)."""
    prediction = device.model.predict(network)
    check_ms(device, prediction.total_ms, label(network))
    return prediction


# ---------------------------------------------------------------------------------------------
# One configuration


@dataclass(frozen=True)
class NetworkPrediction:
    """What ``mncost predict`` reports: the prediction, what it was made with, and its
    warnings (JSON shape: :meth:`to_dict`)."""

    model: str
    network: Network
    device: DeviceProfile
    prediction: Prediction
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``mncost predict`` (docs/latency.md, "Predicted latency")."""
        network, device, prediction = self.network, self.device, self.prediction
        total = prediction.layers_ms
        kinds_macs: dict[str, int] = {}
        kinds_layers: dict[str, int] = {}
        for p in prediction.layers:
            kinds_macs[p.kind] = kinds_macs.get(p.kind, 0) + p.macs
            kinds_layers[p.kind] = kinds_layers.get(p.kind, 0) + 1

        def share(ms: float) -> float:
            return ms / total if total else 0.0

        return {
            "schema": PREDICTION_SCHEMA, "model": self.model,
            "spec": {"name": network.spec_name, "file": network.spec_file},
            "alpha": network.alpha, "resolution": list(network.resolution),
            "classes": network.classes,
            "device": {"file": device.path, "runtime": device.runtime,
                       "threads": device.threads, "precision": device.model.precision,
                       "device_name": device.environment.get("device_name"),
                       "created": device.created},
            "statistic": device.statistic,
            "predicted_ms": prediction.total_ms, "under_noise": self.under_noise(),
            "layers_ms": prediction.layers_ms,
            "between_layers_ms": prediction.between_ms, "fixed_ms": prediction.fixed_ms,
            **({"uncached_weights": {
                "cache_bytes": device.model.cache_bytes,
                "footprint_bytes": run_footprint(network, device.model.dtype_bytes),
                "share": prediction.uncached_share, "ms": prediction.uncached_ms}}
               if device.model.cache_bytes else {}),
            "by_kind": [{"kind": k, "label": REGISTRY[k].label, "layers": kinds_layers[k],
                         "macs": kinds_macs[k], "ms": ms, "share": share(ms)}
                        for k, ms in prediction.by("kind").items()],
            "by_stage": [{"stage": s, "ms": ms, "share": share(ms)}
                         for s, ms in prediction.by("stage").items()],
            "layers": [{"name": p.name, "kind": p.kind, "variant": p.kernel, "stage": p.stage,
                        "macs": p.macs,
                        "bytes": p.bytes, "ms": p.ms, "share": share(p.ms)}
                       for p in prediction.layers],
            "warnings": list(self.warnings),
        }


    def under_noise(self) -> dict[str, float] | None:
        """The median a run reads under the noise the calibration saw: the predicted quiet
        time times the calibration's ``median / quiet`` ratio (its median, and its p90 for
        a noisier configuration); ``None`` for a profile that recorded no noise."""
        if self.device.noise is None:
            return None
        median, p90 = self.device.noise
        total = self.prediction.total_ms
        return {"median_ms": total * median, "p90_ms": total * p90,
                "median_over_quiet": median, "p90_over_quiet": p90}


def predict_network(model: str, network: Network, device: DeviceProfile) -> NetworkPrediction:
    """Predict ``network`` with ``device``, with its warnings.

    Raises:
        InputError: a prediction that is not a time (:func:`check_ms`).
    """
    prediction = predicted(device, network)
    warnings = tuple(n.text for n in prediction_notes(device, network, prediction))
    return NetworkPrediction(model, network, device, prediction, warnings)


# ---------------------------------------------------------------------------------------------
# Budgets (``check --predict``)


class BudgetPredictor:
    """``network -> predicted ms`` for ``check``'s budgets, gathering the warnings predict
    gives: the profile's once, each configuration's once and prefixed with it
    (:attr:`warnings`, in order)."""

    def __init__(self, device: DeviceProfile) -> None:
        self.device = device
        self.warnings: list[str] = []

    def __call__(self, network: Network) -> float:
        prediction = predicted(self.device, network)
        for note in prediction_notes(self.device, network, prediction):
            line = note.text if note.topic in MACHINE_TOPICS else f"{label(network)}: {note.text}"
            if line not in self.warnings:
                self.warnings.append(line)
        return prediction.total_ms


# ---------------------------------------------------------------------------------------------
# Many configurations (``sweep --predict``)


def conversion_terms(network: Network, model: LatencyModel
                     ) -> list[tuple[float, float, float]] | None:
    """Per layer of ``network``, the ms its Quantize and Dequantize copies add
    (:meth:`LatencyModel.conversions`) per output pixel, per input pixel and once: a copy of
    a map at the layer's input resolution counts per input pixel, of its own output per
    output pixel, of a 1 x 1 map (a squeeze-excite gate) once. ``[]`` for a model without the
    term; ``None`` where a copy is of another map (the sweep then resolves each configuration
    whole)."""
    rate = model.ms_per_converted_element
    if not rate or model.precision != "int8":
        return []
    pairs = conversions(network)
    pixels = {INPUT: network.input_shape.h * network.input_shape.w}
    pixels.update((la.name, la.out_shape.h * la.out_shape.w) for la in network.layers)
    terms = []
    for layer in network.layers:
        out_px, in_px = pixels[layer.name], layer.in_shape.h * layer.in_shape.w
        per_out = per_in = once = 0.0
        for source, n in pairs.get(layer.name, ()):
            if source == layer.name:
                per_out += rate * n / out_px
            elif pixels[source] == in_px:
                per_in += rate * n / in_px
            elif pixels[source] == 1:
                once += rate * n
            else:
                return None
        terms.append((per_out, per_in, once))
    return terms


class _AlphaPart:
    """One alpha of a predicted sweep: each layer's ms per output pixel, per input pixel and
    its constant; the run's footprint (:func:`mncost.latency.model.run_footprint`) as its
    weight bytes plus output bytes per output pixel, for the uncached-weights term; the notes
    on its kinds and kernels, which no resolution changes."""

    def __init__(self, network: Network, device: DeviceProfile) -> None:
        model = device.model
        self.network = network
        self.per_out: list[float] = []
        self.per_in: list[float] = []
        self.per_layer: list[float] = []
        runs = model.runs(network) or {}
        #: The time between layers after each layer (:meth:`LatencyModel.between`).
        self.between = [model.between(runs.get(layer.name)) for layer in network.layers]
        const = model.fixed_ms + math.fsum(self.between)
        d = model.dtype_bytes
        self.ok = True
        #: The uncached-weights term: its rate, capacity, each layer's weight bytes and output
        #: bytes per output pixel (the footprint is their sum over a run).
        self.rate, self.capacity = model.ms_per_uncached_byte, model.cache_bytes
        self.weights = [d * layer_elements(layer)[2] for layer in network.layers]
        self.out_bytes = [d * layer.out_shape.c for layer in network.layers]
        #: Layers whose kernel computes whole blocks of output pixels (MLAS's symmetric int8
        #: kernels, :meth:`mncost.latency.model.Int8ConvPaths.row_block`): ``(index, block,
        #: ms per computed pixel)``, their MACs' time apart from :attr:`per_out`.
        self.rows: list[tuple[int, int, float]] = []
        converted = conversion_terms(network, model)
        if converted is None:
            self.ok = False
        for i, layer in enumerate(network.layers):
            run = runs.get(layer.name)
            a, b, c, w = model.coefficients(layer, run)
            p, q = model.activations.get(layer.act, (0.0, 0.0))
            pixels = layer.out_shape.h * layer.out_shape.w
            block = model.row_block(layer, run)
            work, rest = divmod(model.features(layer, run)[0], round_up(pixels, block))
            if rest:
                self.ok = False
            if block > 1:
                self.rows.append((i, block, a * work))
                work = 0
            _, _, weights = layer_elements(layer)
            # Reads: in_c x input pixels (two maps for an add), plus a C x 1 x 1 gate for an SE
            # scale (an attention's keys and values change with the resolution: the check of
            # the split finds it); writes: out_c x output pixels (the activation reads and
            # writes them once more); weights: fixed by alpha. Channels as the kernel
            # computes them (padded to whole blocks for a blocked conv).
            cin, cout = model.effective_channels(layer)
            maps = REGISTRY[layer.kind].input_maps
            gate = REGISTRY[layer.kind].side_input(layer)
            per_out, per_in, once = converted[i] if converted else (0.0, 0.0, 0.0)
            self.per_out.append(a * work + (b + p) * d * cout + per_out)
            self.per_in.append(b * d * maps * cin + per_in)
            fixed = (b * d * gate + w * d * weights + c * model.calls(layer, run) + q + once)
            self.per_layer.append(fixed)
            const += fixed
        self.const = const
        # Layers the time between layers may take below 0 ms at some resolution (their time
        # is least at one pixel): checked one by one, the others added as they are.
        row_ms = {i: ms * block for i, block, ms in self.rows}
        self.low = [i for i, (o, n, f, g) in enumerate(zip(self.per_out, self.per_in,
                                                           self.per_layer, self.between))
                    if o + n + f + g + row_ms.get(i, 0.0) < 0]
        self.layer_notes = [n for n in device.notes(network) if n.topic in ("kinds", "kernels")]
        #: Layers whose kernel the size of their input map decides (eager PyTorch keeps a
        #: small conv from oneDNN, :meth:`mncost.latency.model.OneDnnPaths.small_input_limit`):
        #: ``(index, limit in input pixels, whether this alpha's layer is at or below it)``.
        limits = [(i, model.small_input_limit(layer), layer)
                  for i, layer in enumerate(network.layers)]
        self.size_decides = [(i, limit, layer.in_shape.h * layer.in_shape.w <= limit)
                             for i, limit, layer in limits if limit is not None]

    def same_kernels(self, in_pixels: Sequence[int]) -> bool:
        """Whether every layer at ``in_pixels`` input pixels runs the kernel it runs in this
        alpha's network (:attr:`size_decides`)."""
        return all((in_pixels[i] <= limit) == small for i, limit, small in self.size_decides)

    def total(self, pixels: tuple[Sequence[int], Sequence[int]]) -> tuple[float, int]:
        """Predicted ms at ``(output pixels, input pixels)`` and the layers clamped to 0 ms
        (the rule of :meth:`LatencyModel.predict`)."""
        out_pixels, in_pixels = pixels
        rows = {i: ms * round_up(out_pixels[i], block) for i, block, ms in self.rows}
        ms = (math.fsum(map(operator.mul, self.per_out, map(float, out_pixels)))
              + math.fsum(map(operator.mul, self.per_in, map(float, in_pixels)))
              + math.fsum(rows.values()) + self.const)
        share = 0.0
        if self.rate and self.capacity:
            footprint = sum(self.weights) + sum(map(operator.mul, self.out_bytes, out_pixels))
            share = uncached_share(footprint, self.capacity)
            ms += self.rate * share * math.fsum(self.weights)
        clamped = 0
        for i in self.low:
            t = self.per_out[i] * out_pixels[i] + self.per_in[i] * in_pixels[i] \
                + self.per_layer[i] + self.rate * share * self.weights[i] + rows.get(i, 0.0)
            if t + self.between[i] < 0:
                ms -= t + self.between[i]
                clamped += 1
        return ms, clamped


class SweepPredictor:
    """Predicted ms for sweep rows (``model``, ``alpha``, ``depth``, ``resolution``,
    ``classes``), by the split of :mod:`mncost.sweep.split` where it holds."""

    def __init__(self, device: DeviceProfile, specs: Mapping[str, Spec]) -> None:
        self.device = device
        self.model: LatencyModel = device.model
        self.specs = specs
        self._splits: dict[tuple, Split] = {}
        self._alphas: dict[tuple, _AlphaPart] = {}
        #: Rows predicted so far; configurations predicted by resolving them whole.
        self.count = 0
        self.slow = 0
        #: Rows per note topic, and the kinds and kernels the notes named.
        self.topics: dict[str, int] = {}
        self.items: dict[str, dict[str, None]] = {}

    def _split(self, model: str, classes: int | None) -> Split:
        key = (model, classes)
        if key not in self._splits:
            self._splits[key] = Split(self.specs[model], classes, in_pixels=True)
        return self._splits[key]

    def configuration(self, model: str, alpha: float, resolution: tuple[int, int],
                      classes: int | None, depth: float | None = None
                      ) -> tuple[float, Network, list[Note], int]:
        """Predicted ms (unchecked), the network its layers were taken from (the alpha's,
        or the configuration's where it was resolved whole), their notes on kinds and
        kernels, and the layers clamped to 0 ms."""
        split = self._split(model, classes)
        key = (model, alpha, depth, classes)
        part = self._alphas.get(key)
        if part is None:
            part = self._alphas[key] = _AlphaPart(split.base(alpha, depth), self.device)
        if part.ok:
            def holds(network: Network) -> bool:
                return math.isclose(part.total(pixels(network))[0],
                                    self.model.predict(network).total_ms,
                                    rel_tol=1e-9, abs_tol=1e-12)

            spatial = split.at(part.network, resolution, holds)
            if spatial is not None and part.same_kernels(spatial.in_pixels):
                ms, clamped = part.total((spatial.out_pixels, spatial.in_pixels))
                return ms, part.network, part.layer_notes, clamped
        self.slow += 1
        full = split.resolve(alpha, depth, resolution)
        prediction = self.model.predict(full)
        notes = [n for n in self.device.notes(full) if n.topic in ("kinds", "kernels")]
        return prediction.total_ms, full, notes, prediction.clamped

    def predict(self, model: str, alpha: float, resolution: tuple[int, int],
                classes: int | None, depth: float | None = None) -> float:
        """Predicted ms of one configuration (:func:`check_ms`)."""
        ms = self.configuration(model, alpha, resolution, classes, depth)[0]
        return check_ms(self.device, ms, f"{model} {alpha:g}/{resolution_str(resolution)}")

    def rows(self, rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Each row with :data:`mncost.sweep.run.PREDICTED_COLUMNS` added (``predicted_ms``
        to 4 decimals), counting its warnings."""
        for row in rows:
            resolution = check_resolution(row["resolution"])
            ms, network, layer_notes, clamped = self.configuration(
                row["model"], row["alpha"], resolution, row["classes"], row.get("depth"))
            check_ms(self.device, ms, f"{row['model']} {row['alpha']:g}/"
                                      f"{resolution_str(resolution)}")
            self.count += 1
            notes = (self.device.notes(network, resolution, row["macs"], layers=False)
                     + layer_notes + clamp_notes(self.device, clamped, len(network.layers)))
            self._count(notes)
            yield {**row, "predicted_ms": round(ms, 4),
                   "predicted_runtime": self.device.runtime,
                   "predicted_threads": self.device.threads,
                   "predicted_statistic": self.device.statistic}

    def _count(self, notes: list[Note]) -> None:
        topics = {n.topic for n in notes}
        if topics & {"alpha", "resolution"}:
            topics.add("outside")
        for topic in topics:
            self.topics[topic] = self.topics.get(topic, 0) + 1
        for note in notes:
            self.items.setdefault(note.topic, {}).update(dict.fromkeys(note.items))

    def warnings(self) -> list[str]:
        """The configurations' warnings, one line per topic, counted over the rows predicted
        so far."""
        cov, n, lines = self.device.coverage, self.count, []

        def share(topic: str) -> str:
            return f"{self.topics[topic]:,} of {n:,} configurations"

        if "outside" in self.topics:
            lines.append(f"{share('outside')} lie outside the calibrated alpha "
                         f"{cov['alpha'][0]:g}-{cov['alpha'][1]:g} and resolution "
                         f"{cov['resolution'][0]}-{cov['resolution'][1]}: their predictions "
                         "extrapolate")
        if "macs" in self.topics:
            lines.append(f"{share('macs')} have MACs outside the calibrated "
                         f"{cov['macs'][0]:,}-{cov['macs'][1]:,}: their predictions "
                         "extrapolate")
        if "models" in self.topics:
            lines.append(f"{share('models')} are of networks {self.device.path} was not "
                         f"fitted on ({', '.join(cov['models'])}): their predictions "
                         "extrapolate")
        if "kinds" in self.topics:
            lines.append(f"{share('kinds')} have layer kinds never calibrated (predicted as 0 "
                         f"ms): {', '.join(sorted(self.items['kinds']))}")
        if "kernels" in self.topics:
            lines.append(f"{share('kernels')} have kernels never calibrated, predicted with "
                         "their blocked kind's coefficients: "
                         f"{', '.join(sorted(self.items['kernels']))}")
        if "clamped" in self.topics:
            lines.append(f"{share('clamped')} have layers that would take less than 0 ms with "
                         f"the time between layers ({self.model.between_ms:g} ms each): "
                         "counted as 0 ms")
        return lines
