"""Compatibility path: ``aipartnerupflow.core.execution``."""
