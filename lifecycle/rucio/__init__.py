"""The Rucio bridge: pull a Rucio server's state as an exchange-format snapshot, record its
replication rules, and push repair plans back as rules.

- ``mapping``: Rucio's answers as exchange rows (pure functions, tested without a server);
- ``client``: reaching the server through ``rucio-clients`` (an optional extra), credentials and
  one-line errors;
- ``pull``: the snapshot (``rucio pull``);
- ``rules``: the ``replication_rule`` table (``rucio sync``, ``datasets show``, audit hints);
- ``push``: a repair plan as rules on the server (``rucio push``).

A service: it may import ``repair`` (a peer), ``exchange``, ``catalog`` and the leaf modules;
never the api or the CLI. ``rucio-clients`` is imported only when a server is reached.
"""
