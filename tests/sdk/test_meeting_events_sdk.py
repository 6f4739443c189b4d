"""DingTalk's official Python Stream SDK's event handler (`EventHandler`, registered for every
event as `register_all_event_handler` does, subscription `{"type":"EVENT","topic":"*"}`) as a
client of the simulator's meeting events: the simulator's meetings start, are joined and left
and end through its scenario controls, each change reaches the SDK as an `EVENT` frame it
parses (headers and data, docs/dingtalk-events.md §a, §c), and its ack is what settles it: code
200, the frame's `messageId`, `data` a JSON string with `"status":"SUCCESS"`; answered `LATER`,
the frame is pushed again (same `messageId` and `eventId`) when its redelivery comes due by the
simulator's clock."""

import json

import pytest

from conftest import WAIT_S

CODE = "888000111"
CONFERENCE = "5f3a9c0e2b7d4e18a6c1f0d2"


@pytest.fixture(scope="module", autouse=True)
def stream_events(sim, client):
    """The console set to Stream push for the module, off again after it."""
    sim.post("/events/delivery", {"stream": True})
    yield
    sim.post("/events/delivery", {"stream": False})


def next_event(client):
    return client.events.events.get(timeout=WAIT_S)


def settled_with(sim, event, status):
    """The SDK's ack of `event`, checked as the simulator took it."""
    message_id = event.headers.message_id
    answers = sim.get("/stream/answers", messageId=message_id)
    ack = answers[-1]["frame"]
    assert ack["code"] == 200, ack
    assert ack["headers"]["messageId"] == message_id, ack
    assert isinstance(ack["data"], str), f"data is a JSON string: {ack}"
    assert json.loads(ack["data"])["status"] == status, ack
    return message_id


def assert_event_headers(sim, event, event_type):
    headers = event.headers
    assert headers.event_type == event_type
    assert headers.event_corp_id == sim.app["corpId"]
    assert headers.topic == "*"
    assert len(headers.event_id) == 32 and headers.event_born_time > 0
    assert headers.event_unified_app_id and headers.app_id and headers.connection_id


def test_a_meetings_start_joins_leaves_and_end_reach_the_sdk_and_its_success_acks_settle_them(client, sim):
    client.events.statuses = ["SUCCESS"] * 5
    sim.post("/meetings/move", {"code": CODE, "conferenceId": CONFERENCE, "action": "start"})
    created = next_event(client)
    assert_event_headers(sim, created, "meeting_status_change")
    assert created.data["changeScene"] == "conference_created"
    model = created.data["openConfModel"]
    assert model["conferenceId"] == CONFERENCE
    assert model["title"] == "项目站会"
    assert (model["activeNum"], model["attendNum"]) == (0, 0)
    assert isinstance(model["startTime"], int)

    answer = sim.post("/events/members", {"code": CODE, "conferenceId": CONFERENCE, "action": "join", "count": 2})
    assert answer == {"activeNum": 2}
    joins = [next_event(client), next_event(client)]
    sim.post("/events/members", {"code": CODE, "conferenceId": CONFERENCE, "action": "leave"})
    leave = next_event(client)
    sim.post("/meetings/move", {"code": CODE, "conferenceId": CONFERENCE, "action": "end"})
    closed = next_event(client)

    for event in joins + [leave]:
        assert_event_headers(sim, event, "meeting_member_status_change")
        [member] = event.data["openMemberModels"]
        assert member["conferenceId"] == CONFERENCE and member["userId"]
    assert [e.data["changeScene"] for e in joins] == ["user_join", "user_join"]
    assert [e.data["openMemberModels"][0]["attendStatus"] for e in joins] == [3, 3]
    [left] = leave.data["openMemberModels"]
    assert leave.data["changeScene"] == "user_leave"
    assert left["attendStatus"] == 6 and left["leaveTime"] >= left["joinTime"]
    assert left["userId"] == joins[1].data["openMemberModels"][0]["userId"], "the latest to join leaves first"
    assert_event_headers(sim, closed, "meeting_status_change")
    assert closed.data["changeScene"] == "conference_closed"
    ended = closed.data["openConfModel"]
    assert (ended["activeNum"], ended["attendNum"]) == (0, 2)
    assert isinstance(ended["confDuration"], int)

    events = [created, *joins, leave, closed]
    seqs = [e.data["statusSeqNum"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5, f"one sequence for both kinds: {seqs}"
    assert len({e.headers.event_id for e in events}) == 5
    settled = [settled_with(sim, e, "SUCCESS") for e in events]
    awaiting = sim.get("/stream/awaiting-ack")["messageIds"]
    assert not set(settled) & set(awaiting), "every SUCCESS ack settled its frame"
    emitted = [e["eventId"] for e in sim.get("/events")["emitted"]]
    assert [e.headers.event_id for e in events] == emitted[-5:], "what the simulator made, in order"


def test_an_event_answered_later_is_pushed_again_and_settled_by_success(client, sim):
    client.events.statuses = ["LATER", "SUCCESS"]
    sim.post("/events/members", {"code": CODE, "conferenceId": CONFERENCE, "action": "join"})
    first = next_event(client)
    message_id = settled_with(sim, first, "LATER")
    assert message_id in sim.get("/stream/awaiting-ack")["messageIds"], "LATER settles nothing"

    # DingTalk pushes an unsettled event again about a minute later.
    sim.post("/clock", {"secs": 61})
    again = next_event(client)
    assert again.headers.message_id == message_id
    assert again.headers.event_id == first.headers.event_id
    assert again.data == first.data
    [_, second] = sim.get("/stream/sent", messageId=message_id, count=2)
    assert second["attempt"] == 1
    answers = sim.get("/stream/answers", messageId=message_id, count=2)
    assert json.loads(answers[1]["frame"]["data"])["status"] == "SUCCESS"
    assert message_id not in sim.get("/stream/awaiting-ack")["messageIds"], "SUCCESS settled it"
