"""Output files, written the way the Unix tools users know write them.

Every writer of mncost (``-o``, ``--plot``, ``--report-md``, ``--junit``, ``baseline write``,
a sweep's ``.partial`` file) goes through :func:`check_output` (before any work: the path is
checked, so a command never writes one file and then fails on the next) and :class:`Output`
(the write itself):

* ``-`` is stdout; ``/dev/stdout`` and ``/dev/stderr`` (and ``/dev/fd/1``, ``/dev/fd/2``) are
  the streams themselves.
* A device (``/dev/null``), a FIFO or a socket is written to directly, never replaced;
  ``/dev/full``, where every write fails, is refused before the work.
* A regular file is written whole or not at all: into a temporary file beside it (a short name,
  ``.mncost-XXXXXXXX.tmp``, so a 250-character file name still fits in 255 bytes), then renamed
  over it. A symlink is followed: its target is replaced and the link stays. The file's mode is
  kept (0600 stays 0600); a new file gets ``0666 & ~umask``, as ``>`` would give it.
* A file with other hard links keeps its inode, so the links still share it: the whole content
  is first written to the temporary file (an error up to there leaves the file untouched), then
  copied into the file in place, which is the one case that is not atomic for a concurrent
  reader. The copy is whole or nothing all the same: the blocks the new content needs are
  allocated first (``posix_fallocate``; where a file system lacks it, the part past the old end
  is written first), and a full disk there cuts the file back to its old size with its old
  content; only then is the old content overwritten, in place, which needs no new blocks (on
  file systems that overwrite in place: ext4, xfs, tmpfs; a copy-on-write one such as btrfs
  may still fill). The copy runs with SIGINT, SIGTERM and SIGHUP held (:func:`held_signals`).
* Outputs are told apart by identity, ``(st_dev, st_ino)``: two options naming one file (or two
  hard links of it) are refused, and so is an output that is one of the command's inputs
  (:func:`check_outputs`); an input read through an option-less path (a spec's ``extends:``)
  is caught when the write starts (:func:`mncost.files.inputfile.was_read`).
* Text is UTF-8; a character that cannot be encoded (a file name that is not UTF-8 reaches
  Python as lone surrogates) is written as a backslash escape (``\\xff``), never a crash
  (:data:`ESCAPE`, also used for stdout by the CLI).
* A read-only file is refused, also for root (who could overwrite it): its write bits are
  checked, not only :func:`os.access`.
* An interrupted write (an error, Ctrl-C, SIGTERM through the CLI's handler) removes the
  temporary file.
"""

from __future__ import annotations

import codecs
import errno
import os
import signal
import stat
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, Iterable, Iterator

from ..errors import InputError
from .inputfile import file_identity, was_read

#: What ``-o`` takes for stdout.
STDOUT = "-"
#: Paths that are the process's own streams (written to as they are, never opened).
_STREAMS = {"/dev/stdout": 1, "/dev/fd/1": 1, "/proc/self/fd/1": 1,
            "/dev/stderr": 2, "/dev/fd/2": 2, "/proc/self/fd/2": 2}
#: Longest file name (bytes) where the file system does not say.
NAME_MAX = 255


@dataclass(frozen=True)
class OutputPath:
    """A checked output path.

    Attributes:
        given: the path as the user wrote it (messages name it).
        path: the file written (symlinks followed); "" for a stream.
        stream: 1 (stdout) or 2 (stderr) for the process's own streams, else 0.
        direct: written to directly (a device, a FIFO, a socket), never replaced.
        mode: the existing file's permission bits, or None for a new file.
        linked: an existing file with other hard links (rewritten in place).
        identity: ``(st_dev, st_ino)`` of an existing regular file, else None.
    """

    given: str
    path: str = ""
    stream: int = 0
    direct: bool = False
    mode: int | None = None
    linked: bool = False
    identity: tuple[int, int] | None = None

    @property
    def is_file(self) -> bool:
        """A regular file (told on stderr as ``wrote FILE``)."""
        return not self.stream and not self.direct

    def __str__(self) -> str:
        return self.given


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_output(given: str | os.PathLike | OutputPath, what: str = "") -> OutputPath:
    """Check that ``given`` can be written, without writing it.

    Raises:
        InputError: a directory, a missing directory, a read-only file or directory, a
            name too long; the message names the path (and ``what``, e.g. ``--plot``).
    """
    if isinstance(given, OutputPath):
        return given
    text = os.fspath(given)
    label = f"{what}: " if what else ""
    if text == STDOUT:
        return OutputPath(given=text, stream=1)
    if not text:
        raise InputError(f"{label}an empty file name")
    if text in _STREAMS:
        return OutputPath(given=text, stream=_STREAMS[text])
    if text.endswith(os.sep):
        raise InputError(f"{label}cannot write {text}: it names a directory")
    real = os.path.realpath(text)
    try:
        st = os.stat(real)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise InputError(f"{label}cannot write {text}: {exc.strerror or exc}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise InputError(f"{label}cannot write {text}: it is a directory")
    if st is not None and not stat.S_ISREG(st.st_mode):
        if not os.access(real, os.W_OK):
            raise InputError(f"{label}cannot write {text}: permission denied")
        if stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (1, 7):
            # Linux's /dev/full: every write fails, so say it before the work, not after
            raise InputError(f"{label}cannot write {text}: {os.strerror(errno.ENOSPC)} (it "
                             "is /dev/full)")
        return OutputPath(given=text, path=real, direct=True)
    directory = os.path.dirname(real) or "."
    if not os.path.isdir(directory):
        raise InputError(f"{label}cannot write {text}: directory {os.path.dirname(text)} "
                         "does not exist")
    try:
        name_max = os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = NAME_MAX
    if len(os.fsencode(os.path.basename(real))) > name_max:
        raise InputError(f"{label}cannot write {text}: the file name is longer than "
                         f"{name_max} bytes")
    if st is not None and (not st.st_mode & 0o222 or not os.access(real, os.W_OK)):
        raise InputError(f"{label}{text} is read-only; not overwritten (make it writable or "
                         "choose another file)")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise InputError(f"{label}cannot write {text}: directory "
                         f"{os.path.dirname(text) or '.'} is not writable")
    _try_directory(directory, f"{label}cannot write {text}")
    if st is None:
        return OutputPath(given=text, path=real)
    return OutputPath(given=text, path=real, mode=stat.S_IMODE(st.st_mode),
                      linked=st.st_nlink > 1, identity=(st.st_dev, st.st_ino))


def _try_directory(directory: str, cannot: str) -> None:
    """Create (and remove) a temporary file in ``directory``: what the write will do, tried
    now, so a read-only file system, or one that refuses even root (``/proc``, ``/sys``), is
    refused before the work rather than after it."""
    import tempfile

    try:
        fd, probe = tempfile.mkstemp(prefix=".mncost-", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise InputError(f"{cannot}: {exc.strerror or exc}") from None
    os.close(fd)
    try:
        os.unlink(probe)
    except OSError:
        pass


def stdout_identity() -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of stdout when it is a regular file (``>`` or ``>>`` a file)."""
    try:
        st = os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):   # no file descriptor (a test's buffer)
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def check_outputs(*named: tuple[str, str | os.PathLike | OutputPath | None],
                  inputs: Iterable[tuple[str, str | os.PathLike | None]] = ()
                  ) -> list[OutputPath | None]:
    """:func:`check_output` for each ``(option, path)`` (None: not given), all before any
    work. Refused too: two options writing one file (one path, or one inode through hard
    links or symlinks), and an output (stdout included, when it is a file) that is one of
    ``inputs`` (``(option, path)`` of what the command reads; a value that names no regular
    file, a built-in model, is skipped)."""
    checked = [None if path is None else check_output(path, what) for what, path in named]
    seen: dict[object, str] = {}
    for (what, _), out in zip(named, checked):
        if out is None or not out.is_file:
            continue
        for key in filter(None, (out.path, out.identity)):
            if key in seen:
                raise InputError(f"{seen[key]} and {what} both write {out.given}")
        seen.update({key: what for key in filter(None, (out.path, out.identity))})
    stdout = stdout_identity()
    for what, path in inputs:
        identity = file_identity(path) if path is not None and path != "" else None
        if identity is not None and identity[:2] in seen:
            raise InputError(f"{seen[identity[:2]]} names {path}, the input of {what}: it is "
                             "not overwritten (choose another file)")
        if identity is not None and identity[:2] == stdout:
            raise InputError(f"stdout is {path}, the input of {what}: it is not written to "
                             "(redirect stdout to another file)")
    return checked


#: Temporary files being written (removed by :func:`remove_temporaries` on SIGTERM).
_LIVE: set[str] = set()


def remove_temporaries() -> None:
    """Remove every temporary file still being written (the CLI's SIGTERM handler)."""
    for tmp in list(_LIVE):
        try:
            os.unlink(tmp)
        except OSError:
            pass
        _LIVE.discard(tmp)


#: Signals that end mncost (SIGHUP where the platform has it), held during an in-place copy.
ENDING_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                       if hasattr(signal, name))


@contextmanager
def held_signals() -> Iterator[None]:
    """Block :data:`ENDING_SIGNALS` for the block (they are delivered, and acted on, after it):
    for a step that must not be cut in the middle. A no-op where signals cannot be masked."""
    try:
        before = signal.pthread_sigmask(signal.SIG_BLOCK, ENDING_SIGNALS)
    except (AttributeError, ValueError, OSError):   # no pthread_sigmask (Windows)
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


#: The encoding error handler of every text output: a file name that is not UTF-8 (its bytes
#: reach Python as lone surrogates, U+DC80..U+DCFF) is written as ``\xNN``; on a stream that
#: cannot encode a symbol (an ASCII terminal), the symbols mncost prints have ASCII spellings,
#: and any other character is written as ``\uNNNN``.
ESCAPE = "mncost-escape"
#: ASCII spellings of the symbols in mncost's output, for a stream that cannot encode them.
ASCII_SYMBOLS = {"\u2705": "[ok]", "\u274c": "[FAIL]", "\u00b1": "+/-", "\u221d": "~",
                 "\u2264": "<=", "\u2265": ">=", "\u00d7": "x", "\u2192": "->",
                 "\u2026": "...", "\u2013": "-", "\u2014": "--", "\u00b5": "u",
                 "\u2248": "~=", "\u2212": "-", "\u2191": "^", "\u2193": "v"}


def _escape(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    out = []
    for ch in error.object[error.start:error.end]:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch in ASCII_SYMBOLS:
            out.append(ASCII_SYMBOLS[ch])
        else:
            out.append(ch.encode("ascii", "backslashreplace").decode("ascii"))
    return "".join(out), error.end


codecs.register_error(ESCAPE, _escape)


class Output:
    """Write one output whole or not at all (see the module docstring).

    Use as a context manager: ``with Output(target) as out: out.write(text)``. Leaving the block
    normally puts the file in place; an exception removes the temporary file. Setting
    :attr:`target` inside the block (a sweep's ``.partial`` file) renames it there instead.
    """

    def __init__(self, target: str | os.PathLike | OutputPath, binary: bool = False) -> None:
        self.target = check_output(target)
        self.binary = binary
        self._tmp: str | None = None
        self._handle: IO[Any] | None = None

    def __enter__(self) -> "Output":
        target = self.target
        mode = "wb" if self.binary else "w"
        text_args = {} if self.binary else {"encoding": "utf-8", "newline": "",
                                            "errors": ESCAPE}
        try:
            if target.stream:
                stream = sys.stdout if target.stream == 1 else sys.stderr
                self._handle = stream.buffer if self.binary else stream
            elif target.direct:
                self._handle = open(target.path, mode, **text_args)
            else:
                import tempfile  # not at import: the analytic start-up stays small

                _refuse_an_input(target)

                fd, self._tmp = tempfile.mkstemp(prefix=".mncost-", suffix=".tmp",
                                                 dir=os.path.dirname(target.path) or ".")
                _LIVE.add(self._tmp)
                self._handle = os.fdopen(fd, mode, **text_args)
        except OSError as exc:
            raise InputError(f"cannot write {target}: {exc.strerror or exc}") from None
        return self

    def write(self, data: str | bytes) -> None:
        try:
            self._handle.write(data)  # type: ignore[union-attr]
        except OSError as exc:
            if self.target.stream:
                raise
            raise InputError(f"cannot write {self.target}: {exc.strerror or exc}") from None

    def writelines(self, lines: Iterable[str | bytes]) -> None:
        for line in lines:
            self.write(line)

    def __exit__(self, kind, exc, tb) -> None:
        if kind is not None:
            self._discard()
            return
        try:
            self._finish()
        except BaseException as error:
            self._discard()
            if isinstance(error, OSError) and not self.target.stream:
                raise InputError(f"cannot write {self.target}: "
                                 f"{error.strerror or error}") from None
            raise

    def _discard(self) -> None:
        handle, self._handle = self._handle, None
        if self.target.stream or handle is None:
            return
        try:
            handle.close()
        except OSError:
            pass
        if self._tmp:
            try:
                os.unlink(self._tmp)
            except OSError:
                pass
            _LIVE.discard(self._tmp)

    def _finish(self) -> None:
        handle = self._handle
        if self.target.stream:
            handle.flush()  # type: ignore[union-attr]
            return
        if self.target.direct:
            handle.close()  # type: ignore[union-attr]
            return
        target = self.target
        handle.flush()  # type: ignore[union-attr]
        os.fsync(handle.fileno())  # type: ignore[union-attr]
        handle.close()  # type: ignore[union-attr]
        tmp = self._tmp
        assert tmp is not None
        os.chmod(tmp, target.mode if target.mode is not None else 0o666 & ~_umask())
        if target.linked:
            # Keep the inode the other links share: copy the finished content in place.
            _refuse_an_input(target)
            copy_in_place(tmp, target.path)
            os.unlink(tmp)
        else:
            if target.mode is not None:
                _keep_owner(tmp, target.path)
            os.replace(tmp, target.path)
        _LIVE.discard(tmp)
        self._handle = None


def _refuse_an_input(target: OutputPath) -> None:
    """The last guard of :func:`check_outputs`: a file this command has read (a spec's
    ``extends:`` parent, say, which no option names) is not replaced by its output."""
    if target.path and was_read(target.path):
        raise InputError(f"cannot write {target}: it is an input of this command; it is not "
                         "overwritten (choose another file)")


#: Errors of a full disk (or quota): the in-place copy puts the old size back on these.
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
#: Bytes copied at a time.
_CHUNK = 1 << 20


def copy_in_place(source: str, path: str) -> None:
    """Copy the file ``source`` over the file ``path``, keeping ``path``'s inode, whole or not
    at all when the disk is full (module docstring), with :func:`held_signals`.

    Raises:
        OSError: the copy failed; on a full disk ``path`` has its old size and content.
    """
    with held_signals():
        src = os.open(source, os.O_RDONLY)
        try:
            dst = os.open(path, os.O_RDWR)
            try:
                _copy_fds(src, dst)
            finally:
                os.close(dst)
        finally:
            os.close(src)


def _copy_fds(src: int, dst: int) -> None:
    new, old = os.fstat(src).st_size, os.fstat(dst).st_size
    try:
        # Allocate every block the new content needs (holes included) before anything is
        # overwritten; without fallocate, grow the file by writing the part past its old end.
        fallocate = getattr(os, "posix_fallocate", None)   # not on macOS
        try:
            if new and fallocate is not None:
                fallocate(dst, 0, new)
        except OSError as exc:
            if exc.errno in _FULL:
                raise
        if new > old:
            _copy_range(src, dst, old, new)
    except OSError as exc:
        if exc.errno in _FULL:
            os.ftruncate(dst, old)   # the old content is untouched: only its end is cut back
        raise
    _copy_range(src, dst, 0, min(old, new))
    if new < old:
        os.ftruncate(dst, new)
    os.fsync(dst)


def _copy_range(src: int, dst: int, start: int, end: int) -> None:
    offset = start
    while offset < end:
        chunk = os.pread(src, min(_CHUNK, end - offset), offset)
        if not chunk:
            raise OSError(errno.EIO, "the temporary file ended early")
        view = memoryview(chunk)
        while view:
            written = os.pwrite(dst, view, offset)
            view = view[written:]
            offset += written


def _keep_owner(tmp: str, path: str) -> None:
    """Root replacing another user's file gives the new file the old owner (as an in-place
    write would have); anyone else cannot and need not."""
    try:
        st = os.stat(path)
        if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
            os.chown(tmp, st.st_uid, st.st_gid)
    except (OSError, AttributeError):
        pass


def write_atomic(path: str | os.PathLike | OutputPath, data: str | bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (:class:`Output`)."""
    with Output(path, binary=isinstance(data, bytes)) as out:
        out.write(data)
