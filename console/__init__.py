"""opsconsole core: inventory, transport, collectors, checks and CLI. Never imports textual."""

__version__ = "0.1.0"
