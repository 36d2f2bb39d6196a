"""State in SQL (docs/design.md §3): engines and transactions (``db``), tables (``models``)."""

from congvan.store.db import init_db, make_engine, masked_url, transaction
from congvan.store.models import Base, Document, RegisterCounter

__all__ = ["Base", "Document", "RegisterCounter", "init_db", "make_engine", "masked_url", "transaction"]
