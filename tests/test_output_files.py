"""Output files behave like the Unix tools users know (issue 10, items 5-8): ``-o -`` is stdout,
devices and FIFOs are written to and never replaced, symlinks are followed, hard links and modes
kept, read-only files refused, long names work, every output path is checked before any work,
and signals and a closed or full stdout end the command with its exit code and one line."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time

import pytest
from _helpers import error_line, no_temporaries, run, signal_a_writing_sweep

from mncost.errors import InputError
from mncost.files.outputfile import Output, check_output, write_atomic

#: The v1 1.0/224 totals (v1 paper Table 1 and TF-slim: 569M mult-adds, 4.2M params).
V1_MACS = "568740352"


def mncost(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mncost", *args], capture_output=True,
                          text=True, timeout=60, **kwargs)


# ---------------------------------------------------------------------------------------------
# Item 5: stdout, devices, FIFOs

def test_dash_is_stdout():
    result = run("analyze", "v1", "-f", "csv", "-o", "-")
    assert result.exit_code == 0
    assert V1_MACS in result.stdout and result.stderr == ""


def test_dev_null_is_written_to_not_replaced():
    result = run("analyze", "v1", "-f", "csv", "-o", "/dev/null")
    assert result.exit_code == 0, result.output
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)      # still the device, also as root
    assert result.stderr == ""                              # no "wrote /dev/null"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_dev_full_is_one_line_exit_2():
    result = run("analyze", "v1", "-f", "csv", "-o", "/dev/full")
    assert result.exit_code == 2
    assert "No space left on device" in error_line(result.stderr)
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_fifo_is_written_to(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    result = run("analyze", "v1", "-f", "csv", "-o", str(fifo))
    reader.join(timeout=30)
    assert result.exit_code == 0, result.output
    assert V1_MACS in got[0].decode()
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert no_temporaries(tmp_path)


def test_dev_stdout_is_stdout():
    proc = mncost("analyze", "v1", "-f", "csv", "-o", "/dev/stdout")
    assert proc.returncode == 0 and V1_MACS in proc.stdout


# ---------------------------------------------------------------------------------------------
# Item 6: links, modes, read-only, long names

def test_symlink_is_followed(tmp_path):
    target = tmp_path / "real.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    os.symlink("real.csv", link)
    result = run("analyze", "v1", "-f", "csv", "-o", str(link))
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == "real.csv"
    assert V1_MACS in target.read_text()


def test_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.csv"
    os.symlink("made.csv", link)
    assert run("analyze", "v1", "-f", "csv", "-o", str(link)).exit_code == 0
    assert link.is_symlink() and V1_MACS in (tmp_path / "made.csv").read_text()


def test_hard_link_is_kept(tmp_path):
    first = tmp_path / "a.csv"
    first.write_text("old\n")
    second = tmp_path / "b.csv"
    os.link(first, second)
    inode = first.stat().st_ino
    assert run("analyze", "v1", "-f", "csv", "-o", str(first)).exit_code == 0
    assert first.stat().st_ino == inode == second.stat().st_ino
    assert first.stat().st_nlink == 2
    assert V1_MACS in second.read_text()
    assert no_temporaries(tmp_path)


def test_existing_mode_is_kept(tmp_path):
    out = tmp_path / "secret.csv"
    out.write_text("old\n")
    out.chmod(0o600)
    assert run("analyze", "v1", "-f", "csv", "-o", str(out)).exit_code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert V1_MACS in out.read_text()


def test_new_file_honours_the_umask(tmp_path):
    before = os.umask(0o027)
    try:
        assert run("analyze", "v1", "-o", str(tmp_path / "new.txt")).exit_code == 0
    finally:
        os.umask(before)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o640


def test_read_only_file_is_refused(tmp_path):
    out = tmp_path / "keep.csv"
    out.write_text("precious\n")
    out.chmod(0o444)
    result = run("analyze", "v1", "-f", "csv", "-o", str(out))
    assert result.exit_code == 2
    assert "read-only" in error_line(result.stderr)
    assert out.read_text() == "precious\n"      # also as root, who could have written it


def test_250_character_name(tmp_path):
    out = tmp_path / ("n" * 246 + ".csv")
    assert len(out.name) == 250
    result = run("analyze", "v1", "-f", "csv", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert V1_MACS in out.read_text()
    assert no_temporaries(tmp_path)


def test_name_too_long_is_one_line(tmp_path):
    result = run("analyze", "v1", "-o", str(tmp_path / ("n" * 300)))
    assert result.exit_code == 2 and "too long" in error_line(result.stderr)


@pytest.mark.parametrize("where, says", [("missing/out.csv", "does not exist"),
                                          (".", "is a directory"),
                                          ("sub/", "names a directory")])
def test_bad_paths_are_one_line(tmp_path, monkeypatch, where, says):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    result = run("analyze", "v1", "-o", where)
    assert result.exit_code == 2 and says in error_line(result.stderr)


def test_error_during_the_write_leaves_the_old_file(tmp_path):
    out = tmp_path / "old.txt"
    out.write_text("old\n")
    with pytest.raises(RuntimeError):
        with Output(str(out)) as handle:
            handle.write("half")
            raise RuntimeError("stop")
    assert out.read_text() == "old\n" and no_temporaries(tmp_path)


def test_write_atomic_bytes_and_partial_retarget(tmp_path):
    write_atomic(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    with Output(str(tmp_path / "x.csv")) as out:
        out.write("a\n")
        out.target = check_output(str(tmp_path / "x.partial.csv"))
    assert not (tmp_path / "x.csv").exists()
    assert (tmp_path / "x.partial.csv").read_text() == "a\n"


# ---------------------------------------------------------------------------------------------
# Item 7: every output checked before the work

def test_check_reports_are_checked_before_either_is_written(tmp_path):
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("budgets:\n  - model: v1\n    max_macs: 600M\n")
    md = tmp_path / "report.md"
    result = run("check", "--budget", str(budgets), "--report-md", str(md),
                 "--junit", str(tmp_path / "missing" / "junit.xml"))
    assert result.exit_code == 2
    assert "--junit" in error_line(result.stderr)
    assert not md.exists()


def test_sweep_plot_path_checked_before_the_data_file(tmp_path):
    data = tmp_path / "grid.csv"
    result = run("sweep", "v1", "-f", "csv", "-o", str(data),
                 "--plot", str(tmp_path / "nowhere" / "p.png"))
    assert result.exit_code == 2 and "--plot" in error_line(result.stderr)
    assert not data.exists()


def test_two_options_naming_one_file_are_refused(tmp_path):
    same = str(tmp_path / "same.out")
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("budgets:\n  - model: v1\n    max_macs: 600M\n")
    result = run("check", "--budget", str(budgets), "--report-md", same, "--junit", same)
    assert result.exit_code == 2 and "both write" in error_line(result.stderr)


def test_read_only_baseline_target_refused_before_computing(tmp_path):
    out = tmp_path / "base.json"
    out.write_text("{}")
    out.chmod(0o400)
    result = run("baseline", "write", "v1", "-o", str(out))
    assert result.exit_code == 2 and "read-only" in error_line(result.stderr)
    assert out.read_text() == "{}"


def test_check_output_unit(tmp_path):
    assert check_output("-").stream == 1
    assert check_output("/dev/stderr").stream == 2
    assert check_output("/dev/null").direct
    fresh = check_output(str(tmp_path / "f"))
    assert fresh.is_file and fresh.mode is None and not fresh.linked
    with pytest.raises(InputError, match="empty file name"):
        check_output("")


# ---------------------------------------------------------------------------------------------
# Item 8: signals, closed and full stdout (a real process: the console entry point)

def test_closed_stdout_is_exit_2_and_one_line():
    read, write = os.pipe()
    os.close(read)                         # the reader is gone before the first byte
    try:
        proc = subprocess.run([sys.executable, "-m", "mncost", "analyze", "v1", "--per-layer"],
                              stdout=write, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write)
    assert proc.returncode == 2
    assert "Broken pipe" in error_line(proc.stderr)     # no "Exception ignored" either


@pytest.mark.parametrize("args", [("analyze", "v1", "-f", "table"),
                                  ("analyze", "v1", "-f", "csv"), ("--help",), ("--version",),
                                  ("sweep", "v1", "--alpha", "0.5,1", "-f", "jsonl")])
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_full_stdout_is_exit_2_and_one_line(args):
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "mncost", *args],
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert proc.returncode == 2
    assert "No space left on device" in error_line(proc.stderr)


def test_sigterm_removes_the_temporary_file(tmp_path):
    returncode, err, out = signal_a_writing_sweep(tmp_path, signal.SIGTERM)
    assert returncode == 128 + signal.SIGTERM, err
    assert no_temporaries(tmp_path) and not os.path.exists(out)
    assert "Traceback" not in err


#: A console script ("from mncost.cli import main; main()") that sends itself SIGINT the moment
#: it starts importing ``module``: a deterministic Ctrl-C at that point of the start-up.
INTERRUPT_AT_IMPORT = """
import os, signal, sys
AT = sys.argv[1]
class Finder:
    def find_spec(self, name, path=None, target=None):
        if name == AT:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, Finder())
sys.argv = ["mncost", "analyze", "v1", "--per-layer"]
from mncost.cli import main
main()
"""


@pytest.mark.parametrize("module", ["click", "mncost.errors", "mncost.cli.analyze",
                                    "mncost.costs.analytic", "rich.console"])
def test_ctrl_c_at_start_up_is_130_and_one_line(module):
    proc = subprocess.run([sys.executable, "-c", INTERRUPT_AT_IMPORT, module],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          timeout=60)
    assert proc.returncode == 130, proc.stderr
    assert error_line(proc.stderr) == "mncost: error: interrupted"


def test_ctrl_c_after_a_tenth_of_a_second_is_130():
    proc = subprocess.Popen([sys.executable, "-m", "mncost", "sweep", "v1", "v2",
                             "--alpha", "0.1:4:0.001", "--res", "96:480:4", "-f", "csv"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert error_line(err) == "mncost: error: interrupted"


def test_ctrl_c_in_an_analytic_sweep_leaves_no_file(tmp_path, monkeypatch):
    import mncost.sweep.run as core

    real = core.iter_rows

    def interrupted(grid, per_layer=False, fast=True):
        for i, row in enumerate(real(grid, per_layer, fast)):
            if i == 3:
                raise KeyboardInterrupt
            yield row

    monkeypatch.setattr(core, "iter_rows", interrupted)
    out = tmp_path / "grid.csv"
    result = run("sweep", "v1", "--alpha", "0.25,0.5,0.75,1.0", "-f", "csv", "-o", str(out))
    assert result.exit_code == 130
    assert not out.exists() and no_temporaries(tmp_path)
