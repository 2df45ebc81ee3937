"""At most N lookups per client per minute: a sliding window of each client's recent tries."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

LOOKUPS_PER_MINUTE = 30  # per client, on the public tracking page
MAX_CLIENTS = 100_000  # beyond this the least recently seen clients are forgotten


class PerClient:
    def __init__(self, limit: int, window_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window_s, self.clock = limit, window_s, clock
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, client: str) -> float | None:
        """None if ``client`` may go ahead (and counts the try); else seconds to wait."""
        now = self.clock()
        with self._lock:
            tries = self._seen.get(client)
            if tries is None:
                tries = self._seen[client] = deque()
                if len(self._seen) > MAX_CLIENTS:
                    self._seen.popitem(last=False)
            self._seen.move_to_end(client)
            while tries and tries[0] <= now - self.window_s:
                tries.popleft()
            if len(tries) >= self.limit:
                return tries[0] + self.window_s - now
            tries.append(now)
            return None
