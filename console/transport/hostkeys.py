"""Host key verification as strict as OpenSSH, against the inventory's known_hosts and host_key_policy.

The decision is made on the names asyncssh actually looked the key up under, after ~/.ssh/config was applied
(`HostName`, `Port`, `HostKeyAlias`): an alias whose real host already has a different key is a mismatch,
refused under both policies, and accept-new records a new key under the resolved name (`[host]:port` for a
port other than 22, as OpenSSH writes it).
"""

from __future__ import annotations

from pathlib import Path

import asyncssh

from console.inventory.model import HostKeyPolicy
from console.transport.base import HostKeyError

# Parsed known_hosts files, shared by every transport: parsing one of N entries per connect is O(N²) for a
# fleet (300 nodes: 90,000 key decodes). Re-read when the file changes (accept-new appends to it).
_KNOWN_HOSTS: dict[str, tuple[tuple[int, int, int], asyncssh.SSHKnownHosts]] = {}


def parsed_known_hosts(path: Path) -> asyncssh.SSHKnownHosts:
    stat = path.stat()
    version = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    cached = _KNOWN_HOSTS.get(str(path))
    if cached is None or cached[0] != version:
        cached = _KNOWN_HOSTS[str(path)] = (version, asyncssh.read_known_hosts(str(path)))
    return cached[1]


def known_hosts_name(host: str, port: int, alias: str | None = None) -> str:
    """The name OpenSSH files a host's key under: the HostKeyAlias as is, else `host` or `[host]:port`."""
    if alias:
        return alias
    return host if port == 22 else f"[{host}]:{port}"


class HostKeyCheck:
    """One connection attempt's host key decision; asyncssh asks `validate` for any key it does not trust.

    `label` names the host in messages (the node's address, or "jump host SPEC").
    """

    def __init__(self, path: Path, policy: HostKeyPolicy, label: str) -> None:
        self.path = path
        self.policy = policy
        self.label = label
        self.alias: str | None = None  # HostKeyAlias from ~/.ssh/config, once resolved
        self.looked_up: str | None = None  # the known_hosts name asyncssh used, once it asked
        self.had_entry = False
        self.recorded = False

    def known_hosts(self) -> asyncssh.SSHKnownHosts:
        """The parsed known_hosts to verify against; missing is an error unless accept-new may create it."""
        if not self.path.exists():
            if self.policy != "accept-new":
                raise HostKeyError(
                    f"{self.label}: known_hosts file {self.path} does not exist; host key cannot be verified "
                    "(add the host's key, or set ssh.host_key_policy: accept-new)"
                )
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch(mode=0o600)
        return parsed_known_hosts(self.path)

    def validate(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        """asyncssh's names: `host` is the HostKeyAlias or the resolved HostName, `port` the resolved port."""
        self.looked_up = known_hosts_name(host, port, self.alias if host == self.alias else None)
        # As asyncssh matched: the name, the address, and the name without a port as a fallback. Any entry
        # there means the host is known, and a key that is not among its keys is a changed key.
        matches = parsed_known_hosts(self.path).match(host, addr, None if port == 22 else port)
        host_keys, ca_keys, _revoked, x509_certs, _revoked_certs, x509_subjects, _ = matches
        self.had_entry = bool(host_keys or ca_keys or x509_certs or x509_subjects)
        if self.had_entry or self.policy != "accept-new":
            return False
        # Decided and written in one step of the event loop: no other connect reads the file in between.
        line = f"{self.looked_up} {key.export_public_key().decode().strip()}\n"
        with self.path.open("a", encoding="utf-8") as known_hosts:
            known_hosts.write(line)
        self.recorded = True
        return True

    def refused(self, exc: asyncssh.HostKeyNotVerifiable) -> HostKeyError:
        where = f"the entry for {self.looked_up} in {self.path}"
        if self.looked_up is None:  # refused before asking us: a revoked key, a bad certificate
            return HostKeyError(f"{self.label}: host key refused ({exc.reason}), checked against {self.path}")
        if self.had_entry:
            return HostKeyError(
                f"{self.label}: host key does NOT match {where} — refused "
                "(the host was reinstalled, or someone is in the middle: verify before updating it)"
            )
        return HostKeyError(
            f"{self.label}: unknown host key, no entry for {self.looked_up} in {self.path} — refused "
            "(verify and add it, or set ssh.host_key_policy: accept-new)"
        )
