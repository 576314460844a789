"""The catalog's tables as declared in ``lifecycle.catalog.models``."""

from __future__ import annotations

import pytest
from sqlmodel import SQLModel

from lifecycle.catalog import models


@pytest.mark.parametrize(
    ("model", "table", "owner"),
    [
        (models.EndpointAttribute, "endpoint_attribute", "endpoint"),
        (models.DatasetMetadata, "dataset_metadata", "dataset"),
        (models.TransformationParameter, "transformation_parameter", "transformation"),
    ],
)
def test_extra_tables_hold_one_text_value_per_owner_and_key(model, table, owner):
    assert getattr(models, model.__name__) is model
    assert model.__tablename__ == table
    assert model.__doc__
    sql = SQLModel.metadata.tables[table]
    assert [c.name for c in sql.columns] == [f"{owner}_id", "key", "value"]
    assert [c.name for c in sql.primary_key.columns] == [f"{owner}_id", "key"]
    assert [fk.target_fullname for fk in sql.foreign_keys] == [f"{owner}.id"]
    assert not sql.columns["value"].nullable
    assert str(sql.columns["value"].type) == "TEXT"
