"""One backoff policy for the whole system: exponential, jittered over its upper half."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    base_s: float = 0.5
    max_s: float = 30.0

    def delay(self, attempt: int, *, jitter: bool = True) -> float:
        """Delay before retry number ``attempt`` (1-based), for any count: a loop that
        retries through a long outage counts past where 2**attempt overflows a float."""
        ceiling: float = min(self.max_s, self.base_s * 2.0 ** min(max(0, attempt - 1), 64))
        if not jitter:
            return ceiling
        return random.uniform(ceiling / 2, ceiling)
