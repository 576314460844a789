"""The ``lifecycle`` command: thin typer commands over :mod:`lifecycle.api`.

Each module mirrors one service (``audit``, ``expiry``, ``replicas``, ``planning``, ``provenance``,
``simulate``, ``tradeoff``, ``exchange``, ``generate``, ``names``; ``catalog`` for listings) and
each command parses its options, calls one facade method and writes the result through the output
registry (:mod:`lifecycle.output`). ``app`` holds the one mapping of exceptions to exit codes;
``options`` the shared options and the one gateway to the api. May import only ``api`` (reached
through :func:`lifecycle.cli.options.api`, as it loads SQLAlchemy), ``output`` and the leaf
modules, so ``lifecycle --help`` starts fast. Nothing imports ``cli``.
"""
