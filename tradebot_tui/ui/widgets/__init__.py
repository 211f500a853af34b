"""Reusable widgets, each with its own scoped DEFAULT_CSS."""
