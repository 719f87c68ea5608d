"""Login throttling per client address: a sliding window, in memory, per process.

Works with the per-account lock-out in the service: the lock-out stops guessing one
account's password, the window stops one address from trying many accounts.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta


class LoginThrottle:
    def __init__(self, *, attempts: int = 20, window: timedelta = timedelta(minutes=5)) -> None:
        self.attempts = attempts
        self.window = window
        self._seen: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def retry_after(self, address: str, now: datetime) -> int | None:
        """Seconds to wait when ``address`` has used up its attempts, else None."""
        with self._lock:
            seen = self._seen.get(address)
            if seen is None:
                return None
            while seen and now - seen[0] > self.window:
                seen.popleft()
            if len(seen) < self.attempts:
                return None
            return max(1, int((seen[0] + self.window - now).total_seconds()) + 1)

    def note_attempt(self, address: str, now: datetime) -> None:
        with self._lock:
            self._seen.setdefault(address, deque()).append(now)
