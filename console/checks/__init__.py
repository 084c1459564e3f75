"""Check rules over node snapshots, the runner that evaluates them and the --check output formats."""
