"""away."""
