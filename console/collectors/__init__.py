"""One-shot collectors: each reads one kind of node state through a Transport into a frozen snapshot."""
