"""The runner registry (:mod:`mncost.torch_backend.runners`): the ``--runtime`` choices name its
keys, every runner has the whole surface, and a runner registered here, under a name the code
has never seen, is driven by ``profile`` and by calibrate's measuring loop like the built-in
ones (no name is branched on anywhere)."""

from __future__ import annotations

import click
import pytest

from mncost import resolve_model
from mncost.cli import cli
from mncost.errors import InputError
from mncost.measure.profile_options import ProfileOptions
from mncost.measure.timing import TimingStats

pytestmark = pytest.mark.torch

#: What profile and calibrate use of a runner, written out (not read from the protocol).
SURFACE = ("name", "batch_layer_runs", "versions", "layout", "__enter__", "__exit__",
           "first_run", "timed", "layer_runs", "describe")


@pytest.fixture(scope="module")
def runners():
    from mncost.torch_backend import runners

    return runners


def runtime_choices() -> dict[str, tuple[str, ...]]:
    """Command name -> the choices of its ``--runtime`` option, for every command that has
    one."""
    ctx = click.Context(cli)
    found = {}
    for name in cli.list_commands(ctx):
        for param in cli.get_command(ctx, name).params:
            if param.name == "runtime":
                found[name] = tuple(param.type.choices)
    return found


def test_the_cli_runtime_choices_are_the_registry_keys(runners):
    choices = runtime_choices()
    assert set(choices) == {"profile", "calibrate"}
    for command, names in choices.items():
        assert sorted(names) == sorted(runners.RUNNERS), command
    assert all(cls.name == key for key, cls in runners.RUNNERS.items())


def test_every_runner_has_the_whole_surface(runners):
    declared = set(runners.Runner.__annotations__) | set(vars(runners.Runner))
    assert set(SURFACE) <= declared
    for key, cls in runners.RUNNERS.items():
        assert [m for m in SURFACE if not hasattr(cls, m)] == [], key


def test_an_unknown_runtime_is_one_line(runners):
    from mncost.torch_backend import calibrate as cal
    from mncost.torch_backend.profile import profile_network

    message = "^unknown runtime 'tflite'; use one of eager, onnxruntime$"
    with pytest.raises(InputError, match=message):
        profile_network(resolve_model("v3-small", 0.35, 64), ProfileOptions(runtime="tflite"))
    with pytest.raises(InputError, match=message):
        cal.calibrate(runtime="tflite", budget_s=0.01, configs=[])


class ThirdRunner:
    """A runtime no module knows: fixed times (2 ms a run, 0.25 ms a layer, 3 ms an
    instrumented run); records what was asked of it, in order."""

    name = "third"
    batch_layer_runs = False
    calls: list[tuple] = []
    LAYOUT = object()

    def __init__(self, network, options):
        self.network, self.options = network, options
        ThirdRunner.calls.append(("prepare", network, options.threads))

    @classmethod
    def versions(cls):
        return {"third": "1.0"}

    @classmethod
    def layout(cls, threads, progress):
        progress(f"third: no layout probe at {threads} thread(s)")
        return cls.LAYOUT

    def __enter__(self):
        ThirdRunner.calls.append(("enter",))
        return self

    def __exit__(self, *exc):
        ThirdRunner.calls.append(("exit",))

    def first_run(self):
        ThirdRunner.calls.append(("first run",))

    def profiled_nodes(self):
        return None

    def timed(self, warmup, repeats, *, min_time_s=0.0, progress=None, faults=None):
        ThirdRunner.calls.append(("timed", warmup, repeats, min_time_s))
        if faults is not None:
            faults.append(7 * repeats)
        return [2_000_000] * repeats

    def layer_runs(self, warmup, repeats, *, min_time_s=0.0, progress=None):
        ThirdRunner.calls.append(("layer runs", warmup, repeats, min_time_s))
        return ({layer.name: [250_000] * repeats for layer in self.network.layers},
                [3_000_000] * repeats)

    def describe(self):
        return {"runtime": self.options.runtime, "threads": self.options.threads,
                **self.versions()}


@pytest.fixture
def third(runners, monkeypatch):
    monkeypatch.setitem(runners.RUNNERS, ThirdRunner.name, ThirdRunner)
    ThirdRunner.calls = []
    return ThirdRunner


def test_profile_drives_a_registered_third_runner(third):
    from mncost.torch_backend.profile import profile_network

    network = resolve_model("v3-small", 0.35, 64)
    options = ProfileOptions(runtime="third", threads=3, warmup=4, repeats=5, min_time_s=0.5,
                             per_layer=True)
    phases = []
    result = profile_network(network, options, progress=lambda *a: phases.append(a))
    assert third.calls == [("prepare", network, 3), ("enter",), ("first run",),
                           ("timed", 4, 5, 0.5), ("layer runs", 4, 5, 0.5), ("exit",)]
    assert phases == [("first run", 0.0, 0), ("first run", 1.0, 1)]
    assert result.end_to_end == TimingStats.from_ms([2.0] * 5)
    assert result.instrumented == TimingStats.from_ms([3.0] * 5)
    assert [t.name for t in result.layers] == [layer.name for layer in network.layers]
    assert {t.stats.median_ms for t in result.layers} == {0.25}
    assert result.page_faults_per_run == 7
    env = dict(result.environment)
    assert [env.pop(k) for k in ("runtime", "threads", "third")] == ["third", 3, "1.0"]
    # the rest is the profiler's own
    assert set(env) == {"malloc", "malloc_env", "malloc_note", "cpus_available"}


def test_calibrate_measures_with_a_registered_third_runner(third):
    from mncost.torch_backend import calibrate as cal

    configs = [cal.Config(m, resolve_model(m, 0.35, 64)) for m in ("v3-small", "v2")]
    lines = []
    assert cal.runtime_versions("third") == {"third": "1.0"}
    assert cal.runtime_layout("third", 2, lines.append) is third.LAYOUT
    assert lines == ["third: no layout probe at 2 thread(s)"]
    sampled = cal.measure_set(configs, "third", 2, 0.0, lines.append,
                              per_layer=lambda c: c is configs[1])
    rounds = cal.MIN_ROUNDS
    assert third.calls[:2] == [("prepare", c.network, 2) for c in configs]
    assert [s.config for s in sampled] == configs
    assert all(s.stats == TimingStats.from_ms([2.0] * rounds * cal.PLAIN_RUNS)
               for s in sampled)
    assert sampled[0].layer_ms() is None
    assert sampled[1].layer_ms() == {layer.name: 0.25 for layer in configs[1].network.layers}
    assert sampled[1].instrumented_ns == [3_000_000] * rounds * cal.LAYER_RUNS
    assert any(f"({third.name}, 2 threads)" in line for line in lines)
