"""Progress on stderr (tables go to stdout): the profiler's phases, a count bar for sweeps,
and counted progress lines (``calibrate``'s rounds) as a bar. rich is imported when a display
starts."""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator


def _counted_bar(description: str, console: Any, **options: Any) -> Any:
    """A rich bar of counted steps: ``description``, the bar, done/total, elapsed, ETA."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                    console=console, transient=False, **options)


@contextmanager
def count_bar(label: str, total: int) -> Iterator[Callable[[], None]]:
    """A bar of ``total`` steps with elapsed and remaining time, yielding ``advance()``."""
    from rich.console import Console

    progress = _counted_bar(label, Console(stderr=True))
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


#: A counted progress line: ``round 3/38 done (12 s of 180 s)``, ``built 10/57 networks``.
_COUNTED = re.compile(r"(?P<label>[A-Za-z][\w-]*) (?P<done>\d+)/(?P<total>\d+)\b")


class LineProgress:
    """``progress(line)`` for a command whose core reports progress as lines of text
    (``calibrate``), as a context manager yielding that callback.

    A counted line (``round 3/38 done``) moves a bar on a terminal: one per label (``round``,
    ``built``), with the count, elapsed time and ETA. Where stderr is not a terminal (a CI
    log), counted lines are written sparsely: the first, one at each quarter and the last.
    Every other line is written as it comes, prefixed ``mncost: ``. Like
    :class:`ProgressDisplay`, nothing redraws in the background: the callback draws, between
    the core's timed runs.
    """

    #: Counted lines written without a terminal: at the first, each quarter and the last.
    STEPS = 4

    def __init__(self, console: Any = None) -> None:
        self._console = console

    def __enter__(self) -> Callable[[str], None]:
        from rich.console import Console

        self.console = self._console or Console(stderr=True)
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._steps: dict[str, int] = {}      # without a terminal: the last quarter written
        if self.console.is_terminal:
            self._progress = _counted_bar("{task.description:<8}", self.console,
                                          auto_refresh=False)
            self._progress.start()
        return self._line

    def _line(self, line: str) -> None:
        from rich.text import Text

        from ..render.text import visible

        counted = _COUNTED.match(line)
        if counted is None:
            self.console.print(Text(f"mncost: {visible(line)}"), soft_wrap=True)
            if self._progress is not None:
                self._progress.refresh()
            return
        label, done, total = counted["label"], int(counted["done"]), int(counted["total"])
        if self._progress is None:
            step = self.STEPS * done // max(total, 1)
            if label not in self._steps or done == total or step > self._steps[label]:
                self._steps[label] = step
                self.console.print(Text(f"mncost: {visible(line)}"), soft_wrap=True)
            return
        task = self._tasks.get(label)
        if task is None:
            task = self._tasks[label] = self._progress.add_task(label, total=total)
        self._progress.update(task, completed=done, total=total)
        self._progress.refresh()

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
