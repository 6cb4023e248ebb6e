"""The one seeded subset of the package: which students' training examples,
which of a prompt source's questions or tasks, which of a teacher's filtered
samples survive equalising. Every draw is ``random.Random(seed)``, so a seed
gives the same items, in the same order, on every machine."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


def seeded_subset(
    items: Sequence[T],
    n: int | None,
    seed: int | str,
    *,
    keep_order: bool = True,
    draw: str = "shuffle",
    what: str | None = None,
) -> list[T]:
    """``n`` of ``items`` chosen with ``random.Random(seed)``; all of them
    when ``n`` is None or at least their number (logged with ``what``, the
    items' name, when that is more than there are).

    ``draw``: "shuffle" shuffles every position and takes the first ``n``;
    "sample" draws ``n`` positions with ``Random.sample``. Both are uniform,
    but give different items for one seed, so each caller keeps its own.
    ``keep_order``: the chosen items in their original order, else in the
    order drawn.
    """
    rng = random.Random(seed)
    if what is not None and n is not None and n > len(items):
        log.warning("%d %s asked for, the source has %d: using all", n, what, len(items))
    if draw == "shuffle":
        order = list(range(len(items)))
        rng.shuffle(order)
        if n is not None:
            order = order[:n]
    elif draw == "sample":
        order = rng.sample(range(len(items)), len(items) if n is None else min(n, len(items)))
    else:
        raise ValueError(f'draw must be "shuffle" or "sample", not {draw!r}')
    return [items[i] for i in (sorted(order) if keep_order else order)]
