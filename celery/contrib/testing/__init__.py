"""Helpers for testing code that uses this package."""
