"""REST routes, one module per capability."""
