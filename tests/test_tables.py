"""The ORM classes (``store/models.py``) and the Core tables they map (``store/tables.py``) say the same thing."""

from __future__ import annotations

import datetime as dt
import enum
import types
import typing

import pytest
import sqlalchemy as sa

from congvan.store import models, tables

MAPPED = [models.RegisterCounter, models.Document, models.Delivery, models.Import, models.Staff, models.Response,
          models.Approval]
PYTHON_TYPES = {sa.Integer: int, sa.String: str, sa.Text: str, sa.Date: dt.date, sa.DateTime: dt.datetime}


def _python_type(column: sa.Column[typing.Any]) -> type:
    if isinstance(column.type, sa.Enum):
        assert column.type.enum_class is not None
        return column.type.enum_class
    for sql_type, python_type in PYTHON_TYPES.items():
        if type(column.type) is sql_type:
            return python_type
    raise AssertionError(f"{column}: no Python type known for {column.type!r}")


@pytest.mark.parametrize("cls", MAPPED, ids=lambda c: c.__name__)
def test_every_column_is_annotated_with_its_python_type_and_nullability(cls: type[models.Base]) -> None:
    table = cls.__table__
    assert isinstance(table, sa.Table) and table.metadata is tables.metadata
    hints = typing.get_type_hints(cls, globalns=vars(models))
    annotated = {name: hint for name, hint in hints.items() if typing.get_origin(hint) is sa.orm.Mapped}
    assert set(annotated) == set(table.c.keys())
    for name, hint in annotated.items():
        (inner,) = typing.get_args(hint)
        column = table.c[name]
        args = typing.get_args(inner) if isinstance(inner, types.UnionType) else (inner,)
        assert (type(None) in args) == bool(column.nullable), name
        assert [a for a in args if a is not type(None)] == [_python_type(column)], name


def test_the_states_round_trip_by_value() -> None:
    for state in (*tables.DeliveryStatus, *tables.ApprovalStatus):
        assert isinstance(state, enum.Enum) and state.value == state.value.lower()
    assert models.DeliveryStatus is tables.DeliveryStatus and models.ApprovalStatus is tables.ApprovalStatus
    engine = sa.create_engine("sqlite://")
    tables.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(tables.documents).values(id=1, key="par-index-2022/dispatch", campaign="c",
                                                        kind="dispatch", issued_on=dt.date(2023, 2, 1)))
        conn.execute(sa.insert(tables.deliveries).values(document_id=1, address="vanthu@krongpac.example",
                                                         display_name="UBND huyện Krông Pắc", role="to",
                                                         message_id="<m@x>", status=tables.DeliveryStatus.BOUNCED))
        assert conn.scalar(sa.text("SELECT status FROM deliveries")) == "bounced"
        assert conn.scalar(sa.select(tables.deliveries.c.status)) is tables.DeliveryStatus.BOUNCED
        assert conn.scalar(sa.select(tables.deliveries.c.attempts)) == 0  # the Python-side default
