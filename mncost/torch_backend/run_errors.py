"""Failures while a model runs (no kernel for a dtype, out of memory, compile not working here),
translated into one-line :class:`~mncost.errors.InputError` s."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from ..errors import InputError
from ..measure.profile_options import ProfileOptions


def _one_line(exc: BaseException, limit: int = 200) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text
                                              or "can't allocate memory" in text)


def _translate(exc: BaseException, device: torch.device, options: ProfileOptions,
               first_run: bool) -> InputError | None:
    """The one-line error for a failure while preparing or running, or ``None`` to re-raise.

    Out of memory -> a batch that does not fit; "not implemented for 'Half'" and the like
    with a non-default dtype -> a dtype the device does not run; anything else during the
    first compiled run -> compile does not work here.
    """
    if _is_oom(exc):
        return InputError(f"batch {options.batch} does not fit in {device} memory "
                          f"({_one_line(exc, 120)}); try a smaller --batch")
    text = str(exc)
    if (options.dtype != "float32" and isinstance(exc, (RuntimeError, TypeError))
            and ("not implemented for" in text or "not supported" in text)):
        return InputError(f"dtype {options.dtype} is not supported on {device}: "
                          f"{_one_line(exc, 120)}")
    if options.compile and first_run:
        return InputError(f"--compile failed on this machine: {type(exc).__name__}: "
                          f"{_one_line(exc, 160)}")
    return None


@contextlib.contextmanager
def _run_errors(device: torch.device, options: ProfileOptions, first_run: bool = False
                ) -> Iterator[None]:
    """Turn the known run-time failures into one-line :class:`InputError` (exit 2)."""
    try:
        yield
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - classified, unknown ones re-raised
        error = _translate(exc, device, options, first_run)
        if error is None:
            raise
        if device.type == "cuda":
            torch.cuda.empty_cache()
        raise error from None
