"""Errors named for what happens next.

ClawbusError
├── RetryableError          the entry stays at the head of its lane; the lane backs off
│   ├── RateLimited         a platform said 429: wait ``retry_after`` for that destination
│   ├── DependencyDown      Redis or a vendor is unreachable right now
│   └── RunTimedOut         an agent run passed its wall-clock limit
├── PermanentError          retrying cannot help: the entry goes to the dead-letter stream
│   ├── Misconfigured       not until the install's configuration is fixed: replay it then
│   └── Rejected            bad input from outside (a 4xx for an HTTP caller)
└── Fenced                  this process lost its lane lease; stop, another holder owns it
"""

from __future__ import annotations


class ClawbusError(Exception):
    """Root of clawbus's own errors."""


class RetryableError(ClawbusError):
    """Try again later; the lane backs off as a whole so order is kept."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(RetryableError):
    """A platform rate limit: slow down this destination only."""


class DependencyDown(RetryableError):
    """A dependency (Redis, a vendor API) cannot be reached."""


class RunTimedOut(RetryableError):
    """An agent run was cut by its timeout."""


class PermanentError(ClawbusError):
    """Retrying cannot help; dead-letter the entry with this error."""


class Misconfigured(PermanentError):
    """Refused for a reason in the install's own configuration (a channel not enabled, a
    credential or webhook address refused): kept as a dead letter to replay once it is
    fixed, never dropped as undeliverable."""


class Rejected(PermanentError):
    """Input from outside that clawbus refuses, with a reason fit to show the caller."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Fenced(ClawbusError):
    """The lease on a lane was lost (expired and taken over); abandon the lane."""
