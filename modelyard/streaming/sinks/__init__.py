"""Stream sinks, one module per destination (see ``modelyard.streaming.base.Sink``)."""
