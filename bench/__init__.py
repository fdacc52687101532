"""Benchmarks of the waiting room: ``python -m bench`` (or ``make bench``)."""
