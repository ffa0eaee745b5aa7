"""Pure decisions from what the user asked: the target distribution and release, the
repositories, rpm macros and dnf.conf, the minimisation tables and spec matching.

Starts no process and touches no host file but what it is handed. Imports ``api``.
"""
