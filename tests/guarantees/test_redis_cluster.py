"""The same code on a Redis Cluster of three shards. An install's keys share its namespace
as a hash tag, so they live on the one shard that holds that slot: the services talk to that
shard alone, and a script, transaction or multi-key command reaching any other slot would
fail (CROSSSLOT, or MOVED to another shard), as would every message behind it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from clawbus.embedded import EmbeddedRedis, free_port
from common.keys import Keys, Stage, renamed, root
from tests.guarantees.cluster import Sink, cli, send

pytestmark = pytest.mark.slow

SHARDS = ((0, 5460), (5461, 10922), (10923, 16383))


@dataclass
class RedisCluster:
    nodes: list[EmbeddedRedis]
    clients: list[Redis]
    home: int  # the shard holding the install's slot
    slot: int


def cluster_port() -> int:
    """A free port whose cluster bus port (10,000 above it) is free too."""
    for _ in range(100):
        port = free_port()
        if port > 55535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no port pair free for a cluster node")


@pytest.fixture
async def redis_cluster(tmp_path: Path, namespace: str) -> AsyncIterator[RedisCluster]:
    nodes = [
        EmbeddedRedis(
            tmp_path / f"shard{i}",
            cluster_port(),
            extra=("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
        )
        for i in range(len(SHARDS))
    ]
    clients: list[Redis] = []
    try:
        for node in nodes:
            node.start()
            clients.append(Redis.from_url(node.url))
        for client, (low, high) in zip(clients, SHARDS, strict=True):
            await client.execute_command("CLUSTER", "ADDSLOTS", *range(low, high + 1))
        for client in clients[1:]:
            await client.execute_command("CLUSTER", "MEET", "127.0.0.1", nodes[0].port)
        for _ in range(200):
            infos = [await c.execute_command("CLUSTER", "INFO") for c in clients]
            if all(b"cluster_state:ok" in i and b"cluster_known_nodes:3" in i for i in infos):
                break
            await asyncio.sleep(0.05)
        else:
            raise RuntimeError("the test cluster did not come up")
        slot = int(await clients[0].execute_command("CLUSTER", "KEYSLOT", root(namespace)))
        home = next(i for i, (low, high) in enumerate(SHARDS) if low <= slot <= high)
        yield RedisCluster(nodes, clients, home, slot)
    finally:
        for client in clients:
            await client.aclose()
        for node in nodes:
            node.stop()


async def test_the_whole_path_runs_on_a_cluster_in_the_installs_slot(
    redis_cluster: RedisCluster, make_cluster, sink: Sink, namespace: str
):
    home = redis_cluster.nodes[redis_cluster.home]
    cluster = make_cluster(redis_url=home.url, CLAWBUS_AGENT_MAX_CONCURRENCY="2")
    await cluster.start(ingest=1, router=1, worker=2, delivery=1, scheduler=1)
    env = {**cluster.env, "CLAWBUS_REDIS_URL": home.url}

    # the HTTP channel out through the webhook: route, agent and deliver lanes, the agent
    # slots, the runs' records, histories and the receipts
    conversations = {f"c{i}": [f"c{i}-m{j}" for j in range(3)] for i in range(8)}
    async with httpx.AsyncClient() as client:
        for j in range(3):
            for conv, texts in conversations.items():
                r = await send(client, cluster.ingest, conv, texts[j], f"{conv}:{j}")
                assert r.status_code == 202, r.text
    await sink.wait_for(lambda: len(sink.echoed_texts()) >= 24, timeout=60)
    replies = sink.by_conversation()
    for conv, texts in conversations.items():
        assert [t for d in replies[conv] for t in d.echoed] == texts

    # the web chat, whose send and receipt are one step with the lane's commit
    assert "hello from the cluster" in cli(env, "send", "hello from the cluster")
    # a scheduled task, fired into its agent lane and answered in the web chat
    assert "scheduled (once)" in cli(env, "task", "add", "tick", "--in", "0.5")
    keys = Keys(namespace, int(cluster.env["CLAWBUS_PARTITIONS"]))
    history = keys.webchat_history("cli")
    client = redis_cluster.clients[redis_cluster.home]
    for _ in range(100):
        rows = await client.xrange(history)
        if sum(1 for _, f in rows if f.get(b"role") == b"agent") >= 2:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the scheduled task was not answered")
    assert "no dead letters" in cli(env, "dlq", "list")
    assert "agent    backlog=0" in cli(env, "lanes")

    # every key the install wrote is in its slot, on its shard, and nowhere else
    written = [key async for key in client.scan_iter(count=1000)]
    assert len(written) > 20
    for key in written:
        slot = int(await client.execute_command("CLUSTER", "KEYSLOT", key))
        assert slot == redis_cluster.slot, key
    for i, other in enumerate(redis_cluster.clients):
        if i != redis_cluster.home:
            assert await other.dbsize() == 0
    assert (await cluster_backlog(client, keys)) == 0


async def cluster_backlog(client: Redis, keys: Keys) -> int:
    total = 0
    for stage in Stage:
        for part in keys.all_partitions(stage):
            total += int(await client.get(part.backlog) or 0)
    return total


def test_every_key_name_carries_the_install_tag() -> None:
    keys = Keys("acme", 3)
    names: list[str] = []
    for name in dir(Keys):
        if name.startswith("_") or name in {"ns", "partitions", "root"}:
            continue
        attr = getattr(keys, name)
        if isinstance(attr, str):
            names.append(attr)
        elif name == "run":
            names.append(attr("s", "r"))
        elif name not in {"partition_of", "partition", "lane_partition", "all_partitions"}:
            names.append(attr(Stage.AGENT if name == "bell" else "x"))
    for stage in Stage:
        for part in keys.all_partitions(stage):
            names += [*part.keys, part.lane_stream("a|b"), part.seen_prefix + "a|b"]
    assert len(names) > 40
    for key in names:  # Redis hashes a key by its first {...}: here always {acme}
        assert key.startswith("{acme}:"), key


def test_names_of_the_earlier_layout_map_onto_this_one() -> None:
    assert renamed("acme", "acme:{acme.agent.3}:l:a|b") == "{acme}:agent.3:l:a|b"
    assert renamed("acme", "acme:{acme.route.0}:ready") == "{acme}:route.0:ready"
    assert renamed("acme", "acme:history:a|web:c") == "{acme}:history:a|web:c"
    assert renamed("acme", "acme:{acme.agent.3") is None  # not a name it made
    assert renamed("acme", "acmex:tasks") is None and renamed("acme", "{acme}:tasks") is None
    keys = Keys("acme", 4)
    assert renamed("acme", "acme:memory:bot") == keys.memory("bot")
    assert renamed("acme", "acme:{acme.deliver.2}:dead") == keys.partition(Stage.DELIVER, 2).dead
