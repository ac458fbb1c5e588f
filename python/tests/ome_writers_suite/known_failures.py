"""Tests of ome-writers 0.3.2's suite that fail on ome_writers_rs, with the reason.

Keys: ``file::test`` (every parametrization) or ``file::test[param]``. Each is
explained in docs/python.md.
"""

KNOWN_FAILURES: dict[str, str] = {}
