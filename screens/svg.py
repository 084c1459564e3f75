"""Screenshots as SVG that every viewer draws as the terminal showed them."""

from __future__ import annotations

import re

# Rich writes each run of text as <text x=… textLength=…>, spaces as &#160;. Several SVG renderers (librsvg,
# so most converters and previews) drop a run's leading and trailing spaces, which shifts the text left
# (a selected row lost its indent). Move those spaces into x and textLength instead.
_SVG_RUN = re.compile(
    r'(<text [^>]*?x=")([\d.]+)("[^>]*?textLength=")([\d.]+)("[^>]*>)'
    r"((?:&#160;)*)([^<]*?)((?:&#160;)*)</text>"
)
SVG_CHAR_WIDTH = 12.2  # Rich's export: 20 px characters, aspect ratio 0.61


def tidy_svg(svg: str) -> str:
    def tidy(match: re.Match[str]) -> str:
        start, x, mid, length, head, lead, body, trail = match.groups()
        if not body:
            return match.group()
        before, after = lead.count("&#160;"), trail.count("&#160;")
        x_new = float(x) + before * SVG_CHAR_WIDTH
        length_new = float(length) - (before + after) * SVG_CHAR_WIDTH
        return f"{start}{x_new:g}{mid}{length_new:g}{head}{body}</text>"

    return _SVG_RUN.sub(tidy, svg)
