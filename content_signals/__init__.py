"""Content Signals: trusted, machine-readable signals about catalogue content, end to end."""

__version__ = "0.1.0"
