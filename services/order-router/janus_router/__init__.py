"""The order router: the seed's order abstraction layer."""
