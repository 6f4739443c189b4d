"""DingTalk's official Python Stream SDK (dingtalk-stream 0.24.3) as a client of the simulated
Stream gateway: it opens a connection, parses every robot message and event the simulator
pushes, acknowledges them, replies through `reply_markdown`, answers a ping, and comes back after
a `disconnect` frame and after a Close without taking its error path (a 10-second sleep)."""

import json

import pytest
from dingtalk_stream import ChatbotMessage

from conftest import WAIT_S
from sdk_client import REPLY_TITLE


def live(sim):
    """The connections open now."""
    return [c for c in sim.get("/stream/connections")["connections"] if c["closed"] is None]


def expected_parse(body):
    """What ChatbotMessage.to_dict() gives back for `body`: the same dict (unknown fields are kept
    as extensions), with an empty `atUsers` when the message has none."""
    return {"atUsers": [], **body}


def receive(client, sim, **message):
    pushed = sim.post("/stream/robot-message", message)
    callback, incoming, answer = client.bot.messages.get(timeout=WAIT_S)
    assert callback.headers.message_id == pushed["messageId"]
    return pushed, callback, incoming, answer


def test_the_sdk_opens_a_connection_with_its_subscriptions(client, sim):
    connection = sim.get("/stream/connections", opened=1)["connections"][0]

    assert connection["ua"].startswith("dingtalk-sdk-python/")
    assert {"type": "CALLBACK", "topic": ChatbotMessage.TOPIC} in connection["subscriptions"]
    assert {"type": "EVENT", "topic": "*"} in connection["subscriptions"]


@pytest.mark.parametrize(
    ("chat", "format"),
    [("group", "text"), ("single", "text"), ("group", "richText"), ("single", "richText"), ("group", "harmonyRichText")],
)
def test_a_robot_message_is_parsed_field_for_field_acked_and_answered(client, sim, chat, format):
    pushed, callback, incoming, answer = receive(client, sim, text="/meeting 123456789", chat=chat, format=format)
    body = pushed["body"]

    assert incoming.to_dict() == expected_parse(body)
    assert incoming.conversation_type == ("2" if chat == "group" else "1")
    assert incoming.sender_staff_id == sim.app["senderStaffId"]
    assert incoming.session_webhook.startswith(sim.base_url + "/robot/sendBySession?session=")
    assert "/meeting 123456789" in "".join(incoming.get_text_list()).strip()
    if chat == "group":
        assert incoming.is_in_at_list is True
        assert incoming.chatbot_user_id in [u.dingtalk_id for u in incoming.at_users]
    assert callback.headers.topic == ChatbotMessage.TOPIC
    assert callback.headers.app_id and callback.headers.connection_id and callback.headers.time

    [ack] = sim.get("/stream/answers", messageId=pushed["messageId"])
    assert ack["frame"]["code"] == 200
    assert ack["frame"]["headers"]["messageId"] == pushed["messageId"]

    assert answer == {"errcode": 0, "errmsg": "ok"}
    [post] = sim.get("/webhook-posts", session=pushed["sessionId"])
    assert post["errcode"] == 0
    assert post["body"]["msgtype"] == "markdown"
    assert post["body"]["markdown"]["title"] == REPLY_TITLE


def test_other_people_mentioned_reach_the_sdk_as_at_users_with_their_staff_ids(client, sim):
    _, _, incoming, _ = receive(client, sim, text="/meeting 123456789 @李四", mentioning=["manager808"])

    assert [u.staff_id for u in incoming.at_users] == ["manager808", None]
    assert incoming.at_users[0].extensions["unionId"].endswith("iEiE")
    assert incoming.at_users[1].dingtalk_id == incoming.chatbot_user_id
    assert incoming.extensions["senderUnionId"]


def test_an_event_is_parsed_and_its_ack_settles_it(client, sim):
    data = {"eventId": "e1", "syncAction": "user_add_org", "userId": ["manager807"]}
    pushed = sim.post("/stream/event", {"eventType": "user_add_org", "data": data})

    event = client.events.events.get(timeout=WAIT_S)
    assert event.headers.message_id == pushed["messageId"]
    assert event.headers.event_type == "user_add_org"
    assert event.headers.event_corp_id == sim.app["corpId"]
    assert event.headers.event_id and event.headers.event_born_time and event.headers.event_unified_app_id
    assert event.data == data

    [ack] = sim.get("/stream/answers", messageId=pushed["messageId"])
    assert ack["frame"]["code"] == 200
    assert pushed["messageId"] not in sim.get("/stream/awaiting-ack")["messageIds"], (
        "the Python SDK's ack (code 200, no status) settles the event"
    )


def test_a_ping_is_answered_with_its_opaque_data(client, sim):
    pushed = sim.post("/stream/ping")

    [pong] = sim.get("/stream/answers", messageId=pushed["messageId"])
    assert pong["frame"]["code"] == 200
    sent = sim.get("/stream/sent", messageId=pushed["messageId"])
    ping = json.loads(sent[0]["text"])
    assert json.loads(pong["frame"]["data"]) == json.loads(ping["data"])


def reconnects_cleanly(client, sim, before, logged):
    """After connection number `before` ended: a new one is open, and the SDK logged no error
    since its record number `logged` (its error path logs, then sleeps 10 s)."""
    now = sim.get("/stream/connections", opened=before + 1, closed=before)
    assert [c["closed"] for c in now["connections"][:before]].count(None) == 0, now
    assert now["connections"][before]["closed"] is None
    assert client.log.errors(since=logged) == []
    # It still works on the new connection.
    pushed, _, incoming, _ = receive(client, sim, text="/help", chat="single")
    assert incoming.message_id == pushed["body"]["msgId"]
    return now


def test_after_a_disconnect_frame_the_sdk_acks_closes_and_reconnects_without_an_error(client, sim):
    opened, logged = len(sim.get("/stream/connections")["connections"]), len(client.log.records)
    pushed = sim.post("/stream/disconnect")

    [ack] = sim.get("/stream/answers", messageId=pushed["messageId"])
    assert ack["frame"]["code"] == 200
    now = reconnects_cleanly(client, sim, opened, logged)
    assert now["connections"][opened - 1]["closed"] == "byClient"


def test_after_a_close_frame_the_sdk_reconnects_without_an_error(client, sim):
    opened, logged = len(sim.get("/stream/connections")["connections"]), len(client.log.records)
    sim.post("/stream/close")

    now = reconnects_cleanly(client, sim, opened, logged)
    assert now["connections"][opened - 1]["closed"] == "byServer"
