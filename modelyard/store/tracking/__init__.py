"""Tracking store: protocol (base.py), SQL implementation (sql/), REST implementation (rest.py)."""
