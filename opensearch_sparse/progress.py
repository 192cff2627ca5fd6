"""How long library calls report progress without knowing who is watching.

A call that takes a while accepts plain callables: a ``Status`` gets one-line updates
("uploading chunk 2/3"), an ``Advance`` gets counts of finished items. The CLI passes a rich
spinner or bar, tests and scripts pass nothing and get ``quiet``. A call made of several such
steps (the demo) takes one ``Listener`` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol

Status = Callable[[str], None]
Advance = Callable[[int], None]


def quiet(_: object) -> None:
    """The listener for callers that want no progress."""
    return None


class Listener(Protocol):
    """What a multi-step library call (the demo) tells its caller while it works."""

    def step(self, message: str) -> None:
        """A step finished; ``message`` says what it did."""

    def status(self, title: str) -> AbstractContextManager[Status]:
        """A step of unknown length is running; updates go to the yielded ``Status``."""

    def counter(self, title: str, total: int | None) -> AbstractContextManager[Advance]:
        """A step over ``total`` items is running; the yielded ``Advance`` counts them."""


class Silent:
    """A ``Listener`` that shows nothing (library callers, tests)."""

    def step(self, message: str) -> None:
        return None

    def status(self, title: str) -> AbstractContextManager[Status]:
        return nullcontext(quiet)

    def counter(self, title: str, total: int | None) -> AbstractContextManager[Advance]:
        return nullcontext(quiet)
