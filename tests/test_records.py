"""One record per format (issue 18): the environment record, the list of runtimes, the device
profile read and written by one module, and the JSON documents built in the core."""

from __future__ import annotations

import ast
import json
import os
import platform

import pytest
from _helpers import BETWEEN, FIXED, TRUTH
from conftest import ROOT

from mncost import resolve_model
from mncost.latency import device_profile as dp
from mncost.latency import model as lm
from mncost.measure.environment import MACHINE_FIELDS, Environment, Host
from mncost.measure.profile_options import RUNTIMES, ProfileOptions
from mncost.measure.timing import cpu_name

PACKAGE = ROOT / "mncost"


def calls_in(path, names):
    """Where ``path`` calls one of ``names`` (``platform.platform``, ``os.cpu_count``...)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                isinstance(node.func.value, ast.Name):
            name = f"{node.func.value.id}.{node.func.attr}"
            if name in names:
                found.append(name)
    return found


def test_the_host_is_read_in_one_place():
    """Only the environment record reads what describes the host: a second record spelled
    elsewhere (as calibrate, the profiler and predict each once did) fails here."""
    names = {"platform.platform", "platform.python_version", "os.getloadavg",
             "platform.machine"}
    where = {str(p.relative_to(ROOT)): calls_in(p, names) for p in PACKAGE.rglob("*.py")}
    where = {p: c for p, c in where.items() if c}
    # timing.cpu_name falls back on platform.machine for a CPU with no model name.
    assert set(where) == {"mncost/measure/environment.py", "mncost/measure/timing.py"}
    assert set(where["mncost/measure/environment.py"]) == names
    assert where["mncost/measure/timing.py"] == ["platform.machine"]

def test_the_record_writes_what_calibrate_and_profile_wrote():
    env = Environment("onnxruntime", 2, versions={"torch": "2.0", "onnxruntime": "1.1"},
                      settings={"clock": "perf_counter_ns"}, malloc="glibc",
                      load={"load_average": [0.5, 0.5, 0.5]})
    doc = env.to_dict()
    assert list(doc) == ["mncost", "python", "platform", "machine", "device_name",
                         "cpu_count", "runtime", "torch", "onnxruntime", "threads", "dtype",
                         "batch", "clock", "malloc", "malloc_env", "load_average"]
    assert (doc["python"], doc["machine"], doc["cpu_count"], doc["device_name"]) == (
        platform.python_version(), platform.machine(), os.cpu_count(), cpu_name())


def test_the_machine_fields_are_compared_as_written():
    here = Host.here()
    written = Environment("eager", 1, host=here).to_dict()
    assert here.differences(written) == []
    other = {**written, "device_name": "Another CPU", "cpu_count": 1024}
    assert here.differences(other) == [("device_name", "Another CPU", here.device_name),
                                       ("cpu_count", 1024, here.cpu_count)]
    assert set(MACHINE_FIELDS) <= set(written)


@pytest.mark.torch
def test_profile_and_calibrate_write_the_one_record():
    torch = pytest.importorskip("torch")
    from mncost.measure.timing import CPU_CLOCK
    from mncost.torch_backend import calibrate as cal
    from mncost.torch_backend.device import describe_environment

    profiled = describe_environment(torch.device("cpu"), 1, ProfileOptions(), CPU_CLOCK)
    calibrated = cal.environment("eager", 1, "glibc", {"torch": torch.__version__}).to_dict()
    host = ["mncost", "python", "platform", "machine", "device_name", "cpu_count", "runtime",
            "torch", "threads", "dtype", "batch"]
    assert list(profiled)[:len(host)] == list(calibrated)[:len(host)] == host
    assert {k: profiled[k] for k in host} == {k: calibrated[k] for k in host}
    assert profiled["clock"] == CPU_CLOCK.name and "load_average" in calibrated


def test_one_list_of_runtimes():
    from mncost.cli.predict import calibrate
    from mncost.cli.profile import profile

    for command in (profile, calibrate):
        runtime = next(p for p in command.params if p.name == "runtime")
        assert tuple(runtime.type.choices) == RUNTIMES
    doc = {"schema": "mncost.device/1", "runtime": "tvm"}
    # Measured runtimes, then the published ones (calibrate --from-published).
    with pytest.raises(dp.InputError, match=f"runtime: must be one of {', '.join(RUNTIMES)}, "
                                            "tflite,"):
        dp.device_from_dict(doc, "dev.json")


# ---------------------------------------------------------------------------------------------
# The device profile: written and read by one module


def test_a_written_profile_reads_back_as_written(tmp_path):
    model = lm.LatencyModel(TRUTH, BETWEEN, FIXED, layout=lm.ChannelLayout(8, 16),
                            activations={"relu": (1e-9, 0.002)})
    nets = [resolve_model("v1", 0.5, 128), resolve_model("v2", 1.0, 224)]
    env = Environment("eager", 1, versions={"torch": "2.0"}, malloc="glibc",
                      load={"load_average": None, "load_average_end": None})
    profile = dp.DeviceProfile("calibration", "eager", 1, env.to_dict(), model,
                               dp.coverage_of(nets), created="2026-01-01T00:00:00Z",
                               ms_per_mac=1e-9, measurement={"rounds": 3,
                                                             "fitted_unstable": False},
                               fit={"method": "nnls"}, training=[{"model": "v1"}])
    doc = profile.to_dict()
    assert list(doc) == ["schema", "created", "runtime", "threads", "environment", "model",
                         "macs_baseline", "coverage", "measurement", "fit", "training"]
    assert doc["coverage"] == {"alpha": [0.5, 1.0], "resolution": [128, 224],
                               "macs": [lm.network_macs(nets[0]), lm.network_macs(nets[1])],
                               "kinds": sorted(TRUTH)}
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(doc))
    read = dp.load_device(str(path))
    assert read.model == model and read.to_dict() == doc
    assert (read.created, read.ms_per_mac, read.fitted_unstable) == (
        "2026-01-01T00:00:00Z", 1e-9, False)


def test_calibrate_does_not_read_back_the_profile_it_built():
    """The evaluation section comes from the record in hand, not from parsing its JSON."""
    import inspect

    pytest.importorskip("torch")
    from mncost.torch_backend import calibrate as cal

    source = inspect.getsource(cal)
    assert "device_from_dict" not in source and "load_device" not in source
    assert "DEVICE_SCHEMA" not in source            # the document is laid out by to_dict
