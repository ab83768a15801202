"""Janus paper broker: the matching engine (pure) and its gateway adapter."""
