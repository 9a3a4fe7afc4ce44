"""Failed logins, counted per user name and per address, so guessing is slow.

After `limit` failures within `window` seconds, a key (a name or an address) is
refused until the oldest failure leaves the window — even with the right
password, so a guesser learns nothing from the answers. A success clears the
name's count (not the address's: one correct login does not excuse a scan).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable


class FailureLimit:
    def __init__(self, limit: int, window: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may try again; 0 when it may now."""
        failures = self._failures.get(key)
        if not failures:
            return 0.0
        now = self.clock()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return 0.0
        if len(failures) < self.limit:
            return 0.0
        return max(0.0, failures[0] + self.window - now)

    def failed(self, key: str) -> None:
        self._failures[key].append(self.clock())
        if len(self._failures) > 100_000:  # a spray of names must not grow memory forever
            self._failures.clear()

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)


class LoginLimits:
    """Per user: 5 failures in 15 minutes. Per address: 20 in 15 minutes."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.by_user = FailureLimit(5, 900.0, clock)
        self.by_address = FailureLimit(20, 900.0, clock)

    def retry_after(self, name: str, address: str) -> float:
        return max(self.by_user.retry_after(name.lower()), self.by_address.retry_after(address))

    def failed(self, name: str, address: str) -> None:
        self.by_user.failed(name.lower())
        self.by_address.failed(address)

    def succeeded(self, name: str) -> None:
        self.by_user.clear(name.lower())
