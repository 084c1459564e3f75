"""The ground floor: the pure value types every other floor speaks in (inventory, snapshots, check results).

Modules here import only the standard library, each other and `console.text` (the boundary sanitiser, itself
standard-library only), so a widget or a report can import a type without loading a transport, asyncssh or
aiodocker. Parsers and collectors that build these values stay in `console/collectors/`.
"""
