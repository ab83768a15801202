"""A local IB TWS speaking the TWS API wire protocol (server versions 157-178)."""

from .simulator import IBSimulator

__all__ = ["IBSimulator"]
