"""Stores: tracking (and later registry), each a protocol with SQL and REST implementations."""
