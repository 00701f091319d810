"""Tiro's user interfaces: the PySide6 desktop app and the ``tiro`` command line.

Only this package imports Qt. It may import ``retrain`` and ``engine``.
"""
