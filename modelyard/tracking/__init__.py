"""The explicit client and the fluent layer."""
