"""One backoff policy for the whole system: exponential with full jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    base_s: float = 0.5
    max_s: float = 30.0

    def delay(self, attempt: int, *, jitter: bool = True) -> float:
        """Delay before retry number ``attempt`` (1-based)."""
        ceiling: float = min(self.max_s, self.base_s * (2 ** max(0, attempt - 1)))
        if not jitter:
            return ceiling
        return random.uniform(ceiling / 2, ceiling)
