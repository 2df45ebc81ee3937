"""Expression engines: CEL for merchant rules."""
