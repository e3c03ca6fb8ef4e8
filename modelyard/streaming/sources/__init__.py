"""Stream sources, one module per broker (see ``modelyard.streaming.base.Source``)."""
