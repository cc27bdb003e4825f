"""A real Redis with Sentinel on loopback: a primary, one replica and three Sentinels."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.sentinel import Sentinel

from tests.support.ports import free_port, wait_for
from tests.support.processes import stop_process

SERVICE = "ffcmaster"


@dataclass
class SentinelSet:
    """The processes of one Sentinel-managed Redis, and the URL every ffcluster process uses."""

    data_ports: list[int]
    sentinel_ports: list[int]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/0/{SERVICE}"

    def primary_port(self) -> int:
        sentinel = Sentinel([("127.0.0.1", p) for p in self.sentinel_ports], socket_timeout=1)
        _host, port = sentinel.discover_master(SERVICE)
        return int(port)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.primary_port(), socket_timeout=2)

    def kill_primary(self) -> int:
        """SIGKILL the current primary; return its port."""
        port = self.primary_port()
        process = self.processes[f"redis-{port}"]
        process.kill()
        process.wait()
        return port

    def stop(self) -> None:
        for process in self.processes.values():
            stop_process(process, grace_s=5)


def start_sentinel_set(directory: Path) -> SentinelSet:
    """Start the primary (append-only), a replica of it and three Sentinels (quorum 2)."""
    server, sentinel_binary = shutil.which("redis-server"), shutil.which("redis-sentinel")
    if server is None or sentinel_binary is None:
        raise RuntimeError("redis-server or redis-sentinel is missing: run `make setup`.")
    primary, replica = free_port(), free_port()
    group = SentinelSet([primary, replica], [free_port() for _ in range(3)])
    try:
        for port in (primary, replica):
            folder = directory / f"redis-{port}"
            folder.mkdir(parents=True)
            argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                    "--save", "", "--appendonly", "yes", "--loglevel", "warning"]
            if port == replica:
                argv += ["--replicaof", "127.0.0.1", str(primary)]
            group.processes[f"redis-{port}"] = subprocess.Popen(
                argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        replica_client = redis.Redis(port=replica, socket_timeout=1)
        wait_for(lambda: replica_client.info("replication").get("master_link_status") == "up",
                 timeout=20, message="the replica in sync")
        for port in group.sentinel_ports:
            config = directory / f"sentinel-{port}.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {primary} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} 1000\n"
                f"sentinel failover-timeout {SERVICE} 5000\n"
                f"sentinel parallel-syncs {SERVICE} 1\n")
            group.processes[f"sentinel-{port}"] = subprocess.Popen(
                [sentinel_binary, str(config)], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)

        def all_see_it() -> bool:
            for port in group.sentinel_ports:
                info = redis.Redis(port=port, socket_timeout=1).sentinel_master(SERVICE)
                if int(info.get("num-other-sentinels", 0)) < 2 or int(info["num-slaves"]) < 1:
                    return False
            return True

        wait_for(all_see_it, timeout=30, interval=0.2, message="Sentinels that see each other")
    except BaseException:
        group.stop()
        raise
    return group
