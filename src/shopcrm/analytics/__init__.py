"""Shop-level figures computed in the warehouse (Ibis expressions, engine-agnostic)."""
