"""Fixtures shared by the integration tests (real nodes on loopback).

Nodes themselves are started by `real_nodes` (`lone_node`, `cluster`, `start_node`),
the one helper for that; each module's node fixture says what its node holds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest_asyncio
from lwtesting import single_threaded_maths

single_threaded_maths()  # the nodes' searches and checks, and their worker processes


@pytest_asyncio.fixture(loop_scope="module")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP client, on the loop of the module's node fixtures."""
    async with aiohttp.ClientSession() as session:
        yield session
