"""A compact set of custom_ids: 8 bytes per id, for inputs of millions of lines.

Each id is kept as a 64-bit BLAKE2b hash in an open-addressing table (an `array('Q')`, linear probing,
at most half full): about 16 MB for a million ids, where a Python set of the strings would take 80-100
MB. Two distinct ids collide with probability about n²/2⁶⁴ (3 in 10⁸ for a million), in which case
the second would be reported as a duplicate. Standard library only.
"""

from __future__ import annotations

from array import array
from hashlib import blake2b

_EMPTY = 0


def id_hash(custom_id: str) -> int:
    """The id's 64-bit hash, never 0 (0 marks an empty slot)."""
    digest = blake2b(custom_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little") | 1


class IdSet:
    __slots__ = ("_slots", "_mask", "_count")

    def __init__(self, capacity: int = 1 << 12):
        size = 1
        while size < capacity:
            size <<= 1
        self._slots = array("Q", bytes(8 * size))
        self._mask = size - 1
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def _find(self, h: int) -> tuple[int, bool]:
        """The slot that holds `h`, or the empty one where it would go; and whether it is there."""
        slots, mask = self._slots, self._mask
        i = (h >> 1) & mask
        while True:
            seen = slots[i]
            if seen == _EMPTY:
                return i, False
            if seen == h:
                return i, True
            i = (i + 1) & mask

    def add(self, custom_id: str) -> bool:
        """Record an id; False when it was there already."""
        h = id_hash(custom_id)
        i, found = self._find(h)
        if found:
            return False
        self._slots[i] = h
        self._count += 1
        if self._count * 2 > self._mask:
            self._grow()
        return True

    def __contains__(self, custom_id: str) -> bool:
        return self._find(id_hash(custom_id))[1]

    def _grow(self) -> None:
        old = self._slots
        size = (self._mask + 1) * 2
        slots = array("Q", bytes(8 * size))
        mask = size - 1
        for h in old:
            if h == _EMPTY:
                continue
            i = (h >> 1) & mask
            while slots[i] != _EMPTY:
                i = (i + 1) & mask
            slots[i] = h
        self._slots, self._mask = slots, mask
