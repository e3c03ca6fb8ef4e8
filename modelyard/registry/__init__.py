"""Model-registry services above the stores: ``models:/`` URI resolution, webhook delivery."""
