"""Every example in README.md and docs/*.md runs as written (issue 22, item 1).

What is run: each ``mncost ...`` command line of the ```` ```sh ```` blocks (a line continued
with ``\\`` is one command; of a line such as ``pip install ... && mncost analyze ...`` only the
``mncost`` part) and the ``mncost`` lines of the ``run:`` steps of the GitHub Actions workflow
shown as YAML. Each runs in bash, as typed, in a scratch directory, with ``mncost`` meaning this
checkout's code, and must exit 0 and write every file it names as an output (``-o``,
``--report-md``, ``--junit``, ``--plot``, ``>``). Identical commands shown in several places
run once. ``pip install``, ``python ...``, comments and ```` ```text ```` blocks (synopses,
error messages) are not run, nor the ```` ```json ```` block that describes the baseline format
(it elides with ``"..."``); the ```` ```python ```` API examples run as scripts (torch).

The scratch directory holds:

* every file the documents show: a YAML block whose first line is a comment naming a file
  (``# my_net.yaml``, ``# budgets.yaml: ...``) is written under that name;
* :data:`SUPPLIED`: stand-ins for the files that only a torch measurement writes, each with
  the reason;
* the files an earlier example writes (``mncost-baseline.json`` for ``mncost check``): that
  example is run first, in the same directory.

Commands that need torch (``crosscheck``, ``profile``, ``calibrate``, ``roofline-measure``,
``--measure``, ``--latency``) carry the ``torch`` and ``slow`` markers (``fvcore`` for
crosscheck, ``reference`` for ``--reference``), so they run where torch is installed (CI) and are
skipped where it cannot be imported; :data:`NOT_RUN` lists the ones never run here, each with
its reason. Every analytic example runs: a test fails if :data:`NOT_RUN` names one.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import ROOT

from mncost.cli import cli

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```\s*([\w-]*)\s*$")
#: A YAML block whose first line names the file it shows.
SHOWN_NAME = re.compile(r"^#\s*([\w.-]+\.ya?ml)\b")
#: Options (and the shell redirection) whose argument is a file the command writes.
OUTPUT_OPTIONS = ("-o", "--report-md", "--junit", "--plot", ">")
TORCH_COMMANDS = {"crosscheck", "profile", "calibrate", "roofline-measure"}
TORCH_OPTIONS = {"--measure", "--latency"}

#: Examples never run by this test (command without its comment -> why). Only torch
#: examples may be here: every analytic one runs.
NOT_RUN = {
    "mncost calibrate -o laptop.json --threads 1":
        "measures for about 3 minutes; SUPPLIED stands in for the laptop.json it writes "
        "(tests/test_predict.py calibrates a tiny set end to end)",
    "mncost calibrate -o laptop.json --evaluate -f markdown > eval.md":
        "measures for about 5 minutes",
    "mncost calibrate -o laptop-int8.json --runtime onnxruntime --dtype int8":
        "quantizes 63 networks and measures for about 5 minutes; SUPPLIED stands in for the "
        "laptop-int8.json it writes (tests/test_int8_latency.py calibrates a tiny int8 set "
        "end to end)",
    "mncost crosscheck --all":
        "120 configurations, 10-15 s on 2 cores; tests/test_crosscheck.py runs --all "
        "on a small grid",
    "mncost crosscheck --all --grid full":
        "480 configurations, about a minute on 2 cores",
}

#: Stand-ins for files only a measurement writes: name -> (content, why it is supplied).
DEVICE_PROFILE = {
    "schema": "mncost.device/1", "runtime": "eager", "threads": 1,
    "created": "2026-01-01T00:00:00Z", "environment": {"device_name": "Doc example CPU"},
    "model": {
        "dtype_bytes": 4,
        "kinds": {kind: {"ms_per_mac": 1e-8, "ms_per_byte": 1e-9, "ms_per_call": 0.005}
                  for kind in ("conv", "conv@stem", "pointwise", "depthwise", "grouped", "fc",
                               "se_fc", "pool", "add", "scale")},
        "activations": {}, "between_layers_ms": 0.002, "fixed_ms": 0.3, "layout": None},
    "coverage": {"alpha": [0.25, 2.0], "resolution": [96, 480], "macs": [1, 10**11]},
}
SUPPLIED = {
    "laptop.json": (json.dumps(DEVICE_PROFILE),
                    "the device profile `mncost calibrate -o laptop.json` writes (minutes)"),
    "laptop-int8.json": (json.dumps({**DEVICE_PROFILE, "runtime": "onnxruntime",
                                     "model": {**DEVICE_PROFILE["model"], "dtype_bytes": 1,
                                               "precision": "int8"}}),
                         "the int8 device profile `mncost calibrate --dtype int8` writes"),
    "device.json": (json.dumps({"peak_gmacs": 60, "bandwidth_gbs": 23}),
                    ("the roofline `mncost roofline-measure -o device.json` writes (torch); "
                     "that example still runs and replaces it")),
}


@dataclass
class Example:
    """One command line as a document shows it."""

    command: str
    places: list[str] = field(default_factory=list)

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.command, comments=True)

    @property
    def key(self) -> str:
        return " ".join(self.argv)

    def files(self) -> tuple[set[str], set[str]]:
        """(inputs, outputs): the file names among its arguments."""
        argv, outputs = self.argv, set()
        for option, value in zip(argv, argv[1:]):
            if option in OUTPUT_OPTIONS and value != "-":
                outputs.add(value)
        inputs = {a for a in argv if re.search(r"\.(ya?ml|json)$", a)} - outputs
        return inputs, outputs

    def needs_torch(self) -> bool:
        argv = self.argv
        return argv[1] in TORCH_COMMANDS or bool(TORCH_OPTIONS & set(argv))


def blocks(path: Path):
    """``(language, first line number, lines)`` of every fenced block of ``path``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if match:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            yield match.group(1), i + 2, lines[i + 1:end]
            i = end
        i += 1


def mncost_segments(line: str) -> list[str]:
    """The ``mncost ...`` commands of one shell line (``a && mncost b`` gives ``mncost b``)."""
    parts = re.split(r"\s(?:&&|\|\||;)\s", line.strip())
    return [p.strip() for p in parts if p.strip().startswith("mncost ")]


def shell_commands(lines: list[str], first: int):
    """``(line number, command)`` of the mncost commands of a sh block."""
    pending, start = "", None
    for number, line in enumerate(lines, first):
        if start is None:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        for command in mncost_segments(pending + line):
            yield start, command
        pending, start = "", None


def workflow_commands(lines: list[str], first: int):
    """``(line number, command)`` of the mncost lines of a GitHub Actions workflow's steps."""
    doc = yaml.safe_load("\n".join(lines))
    if not isinstance(doc, dict) or "jobs" not in doc:
        return
    for job in doc["jobs"].values():
        for step in job.get("steps", []):
            for line in str(step.get("run", "")).splitlines():
                for command in mncost_segments(line):
                    number = next((first + i for i, l in enumerate(lines)
                                   if command.split()[1] in l and "mncost" in l), first)
                    yield number, command


def collect():
    """Every example (in document order, README first) and every file the documents show."""
    examples: dict[str, Example] = {}
    shown: dict[str, tuple[str, str]] = {}
    for path in DOCS:
        doc = str(path.relative_to(ROOT))
        for language, first, lines in blocks(path):
            found = []
            if language == "sh":
                found = list(shell_commands(lines, first))
            elif language == "yaml":
                found = list(workflow_commands(lines, first))
                name = SHOWN_NAME.match(lines[0]) if lines else None
                if name:
                    text = "\n".join(lines) + "\n"
                    previous = shown.setdefault(name.group(1), (text, f"{doc}:{first}"))
                    assert previous[0] == text, (
                        f"{doc}:{first} shows {name.group(1)} unlike {previous[1]} does")
            for number, command in found:
                example = Example(command)
                examples.setdefault(example.key, example).places.append(f"{doc}:{number}")
    return list(examples.values()), {name: text for name, (text, _) in shown.items()}


EXAMPLES, SHOWN = collect()


def marks(example: Example):
    if example.key in NOT_RUN:
        return [pytest.mark.skip(reason=f"not run: {NOT_RUN[example.key]}")]
    if not example.needs_torch():
        return []
    found = [pytest.mark.torch, pytest.mark.slow]
    if example.argv[1] == "crosscheck":
        found.append(pytest.mark.fvcore)
    if "--reference" in example.argv:
        found.append(pytest.mark.reference)
    return found


def producer(name: str, before: Example) -> Example | None:
    """The first runnable example that writes ``name``."""
    for example in EXAMPLES:
        if example is not before and example.key not in NOT_RUN and name in example.files()[1]:
            return example
    return None


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """The environment in which ``mncost`` is this checkout's code, whatever is installed."""
    bin_dir = tmp_path_factory.mktemp("bin")
    shim = bin_dir / "mncost"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mncost "$@"\n')
    shim.chmod(0o755)
    environ = dict(os.environ)
    environ["PATH"] = f"{bin_dir}{os.pathsep}{environ.get('PATH', '')}"
    environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), environ.get("PYTHONPATH")) if p)
    environ["MPLBACKEND"] = "Agg"
    return environ


#: Files of this repository the documents name by path (a shipped device profile): copied in.
REPOSITORY_FILES = ("docs/examples/epyc-eager-1t.json",)


def workspace(directory: Path) -> None:
    for name in REPOSITORY_FILES:
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes((ROOT / name).read_bytes())
    for name, text in SHOWN.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)
    for name, (text, _) in SUPPLIED.items():
        (directory / name).write_text(text)


def run(example: Example, directory: Path, env: dict, depth: int = 0) -> None:
    """Run ``example`` in ``directory`` as typed, first running the examples that write the
    files it reads; assert exit 0 and that every output it names was written."""
    inputs, outputs = example.files()
    for name in sorted(inputs):
        if not (directory / name).exists():
            maker = producer(name, example)
            assert maker is not None and depth < 3, (
                f"{example.places[0]}: reads {name}, which no document shows and no runnable "
                "example writes")
            run(maker, directory, env, depth + 1)
    if "--plot" in example.argv:
        pytest.importorskip("matplotlib")
    if "--device" in example.argv and "cuda" in example.argv:
        torch = pytest.importorskip("torch")
        if not torch.cuda.is_available():
            pytest.skip("needs a CUDA device")
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", example.command], cwd=directory,
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, (
        f"{', '.join(example.places)}: `{example.command}` exited {proc.returncode}\n"
        f"{proc.stderr[-3000:]}")
    for name in outputs:
        assert (directory / name).is_file() and (directory / name).stat().st_size > 0, (
            f"{example.places[0]}: `{example.command}` did not write {name}")


@pytest.mark.parametrize("example", [pytest.param(e, id=e.places[0], marks=marks(e))
                                     for e in EXAMPLES])
def test_example_runs_as_written(example, tmp_path, env):
    workspace(tmp_path)
    run(example, tmp_path, env)


def test_the_examples_are_found():
    keys = {e.key for e in EXAMPLES}
    # The quick start's command, a continued line, the workflow's step, a --device-profile budget.
    assert "mncost analyze v1 --alpha 0.5 --res 160" in keys
    assert ("mncost check --baseline mncost-baseline.json --tolerance 0.5% --budget "
            "budgets.yaml --report-md mncost-report.md --junit mncost-junit.xml") in keys
    ci = next(e for e in EXAMPLES if e.key.startswith("mncost check --baseline")
              and "--report-md" in e.key)
    assert any(p.startswith("docs/ci.md") for p in ci.places) and len(ci.places) >= 3
    assert "mncost check --budget predicted-budgets.yaml --device-profile laptop.json" in keys
    assert {"my_net.yaml", "budgets.yaml", "predicted-budgets.yaml"} <= set(SHOWN)
    assert len([e for e in EXAMPLES if not e.needs_torch()]) >= 25
    assert PYTHON


def test_not_run_names_only_torch_examples_the_docs_show():
    keys = {e.key: e for e in EXAMPLES}
    assert set(NOT_RUN) <= set(keys), set(NOT_RUN) - set(keys)
    assert [k for k in NOT_RUN if not keys[k].needs_torch()] == []


def test_supplied_files_stand_in_for_measured_ones():
    """Each stand-in is what a torch example (one this test does not run, or one that may be
    skipped) writes, so no analytic example depends on a file the docs never show how to make."""
    for name in SUPPLIED:
        makers = [e for e in EXAMPLES if name in e.files()[1]]
        assert makers and all(e.needs_torch() for e in makers), name


PYTHON = [pytest.param("\n".join(lines), id=f"{path.relative_to(ROOT)}:{first}")
          for path in DOCS for language, first, lines in blocks(path) if language == "python"]


@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.parametrize("code", PYTHON)
def test_python_example_runs(code, tmp_path, env):
    """The Python API examples (they profile a model, so they need torch)."""
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.parametrize("name", sorted(n for n, t in SHOWN.items()
                                        if re.search(r"(?m)^(layers|extends):", t)))
def test_every_spec_shown_is_valid(name, tmp_path, monkeypatch):
    workspace(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["validate", name])
    assert result.exit_code == 0, result.output
