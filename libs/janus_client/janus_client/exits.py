"""The exit codes of every ``janus`` command, defined once (scripts branch on them)."""

from __future__ import annotations

__all__ = ["EXIT_FAIL", "EXIT_NOTHING", "EXIT_OK", "EXIT_REJECTED", "EXIT_TIMEOUT", "EXIT_UNREACHABLE",
           "EXIT_USAGE", "EXIT_VIOLATIONS"]

EXIT_OK = 0
EXIT_FAIL = 1  # the command ran and the answer is "no" (nothing up, a failure reported)
EXIT_NOTHING = EXIT_FAIL  # nothing to show
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3  # NATS (or the service asked) cannot be reached
EXIT_TIMEOUT = 4
EXIT_REJECTED = 5  # an order, cancel or request refused (by Janus or the broker)
EXIT_VIOLATIONS = 6  # the audit found violations
