"""HTTP layer: routes, error mapping and middleware."""
