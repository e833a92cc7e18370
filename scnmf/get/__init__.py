"""Small accessors for stored results."""

from ._accessors import programs

__all__ = ["programs"]
