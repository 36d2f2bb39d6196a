"""Prefect flows: thin compositions of congvan steps, one task per side effect (DESIGN §8)."""
