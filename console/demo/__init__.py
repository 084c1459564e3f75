"""The demo: the console on a recorded fleet, with no SSH and no inventory (`opsconsole --demo`).

A product feature, installed with the package: the fleet is built from real H100 nvidia-smi captures shipped
as package data (`data/`), so the demo, the README's screenshots and the TUI tests draw the same picture.

- `fleet`: the eight-node showcase (and generated rack nodes for benchmarks), with a fixed clock.
- `sources`: the recorded snapshot source, Prometheus and node actions the session talks to.
- `prometheus`, `logs`: what the fleet's Prometheus answers and what its containers log.
"""
