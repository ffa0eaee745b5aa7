"""Many images: the recipe graph, inputs digests and up-to-date decisions, scheduling
and executors, the shared cache's snapshots, progress and the summary.

Imports ``build`` and below.
"""
