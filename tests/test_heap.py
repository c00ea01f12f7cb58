"""serve leaves its start-up heap out of garbage collection, after collecting the garbage."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from bot.runtime import settle_heap


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


@pytest.fixture
def unfreeze() -> Iterator[None]:
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("unfreeze")
def test_start_up_objects_are_frozen_and_start_up_garbage_is_not() -> None:
    kept = Node()
    freed: list[bool] = []
    garbage = Node()
    weakref.finalize(garbage, freed.append, True)
    del garbage

    frozen = settle_heap()

    assert freed == [True]  # collected first, not kept for the life of the process
    assert frozen > 0
    assert not any(o is kept for o in gc.get_objects(generation=2))  # out of every collection
    assert kept.me is kept
