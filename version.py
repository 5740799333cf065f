"""The version of aipartnerupflow: the one place it is written."""

__version__ = "0.10.0"
