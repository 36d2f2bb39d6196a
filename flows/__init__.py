"""Prefect flows: thin compositions of congvan steps, one task per side effect (docs/design.md §8)."""
