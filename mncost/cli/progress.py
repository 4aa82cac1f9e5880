"""Progress on stderr (tables go to stdout): the profiler's phases and a count bar for
sweeps. rich is imported when a display starts."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator


@contextmanager
def count_bar(label: str, total: int) -> Iterator[Callable[[], None]]:
    """A bar of ``total`` steps with elapsed and remaining time, yielding ``advance()``."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                        console=Console(stderr=True), transient=False)
    with progress:
        task = progress.add_task(label, total=total)
        yield lambda: progress.advance(task)


class ProgressDisplay:
    """A rich progress display on stderr (only when it is a terminal), as a context manager
    yielding the ``progress(phase, fraction, runs)`` callback the API calls between runs.

    There is no background refresh thread: the callback redraws, at most 4 times a second, on
    the measuring thread between timed runs, so drawing never competes with a timed run for
    a CPU core.
    """

    #: Seconds between redraws.
    INTERVAL = 0.25

    def __init__(self, console: Any = None) -> None:
        self._console = console

    def __enter__(self) -> Callable[[str, float, int], None]:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        console = self._console or Console(stderr=True)
        self._progress = Progress(TextColumn("{task.description:<10}"), BarColumn(),
                                  TaskProgressColumn(), TextColumn("{task.fields[runs]} runs"),
                                  TimeElapsedColumn(), console=console, transient=True,
                                  auto_refresh=False, disable=not console.is_terminal)
        self._tasks: dict[str, Any] = {}
        self._drawn = 0.0
        self._progress.start()
        return self._update

    def _update(self, phase: str, fraction: float, runs: int) -> None:
        task = self._tasks.get(phase)
        if task is None:
            task = self._tasks[phase] = self._progress.add_task(phase, total=1.0, runs=0)
        self._progress.update(task, completed=fraction, runs=runs)
        now = time.monotonic()
        if now - self._drawn >= self.INTERVAL or fraction >= 1.0:
            self._drawn = now
            self._progress.refresh()

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()
