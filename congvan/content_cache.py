"""What a process computes from a file's bytes, kept by the bytes' sha256: compiled templates, a template's
measures. Keyed by content, not by path or mtime, so a copy of a file (another campaign's folder, a test's copy of
the project) is worked on once and a changed file again, whatever its timestamps say."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class ContentCache(Generic[T]):
    """The last ``size`` results, most recently used kept; safe to share between threads (a flow's tasks).
    A result must not be changed by those who get it: they share it."""

    def __init__(self, size: int = 32) -> None:
        self._size = size
        self._items: OrderedDict[bytes, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, data: bytes, make: Callable[[bytes], T]) -> T:
        """``make(data)``, or what it returned for the same bytes before. An exception is not kept."""
        key = hashlib.sha256(data).digest()
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        made = make(data)  # outside the lock: two threads may both make it, and both get an equal result
        with self._lock:
            self._items[key] = made
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return made
