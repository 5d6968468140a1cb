"""Frozen copies of code as it was before a change, kept for the benches that compare."""
