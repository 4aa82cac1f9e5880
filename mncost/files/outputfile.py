"""Output files, written the way the Unix tools users know write them.

Every writer of mncost (``-o``, ``--plot``, ``--report-md``, ``--junit``, ``baseline write``,
a sweep's ``.partial`` file) goes through :func:`check_output` (before any work: the path is
checked, so a command never writes one file and then fails on the next) and :class:`Output`
(the write itself):

* ``-`` is stdout; ``/dev/stdout`` and ``/dev/stderr`` (and ``/dev/fd/1``, ``/dev/fd/2``) are
  the streams themselves.
* A device (``/dev/null``, ``/dev/full``), a FIFO or a socket is written to directly, never
  replaced.
* A regular file is written whole or not at all: into a temporary file beside it (a short name,
  ``.mncost-XXXXXXXX.tmp``, so a 250-character file name still fits in 255 bytes), then renamed
  over it. A symlink is followed: its target is replaced and the link stays. The file's mode is
  kept (0600 stays 0600); a new file gets ``0666 & ~umask``, as ``>`` would give it.
* A file with other hard links keeps its inode, so the links still share it: the whole content
  is first written to the temporary file (an error up to there leaves the file untouched), then
  copied into the file in place (truncate and write), which is the one case that is not atomic
  for a concurrent reader.
* A read-only file is refused, also for root (who could overwrite it): its write bits are
  checked, not only :func:`os.access`.
* An interrupted write (an error, Ctrl-C, SIGTERM through the CLI's handler) removes the
  temporary file.
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass
from typing import IO, Any, Iterable

from ..errors import InputError

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
    """

    given: str
    path: str = ""
    stream: int = 0
    direct: bool = False
    mode: int | None = None
    linked: bool = False

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
    if st is None:
        return OutputPath(given=text, path=real)
    return OutputPath(given=text, path=real, mode=stat.S_IMODE(st.st_mode),
                      linked=st.st_nlink > 1)


def check_outputs(*named: tuple[str, str | os.PathLike | OutputPath | None]
                  ) -> list[OutputPath | None]:
    """:func:`check_output` for each ``(option, path)`` (None: not given), all before any
    work; two options naming one regular file are refused too."""
    checked = [None if path is None else check_output(path, what) for what, path in named]
    seen: dict[str, str] = {}
    for (what, _), out in zip(named, checked):
        if out is None or not out.is_file:
            continue
        if out.path in seen:
            raise InputError(f"{seen[out.path]} and {what} both write {out.given}")
        seen[out.path] = what
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
        text_args = {} if self.binary else {"encoding": "utf-8", "newline": ""}
        try:
            if target.stream:
                stream = sys.stdout if target.stream == 1 else sys.stderr
                self._handle = stream.buffer if self.binary else stream
            elif target.direct:
                self._handle = open(target.path, mode, **text_args)
            else:
                import tempfile  # not at import: the analytic start-up stays small

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
            with open(tmp, "rb") as source, open(target.path, "r+b") as dest:
                dest.truncate(0)
                while True:
                    chunk = source.read(1 << 20)
                    if not chunk:
                        break
                    dest.write(chunk)
                dest.flush()
                os.fsync(dest.fileno())
            os.unlink(tmp)
        else:
            if target.mode is not None:
                _keep_owner(tmp, target.path)
            os.replace(tmp, target.path)
        _LIVE.discard(tmp)
        self._handle = None


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
