"""Model flavors: one module per library, each exposing ``save_model``, ``log_model``, ``load_model``
and a ``FLAVOR`` object implementing ``modelyard.models.flavor.Flavor``. They are found through the
``FLAVORS`` table of ``modelyard.plugins`` (and the ``modelyard.flavor`` entry points)."""
