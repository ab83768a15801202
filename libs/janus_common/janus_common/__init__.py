"""Janus shared library. Modules are small and do one job each; import what you need."""
