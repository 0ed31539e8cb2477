"""How a long-running job reports progress without printing: it calls a :class:`Progress`.

Jobs take ``progress: Progress = NO_PROGRESS``; the stage's ``cli.py`` passes the one rich display
(:func:`pipelines.common.cli.progress_display`), tests and libraries pass nothing.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Named tasks, each with an optional total (None: a spinner with elapsed time, e.g. a model load)."""

    def start(self, task: str, total: float | None = None) -> None:
        """Begin (or restart with a new total) the task ``task``."""

    def advance(self, task: str, n: float = 1) -> None:
        """``n`` more units of ``task`` are done."""

    def finish(self, task: str) -> None:
        """``task`` is complete."""


class _NoProgress:
    """The silent reporter."""

    def start(self, task: str, total: float | None = None) -> None:
        pass

    def advance(self, task: str, n: float = 1) -> None:
        pass

    def finish(self, task: str) -> None:
        pass


NO_PROGRESS: Progress = _NoProgress()
