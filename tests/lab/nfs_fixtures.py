"""pytest fixtures of the nfs lab (placeholder until that lab lands)."""
