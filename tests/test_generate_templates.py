"""The chain templates' shared node builders, and the generated schemas' agreement with the
exchange format's columns."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lifecycle.exchange.spec import TABLES
from lifecycle.generate import schemas
from lifecycle.generate.templates import (
    data_templates,
    derivations,
    mc_templates,
    opendata,
)


def test_derivations_follow_the_aod_and_form_a_train_with_daod_phys():
    phys, lite, train = derivations(4, kind="simulated")
    assert (phys.data_type, phys.parents, phys.pool) == ("DAOD_PHYS", (4,), "deriv_phys")
    assert (lite.data_type, lite.parents, lite.pool) == ("DAOD_PHYSLITE", (5,), "deriv_lite")
    assert (train.data_type, train.parents, train.train) == ("DAOD_*", (4,), 5)
    assert train.pool == phys.pool  # one derivation task writes both
    assert {phys.kind, lite.kind, train.kind} == {"simulated"}
    assert len(derivations(4, skim=False)) == 2


def test_opendata_is_an_outreach_ntuple_of_its_parent():
    node = opendata(6)
    assert (node.data_type, node.parents, node.kind, node.profile) == (
        "NTUP_OPENDATA",
        (6,),
        "outreach",
        "outreach",
    )


@pytest.mark.parametrize("template", [*data_templates().values(), *mc_templates().values()])
def test_every_derivation_train_points_at_the_daod_phys_node_of_its_aod(template):
    for node in template.nodes:
        if node.train >= 0:
            made_by = template.nodes[node.train]
            assert made_by.data_type == "DAOD_PHYS"
            assert made_by.parents == node.parents


@pytest.mark.parametrize("name", list(TABLES))
def test_generated_columns_are_the_exchange_columns_then_extras(name):
    schema = schemas()[name]
    table = TABLES[name]
    exchange = schema.names[: len(table.columns)]
    assert exchange == list(table.column_names)
    for column in table.columns:
        field = schema.field(column.name)
        assert field.nullable == (not column.required and column.default is None)
        assert field.type == column.arrow_type()
    extras = [schema.field(n) for n in schema.names[len(table.columns) :]]
    assert all(f.nullable for f in extras)
    assert not extras or table.extras is not None


def test_arrow_types_of_exchange_columns():
    types = {c.type: c.arrow_type() for t in TABLES.values() for c in t.columns}
    assert types["int"] == pa.int64()
    assert types["float"] == pa.float64()
    assert types["timestamp"] == pa.timestamp("us", tz="UTC")
    assert types["text"] == types["enum"] == types["did"] == pa.string()
