"""cupctl: host tools for the open vacuum-cupping controller."""

__version__ = "0.1.0"
