"""The simulator's source of randomness: a seeded ``random.Random`` with two fast draws.

``choice`` and ``randrange`` reject and redraw to be exactly uniform, which costs more than
everything else a scan needs; a parcel simulator makes millions of such draws and does not
need that last bit of exactness, so :meth:`Dice.pick` and :meth:`Dice.whole` scale one
``random()`` instead. Same seed, same draws, on every platform.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


class Dice(random.Random):
    def pick(self, items: Sequence[T]) -> T:
        """One of ``items``, each as likely."""
        return items[int(self.random() * len(items))]

    def whole(self, lo: int, hi: int) -> int:
        """A whole number from ``lo`` to ``hi``, both included."""
        return lo + int(self.random() * (hi - lo + 1))
