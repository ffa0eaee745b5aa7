"""The user's API: the @recipe decorator, loading recipe files, the ``image`` object a
recipe receives, the image config, and the validation of everything a recipe passes in.

Imports nothing of buildahpy but ``errors``: every other layer may import it.
"""
