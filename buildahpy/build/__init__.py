"""One image: the pipeline (``pipeline.build`` reads top to bottom), its run state, the
recipe's live engine, package work and pruning, users and groups, scrubbing, sizes, the
checks before commit and the dry-run printer.

Imports ``privilege``, ``host`` and below; never ``fleet``.
"""
