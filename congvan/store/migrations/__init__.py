"""Alembic migrations of congvan's database (docs/design.md §3). Run through ``congvan.store.schema``."""
