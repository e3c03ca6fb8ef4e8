"""Tables of the scoring server (the inference log)."""
