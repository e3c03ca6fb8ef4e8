"""Trivial task functions of bench/jobs.py (imported by task processes through PYTHONPATH)."""

import time


def stamp():
    """Returns when the task's function started (Unix seconds): the end of the measured latency."""
    return time.time()


def noop():
    return None
