"""freigabe: gated, zero-downtime release deployments."""

__version__ = "0.1.0"
