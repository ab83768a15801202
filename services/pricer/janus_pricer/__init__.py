"""The Janus pricer: ticks and bars in, debounced valuations out. Prices never change a
position's quantity."""

__version__ = "0.1.0"
