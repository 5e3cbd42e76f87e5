"""Kequn (客群): digital customer operations for a regional bank."""

__version__ = "0.1.0"
