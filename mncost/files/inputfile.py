"""Reading input files (specs, budgets, baselines) within bounds, and JSON safely.

Every file mncost reads goes through :func:`read_limited`: only a regular file is read (a
device such as ``/dev/zero``, a FIFO or a socket would never end or would block), and at most
the size limit of its kind (:mod:`mncost.limits`). :func:`load_json` bounds nesting and number
sizes, and what the parse will build before it runs (objects, arrays, members:
:func:`check_json_shape`), so memory is bounded by what the file holds, not only by its bytes.
"""

from __future__ import annotations

import json
import math
import os
import stat
from typing import Any

from ..limits import MAX_DEPTH, MAX_INT_DIGITS, MAX_JSON_CONTAINERS, MAX_JSON_MEMBERS


class Refused(Exception):
    """A file or document that is not read, and why (the caller adds the file name)."""


#: ``(st_dev, st_ino, st_ctime_ns)`` of every file read since :func:`forget_reads` (the CLI
#: calls it as each command starts): an output must never replace one of them. The change time
#: tells a file read from a later one that reuses its inode number.
_READ: set[tuple[int, int, int]] = set()


def file_identity(path: str | os.PathLike) -> tuple[int, int, int] | None:
    """``(st_dev, st_ino, st_ctime_ns)`` of the regular file ``path`` (symlinks followed), or
    None when it is no regular file or cannot be looked at."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino, st.st_ctime_ns) if stat.S_ISREG(st.st_mode) else None


def was_read(path: str | os.PathLike) -> bool:
    """Whether the file ``path`` is one this command has read (:data:`_READ`)."""
    identity = file_identity(path)
    return identity is not None and identity in _READ


def forget_reads() -> None:
    """Start a new command: no file has been read yet."""
    _READ.clear()


def read_limited(path: str | os.PathLike, max_bytes: int) -> str:
    """The UTF-8 text of the regular file ``path``, at most ``max_bytes`` long.

    Raises:
        FileNotFoundError: no such file.
        Refused: not a regular file, too large, or not UTF-8 text.
        OSError: any other reason it cannot be read (permissions...).
    """
    # O_NONBLOCK: opening a FIFO must not wait for a writer before fstat can refuse it.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        st = os.fstat(fd)
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            raise Refused("is a directory, not a regular file")
        if not stat.S_ISREG(mode):
            raise Refused("not a regular file (devices, FIFOs and sockets are not read)")
        _READ.add((st.st_dev, st.st_ino, st.st_ctime_ns))
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > max_bytes:
        raise Refused(f"larger than the limit of {max_bytes:,} bytes")
    data = b"".join(chunks)
    chunks.clear()   # the file is held once, not twice, while it is decoded
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(f"not UTF-8 text (byte {exc.start})") from None


def check_json_shape(text: str) -> None:
    """Refuse JSON ``text`` whose parse would build too much, before it runs: more than
    :data:`MAX_JSON_CONTAINERS` objects and arrays, or more than :data:`MAX_JSON_MEMBERS`
    array items and object members. Counted as the characters that open them (``{``, ``[``)
    and separate them (``,``, ``:``), strings included: an upper bound, in linear time and
    without a copy of the text (blanking the strings first would itself cost ten times the
    text on a file of short strings).

    Raises:
        Refused: which bound, and the count.
    """
    containers = text.count("{") + text.count("[")
    if containers > MAX_JSON_CONTAINERS:
        raise Refused(f"holds {containers:,} JSON objects and arrays (at most "
                      f"{MAX_JSON_CONTAINERS:,})")
    members = text.count(",") + text.count(":")
    if members > MAX_JSON_MEMBERS:
        raise Refused(f"holds about {members:,} JSON array items and object members (at most "
                      f"{MAX_JSON_MEMBERS:,})")


def deeper_than(doc: Any, limit: int) -> bool:
    """Whether parsed JSON nests objects and arrays more than ``limit`` deep (no recursion)."""
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def bounded_int(text: str) -> int:
    """``parse_int`` of :func:`json.loads`: an integer of at most :data:`MAX_INT_DIGITS` digits
    (a longer one would cost quadratic time to convert)."""
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {digits:,} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` of :func:`json.loads`: an object with a key given twice is refused
    (:mod:`json` would keep the last one, silently; YAML files are held to the same rule).

    Raises:
        ValueError: ``duplicate key 'name'``.
    """
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key[:80]!r} (each key once per object)")
            seen.add(key)
    return result


def load_json(text: str) -> Any:
    """Parse JSON of a bounded size (:func:`check_json_shape`) and depth (:data:`MAX_DEPTH`;
    the parser's own recursion limit stops a deeper one first), integers of at most
    :data:`MAX_INT_DIGITS` digits, finite floats, no ``NaN``/``Infinity`` and no key given
    twice in one object (:func:`unique_keys`).

    Raises:
        Refused: with a one-line reason (line and column for syntax errors).
    """
    check_json_shape(text)
    try:
        doc = json.loads(text, parse_int=bounded_int, parse_float=_float,
                         parse_constant=_constant, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as exc:
        raise Refused(f"invalid JSON at line {exc.lineno}, column {exc.colno}: "
                      f"{exc.msg}") from None
    except (ValueError, RecursionError) as exc:
        raise Refused(str(exc) if isinstance(exc, ValueError) else
                      f"nested more than {MAX_DEPTH} levels deep") from None
    if isinstance(doc, (dict, list)) and deeper_than(doc, MAX_DEPTH):
        raise Refused(f"nested more than {MAX_DEPTH} levels deep")
    return doc
