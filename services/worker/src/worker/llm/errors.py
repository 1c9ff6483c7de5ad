"""How a provider's failures become clawbus errors, shared by every model adapter.

- 429, 503 and 529 (the API is busy) raise ``RateLimited``: the input is not at fault, so
  the lane waits without spending an attempt, for the API's ``retry-after`` or, while the
  pressure lasts, a growing delay.
- Other 5xx, timeouts and connection errors raise ``RetryableError``: the lane backs off
  and the attempt counts, so a request that keeps failing ends (see ``AgentHandler``).
- Any other 4xx raises ``ModelRejected``: retrying cannot help; the user is told why.
"""

from __future__ import annotations

from common import metrics
from common.errors import PermanentError, RateLimited, RetryableError
from common.retry import Backoff

BUSY_STATUSES = frozenset({429, 503, 529})

AUTH_TEXT = (
    "Sorry, I can't reach my language model: its credentials were rejected. "
    "An admin needs to fix the configuration."
)
REJECTED_TEXT = (
    "Sorry, the model service rejected this request, so I couldn't answer. "
    "If this keeps happening, send /clear to start a fresh conversation."
)


class ModelRejected(PermanentError):
    """The model API refused the request for good; ``user_text`` is what to tell the user."""

    def __init__(self, message: str, *, user_text: str) -> None:
        super().__init__(message)
        self.user_text = user_text


def parse_retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class Pressure:
    """Consecutive "busy" answers from one provider: the wait grows while they continue."""

    def __init__(self, backoff: Backoff) -> None:
        self.backoff = backoff
        self.streak = 0

    def busy(self, retry_after: float | None) -> float:
        self.streak += 1
        grown = self.backoff.delay(self.streak, jitter=False)
        return max(retry_after or 0.0, grown)

    def ok(self) -> None:
        self.streak = 0


def status_error(
    provider: str,
    model: str,
    status: int,
    message: str,
    retry_after: float | None,
    pressure: Pressure,
) -> Exception:
    """The clawbus error for an HTTP error answer of a model API."""
    text = f"{provider} {status}: {message}"
    if status in BUSY_STATUSES:
        metrics.LLM_REQUESTS.labels(provider, model, "retryable").inc()
        return RateLimited(text, retry_after=pressure.busy(retry_after))
    if status >= 500 or status in (408, 409):
        metrics.LLM_REQUESTS.labels(provider, model, "retryable").inc()
        return RetryableError(text, retry_after=retry_after)
    metrics.LLM_REQUESTS.labels(provider, model, "permanent").inc()
    user_text = AUTH_TEXT if status in (401, 403) else REJECTED_TEXT
    return ModelRejected(text, user_text=user_text)


def unreachable(provider: str, model: str, exc: Exception) -> RetryableError:
    metrics.LLM_REQUESTS.labels(provider, model, "retryable").inc()
    return RetryableError(f"{provider} unreachable: {type(exc).__name__}: {exc}")
