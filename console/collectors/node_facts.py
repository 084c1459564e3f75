"""Node facts: the node's effective sshd settings and its storage directories, in one round trip.

sshd: `sshd -T` prints the effective settings, but it loads the host keys, which only root may read; so as a
normal user it fails ("no hostkeys available"). Then `sudo -n sshd -T` (`-n`: never prompts; sudo may log
the attempt), else the config files are read and parsed here with sshd's own rules: the first value of a
keyword wins, `Include` is expanded in place (the remote shell expands its globs, relative to /etc/ssh),
`Match` blocks are skipped (they apply to some connections only) and say so in `notes`.

Storage: each `storage[].path` is `stat -L`-ed (symlinks followed, as chown and chmod follow them) under a
remote `timeout`, so a path on a hung mount costs seconds, not the poll.

Only what the inventory asks for is queried: no `sshd` policy, no sshd part; no storage, no stat.
Every value read is cleaned by console/text.py; at most MAX_SETTINGS keywords and MAX_LINES lines are read.
"""

from __future__ import annotations

import shlex
import time
from datetime import UTC, datetime

from console.inventory.model import Node
from console.model.facts import SSHD_DEFAULTS as SSHD_DEFAULTS
from console.model.facts import NodeFacts as NodeFacts
from console.model.facts import PathFacts as PathFacts
from console.model.facts import SshdFacts as SshdFacts
from console.model.facts import SshdSource as SshdSource
from console.text import clean_line
from console.transport.base import Transport, TransportError

MARK = "@@@opsconsole"
SSHD_CONFIG = "/etc/ssh/sshd_config"
STAT_TIMEOUT_S = 3
MAX_SETTINGS = 1000  # sshd -T prints about 150
MAX_LINES = 20_000  # lines of facts output read (config files included)
_COMMAND_SOURCES: dict[str | None, SshdSource] = {"sshd -T": "sshd -T", "sudo -n sshd -T": "sudo -n sshd -T"}

# $1: "sshd", "sshd-sudo" (may also try `sudo -n sshd -T`) or "-" (skip sshd); the rest: storage paths.
# Every section starts with a MARK line.
FACTS_SCRIPT = r"""
want=$1; shift
PATH=$PATH:/usr/sbin:/sbin; export PATH
M=@@@opsconsole
if [ "$want" != - ]; then
  if out=$(sshd -T 2>&1); then echo "$M sshd sshd -T"; printf '%s\n' "$out"
  else
    echo "$M failed sshd -T"; printf '%s\n' "$out" | tail -n 2
    s=$(command -v sshd)
    [ "$want" = sshd-sudo ] || s=
    if [ -n "$s" ] && command -v sudo >/dev/null 2>&1 && out=$(sudo -n "$s" -T 2>&1); then
      echo "$M sshd sudo -n sshd -T"; printf '%s\n' "$out"
    else
      if [ -n "$s" ] && command -v sudo >/dev/null 2>&1; then
        echo "$M failed sudo -n sshd -T"; printf '%s\n' "$out" | tail -n 2
      fi
      c=/etc/ssh/sshd_config
      echo "$M sshd sshd_config"
      if [ -r "$c" ]; then echo "$M file $c"; cat "$c"; echo; else echo "$M unreadable $c"; fi
      set -f
      for pat in $(awk 'tolower($1) == "include" { for (i = 2; i <= NF; i++) print $i }' "$c" 2>/dev/null); do
        set +f
        case $pat in /*) ;; *) pat=/etc/ssh/$pat ;; esac
        echo "$M include $pat"
        for f in $pat; do
          [ -e "$f" ] || continue
          if [ -r "$f" ]; then echo "$M file $f"; cat "$f"; echo; else echo "$M unreadable $f"; fi
        done
        set -f
      done
      set +f
    fi
  fi
fi
for p do
  echo "$M stat"
  timeout -s KILL __STAT_TIMEOUT__ stat -L -c '%u:%g %a %F' -- "$p" 2>&1
  echo "$M rc $?"
done
""".replace("__STAT_TIMEOUT__", str(STAT_TIMEOUT_S))
SCRIPT_NAME = "opsconsole-node-facts"

# Its command is declared, with holes for the values, by the facts section (console/sections/facts.py).


def facts_command(node: Node) -> str | None:
    """The one command that gathers what the node's inventory asks for; None when it asks nothing."""
    paths = [spec.path for spec in node.storage]
    if node.sshd is None and not paths:
        return None
    # sudo is opt-in: where the user has no sudo rights every attempt is logged (and mailed to root).
    want = "-" if node.sshd is None else ("sshd-sudo" if node.sshd.sudo else "sshd")
    words = ["LC_ALL=C", "sh", "-c", FACTS_SCRIPT, SCRIPT_NAME, want, *paths]
    return " ".join(shlex.quote(word) for word in words)


def _clean(lines: list[str]) -> str:
    return clean_line(" ".join(" ".join(lines[:50]).split()), limit=300)


def _sections(stdout: str) -> list[tuple[str, str, list[str]]]:
    """(kind, argument, lines) for every `MARK kind argument` section, in order."""
    sections: list[tuple[str, str, list[str]]] = []
    for line in stdout.split("\n")[:MAX_LINES]:
        if line.startswith(MARK + " "):
            kind, _, argument = line[len(MARK) + 1 :].partition(" ")
            sections.append((kind, clean_line(argument), []))
        elif sections:
            sections[-1][2].append(line)
    return sections


def parse_sshd_t(text: str) -> tuple[tuple[str, str], ...]:
    """`sshd -T` output: one `keyword value...` per line, keywords already lower-case."""
    settings: dict[str, str] = {}
    for line in text.split("\n"):
        keyword, _, value = line.strip().partition(" ")
        if keyword and keyword.isascii() and keyword.isalnum() and len(settings) < MAX_SETTINGS:
            settings.setdefault(keyword.lower(), clean_line(value.strip()))
    return tuple(settings.items())


def _directive(line: str) -> tuple[str, str] | None:
    """`Keyword value`, `Keyword=value` or `Keyword = value`; None for blanks and comments."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    head = line.split(None, 1)[0]
    keyword, eq, rest = head.partition("=")
    if eq:
        value = (rest + line[len(head) :]).strip()
    else:
        value = line[len(head) :].strip()
        if value.startswith("="):
            value = value[1:].strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return clean_line(keyword.lower(), limit=64), clean_line(value)


def parse_sshd_config(
    files: dict[str, list[str]], includes: dict[str, list[str]], main: str = SSHD_CONFIG
) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """Effective settings of the config `main`, given file contents and what each Include pattern matched.

    First value wins; Include is expanded in place (not below depth 1: what the remote shell expanded);
    a Match block runs to the end of its file and is skipped. Returns (settings, notes).
    """
    settings: dict[str, str] = {}
    notes: list[str] = []

    def read(path: str, depth: int) -> None:
        in_match = False
        for line in files.get(path, []):
            directive = _directive(line)
            if directive is None:
                continue
            keyword, value = directive
            if keyword == "match":
                in_match = True
                if "Match blocks ignored" not in notes:
                    notes.append("Match blocks ignored")
            elif in_match:
                continue
            elif keyword == "include":
                for pattern in value.split():
                    pattern = pattern if pattern.startswith("/") else f"/etc/ssh/{pattern}"
                    if depth > 0 or pattern not in includes:
                        notes.append(f"Include {pattern} not followed")
                        continue
                    for included in includes[pattern]:
                        read(included, depth + 1)
            elif len(settings) < MAX_SETTINGS:
                settings.setdefault(keyword, value)

    read(main, 0)
    return tuple(settings.items()), tuple(notes)


def parse_sshd_sections(sections: list[tuple[str, str, list[str]]]) -> SshdFacts:
    """The sshd part of the facts output (sections before the first `stat`)."""
    failures: dict[str, str] = {}
    source: str | None = None
    body: list[str] = []
    files: dict[str, list[str]] = {}
    includes: dict[str, list[str]] = {}
    unreadable: list[str] = []
    pattern: str | None = None
    for kind, argument, lines in sections:
        if kind == "failed":
            failures[argument] = _clean(lines) or "failed"
        elif kind == "sshd":
            source, body = argument, lines
        elif kind == "file":
            files[argument] = lines
            if pattern is not None:
                includes[pattern].append(argument)
        elif kind == "unreadable":
            unreadable.append(argument)
        elif kind == "include":
            pattern = argument
            includes[pattern] = []
    sshd_t_error = failures.get("sshd -T")
    if source in _COMMAND_SOURCES:
        return SshdFacts(_COMMAND_SOURCES[source], parse_sshd_t("\n".join(body)))
    if source != "sshd_config":
        return SshdFacts(None, error="no sshd output")
    notes = [f"{path} unreadable" for path in unreadable]
    if SSHD_CONFIG not in files:
        why = f"sshd -T: {sshd_t_error}; " if sshd_t_error else ""
        return SshdFacts("sshd_config", error=f"{why}cannot read {SSHD_CONFIG}", sshd_t_error=sshd_t_error)
    settings, parse_notes = parse_sshd_config(files, includes)
    if "sudo -n sshd -T" in failures:
        notes.append(f"sudo -n sshd -T: {failures['sudo -n sshd -T']}")
    return SshdFacts("sshd_config", settings, sshd_t_error=sshd_t_error, notes=(*parse_notes, *notes))


def parse_stat(path: str, lines: list[str], rc: str) -> PathFacts:
    """One path's `stat -L -c '%u:%g %a %F'` output and exit status."""
    text = _clean(lines)
    if rc == "0" and lines:
        owner, _, rest = clean_line(lines[0].strip(), limit=200).partition(" ")
        mode, _, kind = rest.partition(" ")
        if ":" in owner and mode.isascii() and mode.isdigit():
            return PathFacts(path, True, owner=owner, mode=mode, kind=kind or None)
    if "No such file or directory" in text or "Not a directory" in text:
        return PathFacts(path, False)
    if rc in ("124", "137"):
        return PathFacts(path, None, error=f"no answer from stat within {STAT_TIMEOUT_S}s (hung mount?)")
    return PathFacts(path, None, error=text or f"stat exited {rc}")


def parse_facts(node: Node, stdout: str, *, taken_at: datetime, duration_s: float | None = None) -> NodeFacts:
    """Everything the facts command printed."""
    sections = _sections(stdout)
    first_stat = next((i for i, (kind, _, _) in enumerate(sections) if kind == "stat"), len(sections))
    sshd = parse_sshd_sections(sections[:first_stat]) if node.sshd is not None else None
    stats = sections[first_stat:]
    storage: list[PathFacts] = []
    for index, spec in enumerate(node.storage):
        stat_at, rc_at = 2 * index, 2 * index + 1
        if rc_at >= len(stats) or stats[stat_at][0] != "stat" or stats[rc_at][0] != "rc":
            storage.append(PathFacts(spec.path, None, error="no stat output"))
            continue
        storage.append(parse_stat(spec.path, stats[stat_at][2], stats[rc_at][1].strip()))
    return NodeFacts(node.name, taken_at, sshd, tuple(storage), duration_s=duration_s)


async def collect_node_facts(transport: Transport, node: Node, *, timeout: float | None = None) -> NodeFacts:
    """The node's sshd settings and storage stats in one round trip; never raises for node trouble."""
    started = time.monotonic()
    command = facts_command(node)
    if command is None:
        return NodeFacts(node.name, datetime.now(UTC), duration_s=0.0)
    try:
        result = await transport.run(command, timeout=timeout)
    except TransportError as exc:  # CommandTimeout too
        return NodeFacts(
            node.name, datetime.now(UTC), error=clean_line(exc), duration_s=time.monotonic() - started
        )
    duration = time.monotonic() - started
    if MARK not in result.stdout:
        why = _clean((result.stderr or result.stdout)[:4096].splitlines()) or f"exit {result.exit_status}"
        return NodeFacts(node.name, datetime.now(UTC), error=f"node facts: {why}", duration_s=duration)
    return parse_facts(node, result.stdout, taken_at=datetime.now(UTC), duration_s=duration)
