"""Networks: resolved layers, the resolver, width rounding, the built-in catalog."""
