"""Synthetic WLCG-like catalogs in the exchange format, from a handful to millions of datasets.

``generate(directory, datasets, seed)`` writes the eight exchange tables (FORMAT.md) as Parquet:
about 150 sites (the real ATLAS Tier-0/1/2 names first, then plausible synthetic Tier-2/3 sites),
their Rucio-style endpoints, and a dataset population shaped like ATLAS production:

* ``raw`` RAW per (run, stream), two tape copies (CERN-PROD_DATATAPE plus a Tier-1 DATATAPE) and
  often a disk copy;
* ``calibration`` conditions folders per data project and run block, each in several versions,
  fed to data reconstruction with role ``calibration`` (MC records its conditions tag only);
  ``metadata`` DBRelease datasets fed to some productions with role ``config``;
* ``derived`` (data) and ``simulated`` (MC) chains built from templates: Tier-0 reconstruction in
  two task parts merged into one AOD, reprocessing, derivations (PHYS and a skimmed format from one
  derivation task), MC event generation, simulation in parts plus HITS merge, digitization with
  pile-up overlay, reconstruction and AOD merges. Depth (productions crossed from a root) is
  at most 8: complete MC chains reach 6 to 8, Tier-0 data chains 4, reprocessed and express data
  chains 3 and 2; about a quarter of all chains stop early;
* a few ``outreach`` open-data ntuples at the ends of the longest chains.

Names follow ATLAS nomenclature (``project.number.stream.step.DATA_TYPE.tags``); the tag list of a
dataset is the tags of its primary input plus the tag of its own production, and the parts of a
split task carry the ``_tid<task>_00`` suffix, so every name is unique by construction.

Planted policy violations (about 1 % of the population concerned, counted in
``GenerateSummary.planted``): RAW with a single tape copy, RAW whose two tape copies sit at one site,
transformations without an image digest (and the datasets they produced), derived datasets past
their ``expires_at``, lost replicas.

Everything is drawn from one ``numpy.random.Generator(PCG64(seed))`` in a fixed order and built
column-wise, so the same seed gives identical tables (and byte-identical files with the same
pyarrow), and a million datasets take well under a minute. Sites are the same for every seed: they
are the grid, not the data.

The package is a service. Of lifecycle it imports only the vocabulary (kinds, states, roles),
the exchange format's specification (its tables and columns, which load no database code) and,
for storage dumps, the dump reader and writer and endpoint expressions (no database code either);
numpy at import and, inside the functions that write, pyarrow (so importing it loads neither
pyarrow nor pandas). It may import provenance, policy, exchange, catalog and leaf modules, never
``cli`` or the api. Its modules, in the
order a catalog is drawn:

* ``timeline``: the catalog's clock (epoch, "now", lifetime bounds);
* ``grid``: sites and endpoints, the same for every seed;
* ``atlas``: ATLAS vocabulary (projects, runs, streams, folders, data types, physics processes);
* ``transformations``: AMI-tagged transformations with releases, images and digests;
* ``templates``: chain templates and the mixes they are drawn in;
* ``units``: chain instances, one per RAW (run, stream) or MC sample;
* ``datasets``: the per-dataset columns and the format enumerations they are coded in;
* ``conditions``: calibration and DBRelease datasets, and how productions pick them;
* ``chains``: growing the chains node by node (inputs, transformation, times, sizes);
* ``productions``: running and failed productions, task numbers, conditions tags;
* ``naming``: ATLAS dataset names;
* ``lifetimes``: dataset states, lifetimes and pins;
* ``placement``: replicas, their states and endpoint capacities;
* ``tables``: table names, Arrow schemas, and columns in value form;
* ``builder``: the steps in their fixed order; ``writer``: ``generate()`` writing Parquet;
* ``dumps``: storage dumps of a written catalog, with planted lost and dark entries.
"""

from __future__ import annotations

from lifecycle.generate.dumps import DumpSummary, write_dumps
from lifecycle.generate.tables import TABLES, schemas
from lifecycle.generate.writer import GenerateSummary, generate

__all__ = ["DumpSummary", "GenerateSummary", "TABLES", "generate", "schemas", "write_dumps"]
