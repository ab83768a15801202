"""The local stack supervisor behind ``make run``."""
