"""congvan: issue Vietnamese official dispatches (công văn) and follow them up."""

__version__ = "0.1.0"
