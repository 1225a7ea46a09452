"""HTTP layer: the app factory and one router module per resource."""
