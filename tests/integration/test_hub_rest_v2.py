"""The hub's REST v2 (``/EdocService``) of a real gateway: a round trip with the recipient
check, existence checks, confirmation and a STATUS file back to the sender.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edxml.build import build, status_message
from edxml.model import Organization, ResponseFor, StatusCode
from tests.integration.hub_node import NUMBERS, PDF, Hub, send_pdf, start_hub
from tests.world import G22, H41, SECRETS

pytestmark = pytest.mark.integration


@pytest.fixture
async def hub(tmp_path: Path, amqp_url: str) -> AsyncIterator[Hub]:
    async for running in start_hub(tmp_path, amqp_url):
        yield running


async def test_hub_rest_v2_round_trip_with_recipient_check(hub: Hub) -> None:
    code = str(next(NUMBERS))
    number = await send_pdf(hub, code)
    rest = hub.url + "/EdocService"
    h41 = {"organid": H41, "authorization": SECRETS["SYS-H41"]}
    for _ in range(400):
        async with hub.http.get(f"{rest}/getPendingDocIds", headers={**h41, "type": "EDOC"}) as r:
            pending = await r.json()
        if any(d["docId"] == number for d in pending["data"]):
            break
        await asyncio.sleep(0.05)
    assert {"docId": number, "organId": H41} in pending["data"]
    async with hub.http.post(
        f"{rest}/getDocument", headers={**h41, "docid": str(number), "type": "EDOC"}
    ) as r:
        got = await r.json()
    assert got["code"] == "0"
    packet = base64.b64decode(got["data"])
    assert base64.b64encode(PDF) in packet.replace(b"\n", b"")
    # The hub lets anyone fetch by id; the gateway answers only sender and recipients.
    stranger = {"organid": "000.00.00.G17", "authorization": SECRETS["SYS-G22"]}
    async with hub.http.post(
        f"{rest}/getDocument", headers={**stranger, "docid": str(number)}
    ) as r:
        assert r.status == 401
        refused = await r.json()
    assert refused["code"] == "9999" and refused["errors"][0]["code"] == "AUTH_FAILED"
    async with hub.http.post(
        f"{rest}/checkExistDocument",
        headers={"organid": G22, "authorization": SECRETS["SYS-G22"]},
        data=json.dumps({"fromOrgan": G22, "toOrgan": H41, "docCode": f"{code}/SA-VP"}),
    ) as r:
        exist = await r.json()
    assert exist["code"] == "200" and exist["isExist"] is True
    async with hub.http.post(
        f"{rest}/checkExistDocument",
        headers={"organid": G22, "authorization": SECRETS["SYS-G22"]},
        data=json.dumps({"fromOrgan": G22, "toOrgan": H41, "docCode": "0/NONE"}),
    ) as r:
        assert (await r.json())["isExist"] is False
    async with hub.http.post(f"{rest}/confirmReceived", headers={**h41, "docid": str(number)}) as r:
        assert (await r.json())["code"] == "0"
    # A STATUS file over REST v2 reaches the sender's STATUS list.
    accepted = status_message(
        sender=Organization(organ_id=H41),
        document=ResponseFor(organ_id=G22, document_id=f"{G22},2024/05/10,{code}/SA-VP"),
        code=StatusCode.ACCEPTED,
    )
    async with hub.http.post(
        f"{rest}/sendDocument", headers={**h41, "type": "STATUS"}, data=build(accepted)
    ) as r:
        sent = await r.json()
    assert sent["code"] == "0" and isinstance(sent["docId"], int), sent
    g22 = {"organid": G22, "authorization": SECRETS["SYS-G22"], "type": "STATUS"}
    for _ in range(400):
        async with hub.http.get(f"{rest}/getPendingDocIds", headers=g22) as r:
            statuses = (await r.json())["data"]
        if any(d["docId"] == sent["docId"] for d in statuses):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("status never reached the sender")
    async with hub.http.get(f"{rest}/getPendingDocIds", headers={**h41, "type": "EDOC"}) as r:
        assert all(d["docId"] != number for d in (await r.json())["data"])
