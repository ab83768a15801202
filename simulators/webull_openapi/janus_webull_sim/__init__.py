"""A local Webull OpenAPI: signed REST and the gRPC trade-event stream, for the official SDK."""

from janus_webull_sim.config import SimConfig
from janus_webull_sim.simulator import ThreadedSimulator, WebullSimulator

__all__ = ["SimConfig", "ThreadedSimulator", "WebullSimulator"]
