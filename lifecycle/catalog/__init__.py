"""The catalog layer: the tables, their storage and migrations, bulk writes and named queries.

Owns: models (the tables), store (engines, transactions, the write lock, the journal), migrations,
sql (binding parameters, engine-specific statement forms, temporary tables), bulk (fast inserts
and the id allocator), queries (named read queries), arrow_reader (the catalog read straight into
Arrow by ADBC on a connection of its own, under the write lock). May import only the leaf modules
(errors, vocabulary, values, text, expressions, nomenclature); never a service or the api.
"""
