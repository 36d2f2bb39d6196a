"""State in SQL (docs/design.md §3): engines and transactions (``db``), the tables in Core (``tables``) and the ORM
classes over them (``models``), imported by what writes: a command that only reads imports no ORM."""

from congvan.store.db import init_db, make_engine, masked_url, transaction

__all__ = ["init_db", "make_engine", "masked_url", "transaction"]
