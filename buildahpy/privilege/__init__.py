"""Who may build: rootless re-execution under ``buildah unshare`` and the collection of
killed builds' leftovers (locks beside the storage).

Imports ``host`` and below.
"""
