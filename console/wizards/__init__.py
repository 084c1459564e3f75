"""Guided wizards over SSH: the AI stack bring-up and the troubleshooting catalogue (Textual-free).

engine: steps as data (check / plan / apply / verify), dry-run, per-step confirmation, sudo -n, audit.
bringup: the users' bring-up procedure. fixes: the catalogue. cli: `wizard`, `fix`/`troubleshoot`, `tunnel`.
"""
