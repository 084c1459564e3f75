"""The Slurm parsers on real 22.05 output (recorded from the lab) and on the JSON shapes of 23.02 … 25.11.

The 23.02+ files are written from the data_parser definitions in Slurm's sources (v0.0.39 … v0.0.44), not
recorded from a live server: see tests/fixtures/slurm/README.md.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.collectors.slurm_parse import (
    MAX_HOSTS,
    MAX_LISTED_HOSTS,
    MAX_NODES,
    NAME_LIMIT,
    SlurmParseError,
    expand_hostlist,
    gres_gpus,
    gres_index,
    load_json,
    meta,
    parse_ping,
    parse_sinfo_json,
    parse_sinfo_text,
    parse_squeue_json,
    parse_squeue_text,
)

FIXTURES = Path(__file__).parent / "fixtures" / "slurm"
SPEC_SHAPED = {
    "23.02": "v0.0.39",
    "23.11": "v0.0.40",
    "24.05": "v0.0.41",
    "24.11": "v0.0.42",
    "25.05": "v0.0.43",
    "25.11": "v0.0.44",
}


def _read(release: str, name: str) -> str:
    return (FIXTURES / release / name).read_text()


def test_real_2205_json_nodes_and_jobs() -> None:
    nodes, truncated = parse_sinfo_json(_read("22.05", "sinfo.json"))
    assert not truncated
    assert meta(load_json(_read("22.05", "sinfo.json"))) == ("v0.0.38", "22.05.8")
    by = {node.name: node for node in nodes}
    assert [by[n].shown_state for n in ("h0", "h1", "h2")] == ["mixed", "draining", "drained"]
    assert by["h2"].reason == "bad DIMM"
    assert by["h2"].reason_by == "opsconsole-lab"
    assert by["h2"].reason_at is not None
    assert by["h2"].reason_at.tzinfo is UTC
    assert (by["h0"].gpus, by["h0"].gpus_used, by["h1"].gpus_used, by["h2"].gpus_used) == (2, 1, 2, 0)
    assert by["h0"].partitions == ("gpu",)
    jobs, _ = parse_squeue_json(_read("22.05", "squeue.json"))
    job = {j.job_id: j for j in jobs}
    assert job["1"].state == "RUNNING"
    assert job["1"].name == "train-gpu"
    assert job["1"].gpus == 1
    assert job["1"].gpu_index == (("h0", (0,)),)
    assert job["1"].started is not None
    assert job["2"].gpu_index == (("h1", (0, 1)),)
    assert job["3"].state == "PENDING"
    assert job["3"].reason == "JobHeldUser"
    assert job["3"].gpus == 1
    assert job["3"].nodes == ()
    assert job["3"].started is None


def test_real_2205_text_fallback_agrees_with_json() -> None:
    json_nodes, _ = parse_sinfo_json(_read("22.05", "sinfo.json"))
    text_nodes, _ = parse_sinfo_text(_read("22.05", "sinfo.txt"))
    fields = ("name", "state", "flags", "reason", "reason_by", "partitions", "gpus", "gpus_used")
    assert [[getattr(n, f) for f in fields] for n in text_nodes] == [
        [getattr(n, f) for f in fields] for n in json_nodes
    ]
    json_jobs = {job.job_id: job for job in parse_squeue_json(_read("22.05", "squeue.json"))[0]}
    for job in parse_squeue_text(_read("22.05", "squeue.txt"))[0]:
        twin = json_jobs[job.job_id]
        assert (job.name, job.user, job.state, job.nodes, job.gpus, job.reason) == (
            twin.name, twin.user, twin.state, twin.nodes, twin.gpus, twin.reason,
        )  # fmt: skip
        assert (job.elapsed_s is not None) == (job.state == "RUNNING")
    assert parse_ping(_read("22.05", "scontrol-ping.txt"))[0] is True


@pytest.mark.parametrize(("release", "parser"), sorted(SPEC_SHAPED.items()))
def test_spec_shaped_json_of_each_release(release: str, parser: str) -> None:
    text = _read(release, "sinfo.json")
    assert meta(load_json(text))[0] == parser
    nodes, _ = parse_sinfo_json(text)
    by = {node.name: node for node in nodes}
    assert list(by) == ["gpu01", "gpu02", "gpu03", "gpu04"]
    assert by["gpu01"].partitions == ("gpu", "debug")  # one sinfo line per partition, merged
    assert [by[n].shown_state for n in by] == ["mixed", "allocated", "drained", "down+not_responding"]
    assert by["gpu03"].reason == "bad DIMM B2"
    assert by["gpu03"].reason_by == "alice"
    assert by["gpu03"].reason_at == datetime.fromtimestamp(1796556000 - 7200, UTC)
    assert [(by[n].gpus, by[n].gpus_used) for n in by] == [(8, 4), (8, 8), (8, 0), (8, 0)]
    jobs, _ = parse_squeue_json(_read(release, "squeue.json"))
    job = {j.job_id: j for j in jobs}
    assert job["101"].state == "RUNNING"
    assert job["101"].nodes == ("gpu01", "gpu02")
    assert job["101"].gpu_index == (("gpu01", (0, 1, 2, 3)), ("gpu02", tuple(range(8))))
    assert job["101"].gpus == 12
    assert job["101"].started == datetime.fromtimestamp(1796556000 - 5000, UTC)
    assert (job["102"].reason, job["103"].reason) == ("Priority", "Dependency")
    assert job["103"].submitted == datetime.fromtimestamp(1796556000 - 5400, UTC)
    assert job["102"].started is None
    assert job["102"].gpus == 2


def test_unknown_fields_ignored_missing_ones_none() -> None:
    nodes, _ = parse_sinfo_json(json.dumps({"nodes": [{"name": "n1", "brand_new": {"x": 1}}]}))
    assert nodes[0].state == "unknown"
    assert nodes[0].reason is None
    assert nodes[0].gpus is None
    jobs, _ = parse_squeue_json(json.dumps({"jobs": [{"job_id": 7}]}))
    assert (jobs[0].job_id, jobs[0].user, jobs[0].gpus, jobs[0].submitted, jobs[0].state) == (
        "7", None, None, None, "UNKNOWN",
    )  # fmt: skip


def test_hostile_values_cleaned_capped_and_finite() -> None:
    hostile = {
        "nodes": [
            {"name": "n1\x1b[31m", "state": "idle", "state_flags": ["DRAIN"], "reason": "x\n" * 1000,
             "reason_set_by_user": "\x07root", "reason_changed_at": float("nan"), "gres": "gpu:99999999999"},
            {"name": ["not", "a", "name"]},
        ]
    }  # fmt: skip
    text = json.dumps(hostile)
    assert "NaN" in text
    node = parse_sinfo_json(text)[0][0]
    assert "\x1b" not in node.name
    assert "\n" not in (node.reason or "")
    assert len(node.reason or "") <= 300
    assert node.reason_by is not None
    assert "\x07" not in node.reason_by
    assert node.reason_at is None
    assert node.gpus is None
    jobs = {"jobs": [{"job_id": math.inf}, {"job_id": -3}, {"job_id": "12"}, "junk",
                     {"job_id": 5, "submit_time": {"set": True, "infinite": True, "number": 5}}]}  # fmt: skip
    parsed = parse_squeue_json(json.dumps(jobs))[0]
    assert [job.job_id for job in parsed] == ["12", "5"]
    assert parsed[1].submitted is None


def test_hostile_numbers_and_hostlists_do_not_raise() -> None:
    """A number past a float, a range bound past int()'s digit limit, brackets nested past the recursion
    limit: each is an odd value, never an exception out of the collector."""
    jobs = parse_squeue_json(json.dumps({"jobs": [{"job_id": 10**400}, {"job_id": 7, "submit_time": 10**400,
                                                   "nodes": "h" + "[0]" * 1365}]}))[0]  # fmt: skip
    assert [job.job_id for job in jobs] == ["7"]
    assert jobs[0].submitted is None
    assert len(jobs[0].nodes) <= 1
    sinfo = {"sinfo": [{"nodes": {"nodes": "h[" + "1" * 5000 + "]"}, "node": {"state": ["IDLE"]}},
                       {"nodes": {"nodes": "g" + "[1-2]" * 2000}, "node": {"state": ["IDLE"]}}]}  # fmt: skip
    nodes = parse_sinfo_json(json.dumps(sinfo))[0]
    assert nodes
    assert len(nodes) <= 1 + MAX_HOSTS
    v38 = parse_sinfo_json(json.dumps({"nodes": [{"name": "a", "reason_changed_at": 10**400}]}))[0]
    assert v38[0].reason_at is None


def test_host_lists_expand_within_one_budget_per_read() -> None:
    """`n[0-4095]` is 9 bytes that expand to 4,096 names: 4 MiB of squeue output of them was about 80
    million names (minutes of the event loop, gigabytes). One read expands at most MAX_LISTED_HOSTS names,
    each at most NAME_LIMIT long; the jobs past that keep no node list and the read says it is truncated."""
    jobs = [{"job_id": i, "nodes": "n[0-4095]"} for i in range(60)] + [{"job_id": 99, "nodes": "x" * 300}]
    parsed, truncated = parse_squeue_json(json.dumps({"jobs": jobs}))
    assert len(parsed) == 61
    assert sum(len(job.nodes) for job in parsed) <= MAX_LISTED_HOSTS
    assert truncated
    text = "".join(f"{i}|RUNNING|u|1:00|4096|p|gpu:1|||n[0-4095]|None|job\n" for i in range(60))
    parsed, truncated = parse_squeue_text(text)
    assert sum(len(job.nodes) for job in parsed) <= MAX_LISTED_HOSTS
    assert truncated
    assert all(len(name) <= NAME_LIMIT for name in expand_hostlist("y" * 300 + "[1-2]"))
    lines = [{"nodes": {"nodes": "n[0-4095]"}, "node": {"state": ["IDLE"]}}] * (MAX_NODES * 4 // 4096 + 2)
    nodes, truncated = parse_sinfo_json(json.dumps({"sinfo": lines}))
    assert len(nodes) == 4096
    assert truncated  # lines past the budget were not read


@pytest.mark.parametrize("count", ["-3", "1e300", "nan", "0"])
def test_a_text_node_count_that_is_not_a_count_falls_back_to_the_node_list(count: str) -> None:
    """squeue's %D is the job's node count: negative, astronomically large or not a number, it is not one;
    the GPUs are per node times the nodes listed (never -6 or 2e300 GPUs in use)."""
    line = f"7|RUNNING|u|1:00|{count}|p|gpu:2|||n[1-2]|None|job\n"
    (job,), _ = parse_squeue_text(line)
    assert job.gpus == 4


@pytest.mark.parametrize("text", ["", "not json", "[1, 2]", '{"meta": {}}', "{" * 100000])
def test_not_slurm_json_raises_parse_error(text: str) -> None:
    with pytest.raises(SlurmParseError):
        parse_sinfo_json(text)


def test_hostlists_and_gres() -> None:
    assert expand_hostlist("h[0-2],gpu[01-02]") == ("h0", "h1", "h2", "gpu01", "gpu02")
    assert expand_hostlist("r[1-2]n[1-2]") == ("r1n1", "r1n2", "r2n1", "r2n2")
    assert expand_hostlist("plain") == ("plain",)
    assert len(expand_hostlist("n[0-99999999]")) == MAX_HOSTS
    assert gres_gpus("gpu:a100:2,gpu:h100:1(S:0)") == 3
    assert gres_gpus("gres/gpu=4") == 4
    assert gres_gpus("N/A") is None
    assert gres_gpus("(null)") is None
    assert gres_gpus("shard:4") == 0
    assert gres_index("gpu:h100:3(IDX:0,2-3)") == (0, 2, 3)
    assert gres_index("gpu:0(IDX:N/A)") == ()


def test_text_states_and_ping() -> None:
    line = "n1|down*|gpu*|gpu:4|gpu:0|slurm|2026-12-06T10:00:00|Not responding\n"
    node = parse_sinfo_text(line)[0][0]
    assert (node.state, node.flags, node.partitions) == ("down", ("NOT_RESPONDING",), ("gpu",))
    assert parse_sinfo_text("n1|drained|gpu|gpu:2|gpu:0|alice|Unknown|a | b\n")[0][0].reason == "a | b"
    assert parse_ping("Slurmctld(primary) at head is DOWN\nSlurmctld(backup) at b is UP\n")[0] is True
    assert parse_ping("Slurmctld(primary) at head is DOWN\n")[0] is False
    assert parse_ping("")[0] is None
