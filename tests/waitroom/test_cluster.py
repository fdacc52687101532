"""Rooms on different slots of a 3-master Redis Cluster, one on each node."""

from __future__ import annotations

import pytest
from redis.asyncio.cluster import RedisCluster

from waitroom.config import RoomConfig
from waitroom.keys import RoomKeys
from waitroom.room import JoinLimit, WaitingRoom
from waitroom.states import VisitorState

pytestmark = pytest.mark.anyio


async def test_rooms_work_on_a_cluster(cluster_client: RedisCluster) -> None:
    rooms = []
    for name in ("north", "south", "east"):
        room = WaitingRoom(cluster_client, RoomKeys("antrean", name))
        await room.ensure_config(RoomConfig(max_active=1))
        rooms.append(room)
    owners = [cluster_client.get_node_from_key(room.keys.key("seq")) for room in rooms]
    nodes = {owner.name for owner in owners if owner is not None}
    assert len(nodes) == 3  # one room on each node
    for room in rooms:
        first = await room.join(["nik-hash"], address_hash="a", limit=JoinLimit(10, 60))
        second = await room.join()
        assert (first.state, second.state) == (VisitorState.ADMITTED, VisitorState.WAITING)
        grant = await room.enter(first.number)
        assert grant is not None
        assert await room.heartbeat(grant.session_id) is not None
        assert await room.finish(grant.session_id)
        assert (await room.poll(second.number)).state is VisitorState.ADMITTED
        assert await room.tick_if_leader() is not None
        stats = await room.stats()
        assert (stats.admitted_unclaimed, stats.finished_total) == (1, 1)
