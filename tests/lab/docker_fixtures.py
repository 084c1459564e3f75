"""pytest fixtures of the docker lab (placeholder until that lab lands)."""
