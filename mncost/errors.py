"""Error types of mncost.

The core raises these; the CLI maps them once to an exit code and a one-line message
(see ``mncost.cli.main``). Exit codes: 0 ok, 1 a check failed, 2 usage or input error.
"""

from __future__ import annotations


class MncostError(Exception):
    """Base class of every error the CLI reports as one line instead of a traceback."""

    exit_code = 2


class InputError(MncostError):
    """Bad user input that is not a spec: a width multiplier, a resolution, a file, a model
    name."""


class SpecError(InputError):
    """A spec file that cannot be read or is invalid.

    The message names the file, the line and the field, e.g.
    ``configs/my.yaml:12: layers[3].c: must be a positive integer, got -5``.
    """

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.detail = message
        super().__init__(self._format())

    def _format(self) -> str:
        where = self.file or "<spec>"
        if self.line is not None:
            where += f":{self.line}"
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.detail}"


class BuildError(MncostError):
    """A resolved network that the torch back end cannot build (names the layer)."""


class MissingDependency(MncostError):
    """An optional package (torch, fvcore, matplotlib) that a command needs is not installed."""

    def __init__(self, package: str, extra: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"this command needs {package}, which is not installed: "
            f"pip install 'mncost[{extra}]'"
            + (" (any torch >= 2.1 works: to choose your platform's build, install it from "
               "pytorch.org first)" if package == "torch" else "")
        )


class CheckFailed(MncostError):
    """A check that ran and found a difference (crosscheck mismatch, regression): exit 1."""

    exit_code = 1
