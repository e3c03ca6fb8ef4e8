"""Artifact repositories: protocol (base.py) and implementations, resolved by URI scheme (plugins.py)."""
