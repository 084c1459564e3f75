"""pytest fixtures of the prometheus lab (placeholder until that lab lands)."""
