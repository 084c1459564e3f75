"""opsconsole core: inventory, transport, collectors, checks and CLI. Never imports textual."""

import logging
import warnings

__version__ = "0.1.0"

# asyncssh still names DSA key types in its signatures, so importing it makes cryptography >= 48 print a
# CryptographyDeprecationWarning block per name on stderr: five blocks before any work, mailed by cron on
# every run. The warning is about asyncssh's own code, not anything an operator can act on, so it is
# silenced for asyncssh's modules only (matched by message and module, without importing cryptography).
warnings.filterwarnings("ignore", message=r"DSA is deprecated", module=r"asyncssh(\.|$)")

# Our loggers ("opsconsole.*") are for an embedding program or --debug to attach a handler to. Without one,
# Python's last-resort handler would print WARNING records (a failed restart's node text) on stderr, under the
# TUI's screen or into cron's mail.
logging.getLogger("opsconsole").addHandler(logging.NullHandler())
