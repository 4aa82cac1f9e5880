"""No output loses a file (issue 22, item 16): a hard-linked output is rewritten whole or not at
all when the disk fills; outputs are told apart by (st_dev, st_ino) from each other and from the
command's inputs; SIGTERM and SIGHUP clean up like Ctrl-C and, during a ``--latency`` sweep,
keep the measured rows; a second signal during that partial write does not lose them."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _helpers import error_line, no_temporaries, run, signal_a_writing_sweep

from mncost.errors import InputError
from mncost.files.outputfile import check_outputs, write_atomic

ROOT = Path(__file__).resolve().parents[1]


def linked_pair(tmp_path: Path, content: str) -> tuple[Path, Path]:
    first = tmp_path / "a.txt"
    first.write_text(content)
    second = tmp_path / "b.txt"
    os.link(first, second)
    return first, second


# ---------------------------------------------------------------------------------------------
# A hard-linked output when the disk fills

def test_hard_link_disk_full_during_allocation_keeps_the_old_content(tmp_path, monkeypatch):
    first, second = linked_pair(tmp_path, "old content\n")

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(InputError, match="No space left on device"):
        write_atomic(first, "new content, much longer than the old one\n" * 100)
    assert first.read_text() == second.read_text() == "old content\n"
    assert first.stat().st_ino == second.stat().st_ino and first.stat().st_nlink == 2
    assert no_temporaries(tmp_path)


def test_hard_link_disk_full_without_fallocate_keeps_the_old_content(tmp_path, monkeypatch):
    """A file system without fallocate: the disk fills while the file grows; the old content
    (and size) is back before the error is reported."""
    old = "old content\n" * 10
    first, second = linked_pair(tmp_path, old)
    inode = first.stat().st_ino
    real_pwrite = os.pwrite

    def no_fallocate(fd, offset, length):
        raise OSError(errno.EOPNOTSUPP, os.strerror(errno.EOPNOTSUPP))

    def small_disk(fd, data, offset):
        # 200 bytes more than the old file fit on the "disk", for the file with the old inode
        if os.fstat(fd).st_ino == inode and offset + len(data) > len(old) + 200:
            room = max(0, len(old) + 200 - offset)
            if room:
                return real_pwrite(fd, data[:room], offset)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "posix_fallocate", no_fallocate)
    monkeypatch.setattr(os, "pwrite", small_disk)
    with pytest.raises(InputError, match="No space left on device"):
        write_atomic(first, "N" * 5000)
    assert first.read_text() == old and second.read_text() == old
    assert no_temporaries(tmp_path)


def test_hard_link_shrinks_and_grows_in_place(tmp_path):
    first, second = linked_pair(tmp_path, "x" * 10_000)
    write_atomic(first, "short\n")
    assert second.read_text() == "short\n"
    write_atomic(second, "y" * 3_000_000)
    assert first.read_text() == "y" * 3_000_000
    assert first.stat().st_ino == second.stat().st_ino and no_temporaries(tmp_path)


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 1 MiB tmpfs (root only, where mount is allowed; skipped elsewhere)."""
    where = tmp_path / "small"
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield where
    subprocess.run(["umount", str(where)], capture_output=True)


def test_hard_link_on_a_full_tmpfs_keeps_the_old_content(small_tmpfs):
    old = "o" * 100_000
    first, second = linked_pair(small_tmpfs, old)
    # the temporary file (600 kB) fits beside the old file; growing the file in place to the
    # new content would need 500 kB more, beyond the 1 MiB
    with pytest.raises(InputError, match="No space left on device"):
        write_atomic(first, "n" * 600_000)
    assert first.read_text() == old and second.read_text() == old
    assert no_temporaries(small_tmpfs)


def test_hard_link_copy_holds_signals(tmp_path, monkeypatch):
    """The in-place copy (the one step that is not a rename) runs with SIGINT, SIGTERM and
    SIGHUP blocked, so a signal cannot cut it; it is acted on after."""
    first, second = linked_pair(tmp_path, "old\n")
    blocked: list[set] = []
    real_pwrite = os.pwrite

    def pwrite(fd, data, offset):
        blocked.append(signal.pthread_sigmask(signal.SIG_BLOCK, []))
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", pwrite)
    write_atomic(first, "new\n")
    assert second.read_text() == "new\n"
    assert blocked and all({signal.SIGINT, signal.SIGTERM, signal.SIGHUP} <= b for b in blocked)
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])


# ---------------------------------------------------------------------------------------------
# Outputs told apart by identity, from each other and from the inputs

def test_two_outputs_that_are_hard_links_of_one_file_are_refused(tmp_path):
    first, second = linked_pair(tmp_path, "keep\n")
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("budgets:\n  - model: v1\n    max_macs: 600M\n")
    result = run("check", "--budget", str(budgets), "--report-md", str(first),
                 "--junit", str(second))
    assert result.exit_code == 2
    assert "both write" in error_line(result.stderr)
    assert first.read_text() == "keep\n"


def test_output_that_is_the_baseline_is_refused(tmp_path):
    """The report would replace the baseline: here through a hard link named like a report
    (``--report-md b.json`` itself is refused earlier, by its extension)."""
    base = tmp_path / "b.json"
    assert run("baseline", "write", "v1", "-o", str(base)).exit_code == 0
    before = base.read_bytes()
    alias = tmp_path / "report.md"
    os.link(base, alias)
    result = run("check", "--baseline", str(base), "--report-md", str(alias))
    assert result.exit_code == 2
    line = error_line(result.stderr)
    assert "--report-md" in line and "--baseline" in line and "input" in line
    assert base.read_bytes() == before


def test_output_that_is_a_hard_link_of_the_budgets_is_refused(tmp_path):
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("budgets:\n  - model: v1\n    max_macs: 600M\n")
    alias = tmp_path / "report.md"
    os.link(budgets, alias)
    result = run("check", "--budget", str(budgets), "--report-md", str(alias))
    assert result.exit_code == 2 and "--budget" in error_line(result.stderr)
    assert budgets.read_text().startswith("budgets:")


def test_output_that_is_the_spec_is_refused(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text("name: net\nresolution: 32\nlayers:\n  - {op: conv, c: 8, k: 3, s: 2}\n"
                    "  - {op: pool}\n  - {op: fc, c: 10}\n")
    before = spec.read_text()
    for args in (("analyze", str(spec), "-o", str(spec)),
                 ("sweep", str(spec), "-f", "csv", "-o", str(spec))):
        result = run(*args)
        assert result.exit_code == 2, result.output
        assert "input" in error_line(result.stderr)
        assert spec.read_text() == before


def test_output_that_is_a_spec_read_through_extends_is_refused_at_write(tmp_path):
    """An input that is no option (the parent of ``extends:``) is caught when the write
    starts: the file read is never replaced."""
    parent = tmp_path / "parent.yaml"
    parent.write_text("name: parent\nresolution: 32\nlayers:\n  - {op: conv, c: 8, k: 3, s: 2}"
                      "\n  - {op: pool}\n  - {op: fc, c: 10}\n")
    child = tmp_path / "child.yaml"
    child.write_text("extends: parent.yaml\nname: child\n")
    before = parent.read_text()
    result = run("analyze", str(child), "-f", "csv", "-o", str(parent))
    assert result.exit_code == 2
    assert "input" in error_line(result.stderr)
    assert parent.read_text() == before and no_temporaries(tmp_path)


def test_check_outputs_unit(tmp_path):
    first, second = linked_pair(tmp_path, "x")
    with pytest.raises(InputError, match="--a and --b both write"):
        check_outputs(("--a", str(first)), ("--b", str(second)))
    with pytest.raises(InputError, match="input"):
        check_outputs(("-o", str(first)), inputs=[("MODEL", str(second))])
    check_outputs(("-o", str(tmp_path / "new")), inputs=[("MODEL", str(first)),
                                                          ("MODEL", "v1")])


# ---------------------------------------------------------------------------------------------
# Signals: SIGTERM and SIGHUP like Ctrl-C; partial rows kept; a second signal does not lose them

#: A console run of ``mncost sweep --latency`` with a fake profiler (2 ms a measurement) that
#: sends the process ``SIGNAL`` during measurement ``AT``; with ``AGAIN``, the partial write
#: (Output._finish) sends it another signal before it completes.
SWEEP_WITH_SIGNAL = textwrap.dedent("""
    import os, signal, sys, time, types
    from mncost.measure.profile_options import ProfileOptions
    SIG, AT, AGAIN = (int(a) for a in sys.argv[1:4])
    calls = [0]
    def profile_network(network, options, progress=None):
        calls[0] += 1
        if calls[0] == AT:
            os.kill(os.getpid(), SIG)
        time.sleep(0.002)
        stats = types.SimpleNamespace(median_ms=1.0, p10_ms=0.9, p90_ms=1.1, quiet_ms=0.85,
                                      mean_ms=1.0, std_ms=0.1, runs=3)
        return types.SimpleNamespace(end_to_end=stats, environment={"threads": 1})
    module = types.ModuleType("mncost.torch_backend.profile")
    module.ProfileOptions = ProfileOptions
    module.profile_network = profile_network
    sys.modules["mncost.torch_backend.profile"] = module
    if AGAIN:
        from mncost.files import outputfile
        real = outputfile.Output._finish
        def finish(self):
            os.kill(os.getpid(), AGAIN)
            time.sleep(0.01)
            return real(self)
        outputfile.Output._finish = finish
    sys.argv = ["mncost", "sweep", "v1", "--alpha", "0.25,0.5,0.75,1.0", "--latency",
                "-f", sys.argv[4], "-o", sys.argv[5]]
    from mncost.cli import main
    main()
""")


def sweep_with_signal(tmp_path: Path, sig: int, at: int = 3, again: int = 0,
                      fmt: str = "csv") -> subprocess.CompletedProcess:
    out = tmp_path / f"lat.{fmt}"
    return subprocess.run([sys.executable, "-c", SWEEP_WITH_SIGNAL, str(int(sig)), str(at),
                           str(int(again)), fmt, str(out)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signal_during_a_latency_sweep_keeps_the_measured_rows(tmp_path, sig):
    proc = sweep_with_signal(tmp_path, sig)
    assert proc.returncode == 128 + sig, proc.stderr
    assert "Traceback" not in proc.stderr
    rows = (tmp_path / "lat.partial.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 and rows[1].startswith("v1,0.25,")
    assert "interrupted: 2 of 4 configurations measured" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lat.partial.csv"]


@pytest.mark.parametrize("second", [signal.SIGINT, signal.SIGTERM])
def test_second_signal_during_the_partial_write_does_not_lose_the_rows(tmp_path, second):
    proc = sweep_with_signal(tmp_path, signal.SIGINT, again=second, fmt="json")
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr
    import json
    doc = json.loads((tmp_path / "lat.partial.json").read_text())
    assert doc["partial"] is True and len(doc["rows"]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lat.partial.json"]


def test_signal_while_a_complete_sweep_is_written_keeps_it_whole(tmp_path):
    """A signal after the last measurement (during the write) finishes the write first."""
    proc = sweep_with_signal(tmp_path, signal.SIGINT, at=0, again=signal.SIGTERM)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert len((tmp_path / "lat.csv").read_text().splitlines()) == 1 + 4
    assert "all 4 configurations" in proc.stderr
    assert no_temporaries(tmp_path)


def test_sighup_removes_the_temporary_file(tmp_path):
    returncode, err, out = signal_a_writing_sweep(tmp_path, signal.SIGHUP, root=ROOT)
    assert returncode == 128 + signal.SIGHUP, err
    assert no_temporaries(tmp_path) and not os.path.exists(out)
    assert "Traceback" not in err and error_line(err).endswith("(SIGHUP)")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_dev_full_is_refused_before_the_work(monkeypatch):
    """Every write to /dev/full fails: calibrate (minutes of measuring) refuses it first."""
    import sys
    import types

    module = types.ModuleType("mncost.torch_backend.calibrate")
    module.calibrate = lambda **kwargs: pytest.fail("measuring started")
    monkeypatch.setitem(sys.modules, "mncost.torch_backend.calibrate", module)
    line = error_line(run("calibrate", "-o", "/dev/full").stderr)
    assert "/dev/full" in line and "No space left on device" in line


def test_stdout_that_is_an_input_is_refused(tmp_path):
    """``mncost analyze net.yaml >> net.yaml`` would write the report into the spec."""
    spec = tmp_path / "net.yaml"
    spec.write_text("name: net\nresolution: 32\nlayers:\n  - {op: conv, c: 8, k: 3, s: 2}\n"
                    "  - {op: pool}\n  - {op: fc, c: 10}\n")
    before = spec.read_text()
    with open(spec, "a") as stdout:
        proc = subprocess.run([sys.executable, "-m", "mncost", "analyze", str(spec)],
                              stdout=stdout, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                              timeout=60)
    assert proc.returncode == 2 and "stdout" in error_line(proc.stderr)
    assert spec.read_text() == before


def test_a_file_named_like_a_built_in_is_no_input(tmp_path, monkeypatch):
    """``v1`` is the built-in model even where a file ``v1`` exists (the output of a run
    before, say): writing that file is allowed, to -o or through stdout."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "v1").write_text("old\n")
    assert run("analyze", "v1", "-f", "csv", "-o", "v1").exit_code == 0
    assert run("sweep", "v1", "-f", "csv", "-o", "v1").exit_code == 0
    with open(tmp_path / "v1", "w") as stdout:
        proc = subprocess.run([sys.executable, "-m", "mncost", "analyze", "v1", "-f", "csv"],
                              stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=60,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert "568740352" in (tmp_path / "v1").read_text()


def test_hard_link_without_posix_fallocate_at_all(tmp_path, monkeypatch):
    """Where os has no posix_fallocate (macOS), the tail-first copy alone is used."""
    first, second = linked_pair(tmp_path, "x" * 100)
    monkeypatch.delattr(os, "posix_fallocate")
    write_atomic(first, "y" * 5000)
    assert second.read_text() == "y" * 5000 and no_temporaries(tmp_path)
