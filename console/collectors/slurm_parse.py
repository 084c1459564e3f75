"""Parsers of what sinfo and squeue print: JSON of every data_parser from v0.0.38 (Slurm 22.05) to v0.0.44
(25.11), and the plain-text formats the collector asks for where JSON is missing.

The JSON shapes (src/plugins/data_parser/vX/parsers.c in Slurm's sources):
- v0.0.38 (22.05): `sinfo --json` is {"nodes": [node]}: node "state" a lower-case string plus "state_flags",
  "reason_changed_at" a number, "reason_set_by_user", "gres", "gres_used", "partitions".
  `squeue --json` is {"jobs": [job]}: "job_state" a string, times plain numbers, "gres_detail" a list.
- v0.0.39 (23.02) on: `sinfo --json` is {"sinfo": [line]}: one line per node with `-N` ("nodes": {"nodes":
  [names]}, "node": {"state": [STATES]}, "gres": {"total", "used"}, "reason": {"description", "time",
  "user"}, "partition": {"name"}).
- v0.0.40 (23.11) on: a job's "job_state" is a list of flags and its times are {"set", "infinite", "number"}.
Unknown fields are ignored, missing ones are None; every string is cleaned here (console.text), every
number must be finite, and no list is kept past its cap.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from console.model.slurm import SlurmJob, SlurmNode
from console.text import clean_line, clean_optional, finite

MAX_NODES = 10_000
MAX_JOBS = 20_000
MAX_HOSTS = 4_096  # names one host list may expand to
# Names all the host lists of one read may expand to: `n[0-4095]` is 9 bytes for 4,096 names, so without it
# 4 MiB of output could ask for tens of millions. The jobs past it keep no node list (the read is truncated).
MAX_LISTED_HOSTS = 200_000
NAME_LIMIT = 128
REASON_LIMIT = 300
BASE_STATES = ("IDLE", "DOWN", "ALLOCATED", "ERROR", "MIXED", "FUTURE", "UNKNOWN", "COMPLETING")


class SlurmParseError(ValueError):
    """The output is not what the command prints (not JSON, or not the shape of any data_parser)."""


# --- small values ----------------------------------------------------------------------------------------


def _str(value: object, limit: int = NAME_LIMIT) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = clean_line(value, limit=limit).strip()
    return text or None


def _number(value: object) -> float | None:
    """A plain number or the v0.0.40+ {"set", "infinite", "number"} object; unset or infinite: None."""
    if isinstance(value, Mapping):
        if value.get("set") is False or value.get("infinite") is True:
            return None
        value = value.get("number")
    return finite(value)


def _time(value: object) -> datetime | None:
    seconds = _number(value)
    if seconds is None or seconds <= 0 or seconds > 32503680000:  # before year 3000
        return None
    return datetime.fromtimestamp(seconds, UTC)


def _strings(value: object, limit: int = 64) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return ()
    out = [text for item in value[:limit] if (text := _str(item)) is not None]
    return tuple(out)


def expand_hostlist(text: str | None, limit: int = MAX_HOSTS) -> tuple[str, ...]:
    """`h[0-2],gpu[01-02]` -> h0 h1 h2 gpu01 gpu02 (every bracket, zero padding kept), at most `limit`."""
    if not text or limit <= 0:
        return ()
    names: list[str] = []
    for part in re.findall(r"(?:[^,\[]|\[[^\]]*\])+", text):
        _expand_one(part, names, limit)
        if len(names) >= limit:
            break
    return tuple(dict.fromkeys(names))[:limit]


_MAX_DIMENSIONS = 8  # bracket groups expanded in one name (Slurm allows 5 dimensions); the rest stay text
_MAX_DIGITS = 18  # a range bound longer than this is not a node number (int() refuses past 4,300 digits)


def _expand_one(part: str, out: list[str], limit: int, depth: int = 0) -> None:
    match = re.search(r"\[([^\]]*)\]", part) if depth < _MAX_DIMENSIONS else None
    if match is None:
        if part:
            out.append(part[:NAME_LIMIT])  # no node has a longer name: it would only cost memory
        return
    head, tail = part[: match.start()], part[match.end() :]
    for chunk in match.group(1).split(","):
        low, _, high = chunk.partition("-")
        if not low.isdigit() or (high and not high.isdigit()) or max(len(low), len(high)) > _MAX_DIGITS:
            out.append((head + chunk + tail)[:NAME_LIMIT])
            continue
        end = int(high) if high else int(low)
        for number in range(int(low), min(end, int(low) + limit) + 1):
            _expand_one(f"{head}{number:0{len(low)}d}{tail}", out, limit, depth + 1)
            if len(out) >= limit:
                return


_GRES = re.compile(r"(?:gres[:/])?gpu(?::[^:(,=]+)?[:=](\d+)")


def gres_gpus(text: object) -> int | None:
    """GPUs in a gres string: `gpu:2`, `gpu:h100:4(S:0-1)`, `gpu:a:2,gpu:b:1`, `gres/gpu=1`; none: None."""
    if not isinstance(text, str) or text in ("", "N/A", "(null)"):
        return None
    counts = [int(number) for number in _GRES.findall(text) if len(number) < 7]
    return sum(counts) if counts else (0 if "gpu" not in text else None)


def gres_index(text: object) -> tuple[int, ...]:
    """The GPU indexes in a GRES detail: `gpu:2(IDX:0,2-3)` -> (0, 2, 3); none: ()."""
    if not isinstance(text, str):
        return ()
    found: list[int] = []
    for group in re.findall(r"gpu[^(,]*\(IDX:([0-9,\-]+)\)", text):
        for chunk in group.split(","):
            low, _, high = chunk.partition("-")
            if low.isdigit() and (not high or high.isdigit()) and len(low) < 5 and len(high) < 5:
                found += range(int(low), (int(high) if high else int(low)) + 1)
    return tuple(dict.fromkeys(found))[:256]


def split_state(states: Iterable[str]) -> tuple[str, tuple[str, ...]]:
    """["MIXED", "DRAIN"] -> ("mixed", ("DRAIN",)); the first base state wins, the rest are flags."""
    base, flags = None, []
    for raw in states:
        word = raw.upper().strip()
        if base is None and word in BASE_STATES:
            base = word.lower()
        elif word:
            flags.append(word)
    return base or "unknown", tuple(dict.fromkeys(flags))


# --- JSON ------------------------------------------------------------------------------------------------


def load_json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text, parse_constant=lambda _c: None)  # NaN/Infinity: unknown
    except (ValueError, RecursionError) as exc:
        raise SlurmParseError(f"not JSON: {clean_line(exc, limit=120)}") from None
    if not isinstance(data, dict):
        raise SlurmParseError("not a JSON object")
    return data


def meta(data: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(data_parser version like v0.0.40, Slurm release) from the output's meta, each None if missing."""
    block = data.get("meta")
    if not isinstance(block, Mapping):
        return None, None
    plugin = block.get("plugin") if isinstance(block.get("plugin"), Mapping) else {}
    parser = _str(plugin.get("data_parser")) if isinstance(plugin, Mapping) else None
    if parser is None and isinstance(plugin, Mapping):
        found = re.search(r"v\d+\.\d+\.\d+", str(plugin.get("type", "")))
        parser = found.group(0) if found else None
    slurm = block.get("slurm") or block.get("Slurm")
    release = _str(slurm.get("release")) if isinstance(slurm, Mapping) else None
    return parser, release


def parse_sinfo_json(text: str) -> tuple[tuple[SlurmNode, ...], bool]:
    """Nodes from `sinfo --json` (`-N`) of any data_parser; (nodes, truncated)."""
    data = load_json(text)
    cut = False
    rows: list[SlurmNode | None]
    if isinstance(data.get("nodes"), list):
        rows = [_node_v38(item) for item in data["nodes"][: MAX_NODES + 1] if isinstance(item, Mapping)]
    elif isinstance(data.get("sinfo"), list):
        rows = []
        for item in data["sinfo"][: MAX_NODES + 1]:
            rows += _nodes_sinfo(item) if isinstance(item, Mapping) else []
            if len(rows) >= MAX_NODES * 4:  # a node once per partition: past this it is a runaway list
                cut = True
                break
    else:
        raise SlurmParseError("neither 'nodes' nor 'sinfo' in sinfo's JSON")
    merged = _merge_partitions(node for node in rows if node is not None)
    return merged[:MAX_NODES], len(merged) > MAX_NODES or cut


def _node_v38(item: Mapping[str, Any]) -> SlurmNode | None:
    name = _str(item.get("name"))
    if name is None:
        return None
    state = item.get("state")
    states = state if isinstance(state, list) else [state] if isinstance(state, str) else []
    flags = item.get("state_flags")
    states = [*map(str, states), *(map(str, flags) if isinstance(flags, list) else ())]
    base, extra = split_state(states)
    return SlurmNode(
        name,
        base,
        extra,
        reason=_str(item.get("reason"), REASON_LIMIT),
        reason_by=_str(item.get("reason_set_by_user")),
        reason_at=_time(item.get("reason_changed_at")),
        partitions=_strings(item.get("partitions")),
        gpus=gres_gpus(item.get("gres")),
        gpus_used=gres_gpus(item.get("gres_used")),
    )


def _field(item: Mapping[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(item, Mapping):
            return None
        item = item.get(key)  # type: ignore[assignment]
    return item


def _nodes_sinfo(item: Mapping[str, Any]) -> list[SlurmNode]:
    names = _field(item, "nodes", "nodes")
    if isinstance(names, str):
        names = list(expand_hostlist(names))
    if not isinstance(names, list):
        return []
    states = _field(item, "node", "state")
    base, flags = split_state(map(str, states if isinstance(states, list) else [states] if states else []))
    partition = _str(_field(item, "partition", "name"))
    template = SlurmNode(
        "",
        base,
        flags,
        reason=_str(_field(item, "reason", "description"), REASON_LIMIT),
        reason_by=_str(_field(item, "reason", "user")),
        reason_at=_time(_field(item, "reason", "time")),
        partitions=(partition,) if partition else (),
        gpus=gres_gpus(_field(item, "gres", "total")),
        gpus_used=gres_gpus(_field(item, "gres", "used")),
    )
    return [replace(template, name=name) for raw in names[:MAX_HOSTS] if (name := _str(raw)) is not None]


def _merge_partitions(nodes: Iterable[SlurmNode]) -> tuple[SlurmNode, ...]:
    """One node per name: sinfo prints a node once per partition."""
    seen: dict[str, SlurmNode] = {}
    for node in nodes:
        if node.name in seen:
            first = seen[node.name]
            parts = tuple(dict.fromkeys((*first.partitions, *node.partitions)))
            seen[node.name] = replace(first, partitions=parts)
        else:
            seen[node.name] = node
    return tuple(seen.values())


def parse_squeue_json(text: str) -> tuple[tuple[SlurmJob, ...], bool]:
    """Jobs from `squeue --json` of any data_parser; (jobs, truncated)."""
    data = load_json(text)
    jobs = data.get("jobs")
    if not isinstance(jobs, list):
        raise SlurmParseError("no 'jobs' in squeue's JSON")
    out: list[SlurmJob] = []
    left = MAX_LISTED_HOSTS
    for item in jobs[: MAX_JOBS + 1]:
        if isinstance(item, Mapping) and (job := _job(item, min(MAX_HOSTS, left))):
            out.append(job)
            left -= len(job.nodes)
    return tuple(out[:MAX_JOBS]), len(out) > MAX_JOBS or left <= 0


def _job(item: Mapping[str, Any], hosts: int = MAX_HOSTS) -> SlurmJob | None:
    number = _number(item.get("job_id"))
    if number is None or number < 0 or number != int(number):
        return None
    state = item.get("job_state")
    states = state if isinstance(state, list) else [state] if isinstance(state, str) else []
    base = next((str(word).upper() for word in states if isinstance(word, str)), "UNKNOWN")
    nodes = expand_hostlist(_str(item.get("nodes"), 4096), hosts)
    detail = item.get("gres_detail")
    details = (
        [str(entry) for entry in detail[:MAX_HOSTS] if isinstance(entry, str)]
        if isinstance(detail, list)
        else []
    )
    index = tuple(
        (node, gres_index(entry)) for node, entry in zip(nodes, details, strict=False) if gres_index(entry)
    )
    count = _job_gpus(item, details, len(nodes) or 1)
    return SlurmJob(
        str(int(number)),
        _str(item.get("name")) or "",
        _str(item.get("user_name")),
        clean_line(base, limit=32),
        partition=_str(item.get("partition")),
        nodes=nodes,
        gpus=count,
        reason=_str(item.get("state_reason")),
        submitted=_time(item.get("submit_time")),
        started=_time(item.get("start_time")) if base == "RUNNING" else None,
        gpu_index=index,
    )


def _job_gpus(item: Mapping[str, Any], details: list[str], node_count: int) -> int | None:
    if details:
        counts = [gres_gpus(entry) for entry in details]
        if any(count is not None for count in counts):
            return sum(count or 0 for count in counts)
    allocated = gres_gpus(item.get("tres_alloc_str"))
    if allocated:
        return allocated
    per_node = gres_gpus(item.get("tres_per_node"))
    if per_node is not None:
        return per_node * node_count
    return gres_gpus(item.get("tres_per_job"))


# --- text fallback ---------------------------------------------------------------------------------------

# sinfo -N -h -O: one node (per partition) a line; the free-text reason last, so a '|' in it stays in it.
SINFO_FIELDS = "NodeList:|,StateLong:|,Partition:|,Gres:|,GresUsed:|,User:|,Timestamp:|,Reason:"
# squeue -h -o: the job's name last for the same reason.
SQUEUE_FORMAT = "%i|%T|%u|%M|%D|%P|%b|%V|%S|%N|%r|%j"

_TEXT_STATES = {
    "drained": ("idle", ("DRAIN",)), "draining": ("mixed", ("DRAIN",)), "drng": ("mixed", ("DRAIN",)),
    "drain": ("idle", ("DRAIN",)), "alloc": ("allocated", ()), "mix": ("mixed", ()),
    "comp": ("completing", ()),
    "fail": ("down", ("FAIL",)), "failing": ("allocated", ("FAIL",)), "maint": ("idle", ("MAINTENANCE",)),
}  # fmt: skip


def _text_state(word: str) -> tuple[str, tuple[str, ...]]:
    word = word.strip().lower()
    flags: list[str] = []
    while word and word[-1] in "*~#!%$@^-":  # sinfo's suffixes: * not responding, ~ powered off, ...
        if word[-1] == "*":
            flags.append("NOT_RESPONDING")
        word = word[:-1]
    base, extra = _TEXT_STATES.get(word, (word if word.upper() in BASE_STATES else "unknown", ()))
    return base, (*extra, *flags)


def _local_time(text: str) -> datetime | None:
    """Slurm prints local times without a zone: read as this machine's local time (usually the via node's)."""
    try:
        return datetime.fromisoformat(text.strip()).astimezone(UTC)
    except ValueError:
        return None


def parse_sinfo_text(text: str) -> tuple[tuple[SlurmNode, ...], bool]:
    rows = []
    for line in text.splitlines()[: MAX_NODES * 4]:
        parts = line.split("|", 7)
        if len(parts) < 8 or not parts[0].strip():
            continue
        name, state, partition, gres, used, user, stamp, reason = (part.strip() for part in parts)
        base, flags = _text_state(state)
        part = _str(partition.rstrip("*"))
        rows.append(
            SlurmNode(
                _str(name) or "?",
                base,
                flags,
                reason=None if reason.lower() == "none" else _str(reason, REASON_LIMIT),
                reason_by=None if user in ("Unknown", "N/A", "") else _str(user),
                reason_at=None if stamp in ("Unknown", "N/A", "") else _local_time(stamp),
                partitions=(part,) if part else (),
                gpus=gres_gpus(gres),
                gpus_used=gres_gpus(used),
            )
        )
    merged = _merge_partitions(rows)
    return merged[:MAX_NODES], len(merged) > MAX_NODES


def _elapsed(text: str) -> float | None:
    """squeue's %M: `5:03`, `1:02:03`, `2-03:04:05`; INVALID or empty: None."""
    days, _, clock = text.strip().rpartition("-")
    parts = clock.split(":")
    if not all(part.isdigit() and len(part) < 6 for part in parts) or not 1 <= len(parts) <= 3:
        return None
    if days and not (days.isdigit() and len(days) < 6):
        return None
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + int(part)
    return seconds + (int(days) * 86400 if days else 0)


def parse_squeue_text(text: str) -> tuple[tuple[SlurmJob, ...], bool]:
    jobs = []
    left = MAX_LISTED_HOSTS
    for line in text.splitlines()[: MAX_JOBS + 1]:
        parts = line.split("|", 11)
        if len(parts) < 12 or not parts[0].strip().isdigit():
            continue
        job_id, state, user, elapsed, count, partition, gres, submitted, started, nodes, reason, name = parts
        node_names = expand_hostlist(_str(nodes, 4096), min(MAX_HOSTS, left))
        left -= len(node_names)
        per_node = gres_gpus(gres.strip())
        nodes_n = finite(count)
        if nodes_n is not None and not 0 < nodes_n < 1_000_000:  # not a node count: count the list
            nodes_n = None
        state = state.strip().upper()
        jobs.append(
            SlurmJob(
                job_id.strip()[:20],
                _str(name) or "",
                _str(user),
                clean_line(state, limit=32),
                partition=_str(partition),
                nodes=node_names,
                gpus=None if per_node is None else per_node * int(nodes_n or len(node_names) or 1),
                reason=_str(reason),
                submitted=_local_time(submitted),
                started=_local_time(started) if state == "RUNNING" else None,
                elapsed_s=_elapsed(elapsed) if state == "RUNNING" else None,
            )
        )
    return tuple(jobs[:MAX_JOBS]), len(jobs) > MAX_JOBS or left <= 0


def parse_ping(text: str) -> tuple[bool | None, str | None]:
    """`scontrol ping`: any controller UP -> True; all DOWN -> False; nothing recognisable -> None."""
    states = re.findall(r"\bis (UP|DOWN)\b", text)
    line = clean_optional(" ".join(text.split()), limit=200) or None
    if not states:
        return None, line
    return "UP" in states, line
