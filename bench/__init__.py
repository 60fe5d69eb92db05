"""The shop's benchmark: ``make bench`` (``python -m bench --help``).

Starts the shop under gunicorn with production settings, drives it with wrk and
compares each endpoint with a floor served by the same process. The floors live
in this package only, so they exist only while the benchmark runs.
"""
