"""DingTalk's official OpenAPI SDK (alibabacloud-dingtalk) as a client of the simulator's calls
that act for a person: an instant video conference created and closed (`conference_1_0`), a
person's calendar listed with recurring events expanded and in pages (`calendar_1_0`), and the
robot's 1:1 send that carries the day's list. Each answer is parsed by the SDK's own client and
given back unchanged by its model (`to_map()` equal to the JSON); each documented refusal
reaches the client as an error with DingTalk's code."""

import datetime

import pytest
import requests
from alibabacloud_dingtalk.calendar_1_0 import client as calendar_client
from alibabacloud_dingtalk.calendar_1_0 import models as calendar
from alibabacloud_dingtalk.conference_1_0 import client as conference_client
from alibabacloud_dingtalk.conference_1_0 import models as conference
from Tea.exceptions import TeaException

from test_openapi_models import config, fields, parses_exactly, present, runtime

SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))


def union_id(sim, token, staff_id):
    """The person's unionId, from the simulator's old-style contact API (as the bot asks it)."""
    answer = requests.post(
        sim.base_url + "/topapi/v2/user/get",
        params={"access_token": token},
        json={"userid": staff_id, "language": "zh_CN"},
        timeout=5,
    ).json()
    assert answer["errcode"] == 0, answer
    return answer["result"]["unionid"]


def raw(sim, method, path, token, **kwargs):
    answer = requests.request(method, sim.base_url + path, headers={"x-acs-dingtalk-access-token": token}, timeout=5, **kwargs)
    return answer.status_code, answer.json()


def create(sim, token, request):
    client = conference_client.Client(config(sim))
    headers = conference.CreateVideoConferenceHeaders(x_acs_dingtalk_access_token=token)
    return client.create_video_conference_with_options(request, headers, runtime())


def close(sim, token, conference_id, organiser):
    client = conference_client.Client(config(sim))
    headers = conference.CloseVideoConferenceHeaders(x_acs_dingtalk_access_token=token)
    request = conference.CloseVideoConferenceRequest(union_id=organiser)
    return client.close_video_conference_with_options(conference_id, request, headers, runtime())


def test_a_video_conference_is_created_and_closed_through_the_sdk_and_its_answers_are_the_models(sim):
    token = sim.token()
    organiser = union_id(sim, token, "manager807")
    invitee = union_id(sim, token, "manager4220")
    request = conference.CreateVideoConferenceRequest(user_id=organiser, conf_title="SDK 评审", invite_user_ids=[invitee])

    created = create(sim, token, request)

    assert created.status_code == 200 and created.body.conference_id
    assert present(created.body) == fields(conference.CreateVideoConferenceResponseBody)
    assert " " in created.body.room_code, "the code as DingTalk writes it, in groups"
    status, body = raw(sim, "POST", "/v1.0/conference/videoConferences", token, json=request.to_map())
    assert status == 200
    parses_exactly(conference.CreateVideoConferenceResponseBody, body)

    closed = close(sim, token, created.body.conference_id, organiser)
    assert closed.status_code == 200 and closed.body.code == 200
    assert present(closed.body) == fields(conference.CloseVideoConferenceResponseBody)
    status, body = raw(sim, "DELETE", f"/v1.0/conference/videoConferences/{created.body.conference_id}", token, params={"unionId": organiser})
    assert status == 400 and body["code"] == "resourceClose"

    with pytest.raises(TeaException) as again:
        close(sim, token, created.body.conference_id, organiser)
    assert again.value.code == "resourceClose"


def test_someone_outside_the_organisation_cannot_organise_and_only_the_host_closes(sim):
    token = sim.token()
    with pytest.raises(TeaException) as refused:
        create(sim, token, conference.CreateVideoConferenceRequest(user_id="nobodyiEiE", conf_title="x"))
    assert refused.value.code == "unknownUserError"
    assert refused.value.data["statusCode"] == 400

    organiser = union_id(sim, token, "manager807")
    created = create(sim, token, conference.CreateVideoConferenceRequest(user_id=organiser, conf_title="主持人才能结束"))
    with pytest.raises(TeaException) as not_host:
        close(sim, token, created.body.conference_id, union_id(sim, token, "manager4220"))
    assert not_host.value.code == "permissionError"
    with pytest.raises(TeaException) as too_long:
        create(sim, token, conference.CreateVideoConferenceRequest(user_id=organiser, conf_title="长" * 300))
    assert too_long.value.code == "paramsTitleError"
    close(sim, token, created.body.conference_id, organiser)


def window(before=0, after=1):
    """Today in Shanghai, widened by `before` days before and `after` days after its start."""
    today = datetime.datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
    return (today - datetime.timedelta(days=before)).isoformat(), (today + datetime.timedelta(days=after)).isoformat()


def test_the_calendar_view_expands_the_scenarios_recurring_event_and_parses_into_its_model(sim):
    token = sim.token()
    person = union_id(sim, token, "manager807")
    time_min, time_max = window()
    client = calendar_client.Client(config(sim))
    headers = calendar.ListEventsViewHeaders(x_acs_dingtalk_access_token=token)
    request = calendar.ListEventsViewRequest(time_min=time_min, time_max=time_max, max_results=100)

    answer = client.list_events_view_with_options(person, "primary", request, headers, runtime())

    assert answer.status_code == 200
    standups = [e for e in answer.body.events if e.series_master_id == "standup"]
    assert len(standups) == 1, "today's instance of the daily stand-up"
    assert standups[0].online_meeting_info.type == "dingtalk"
    assert standups[0].online_meeting_info.extra_info["roomCode"] == "123 456 789"
    status, body = raw(sim, "GET", f"/v1.0/calendar/users/{person}/calendars/primary/eventsview", token, params=request.to_map())
    assert status == 200
    parses_exactly(calendar.ListEventsViewResponseBody, body)


def test_the_plain_event_list_pages_and_parses_into_its_model(sim):
    token = sim.token()
    person = union_id(sim, token, "manager807")
    # From yesterday, when the stand-up series began, to the day after tomorrow.
    time_min, time_max = window(before=1, after=2)
    client = calendar_client.Client(config(sim))
    headers = calendar.ListEventsHeaders(x_acs_dingtalk_access_token=token)

    first = client.list_events_with_options(
        person, "primary", calendar.ListEventsRequest(time_min=time_min, time_max=time_max, max_results=1), headers, runtime()
    )
    assert first.status_code == 200 and len(first.body.events) == 1 and first.body.next_token
    params = {"timeMin": time_min, "timeMax": time_max, "maxResults": 1, "nextToken": first.body.next_token}
    status, body = raw(sim, "GET", f"/v1.0/calendar/users/{person}/calendars/primary/events", token, params=params)
    assert status == 200
    parses_exactly(calendar.ListEventsResponseBody, body)


def test_a_calendar_of_someone_unknown_or_over_a_year_is_an_invalid_parameter(sim):
    token = sim.token()
    person = union_id(sim, token, "manager807")
    client = calendar_client.Client(config(sim))
    headers = calendar.ListEventsViewHeaders(x_acs_dingtalk_access_token=token)
    long = calendar.ListEventsViewRequest(time_min="2026-01-01T00:00:00+08:00", time_max="2027-06-01T00:00:00+08:00")
    with pytest.raises(TeaException) as refused:
        client.list_events_view_with_options(person, "primary", long, headers, runtime())
    assert refused.value.code == "invalidParameter"
    with pytest.raises(TeaException) as unknown:
        client.list_events_view_with_options("nobodyiEiE", "primary", calendar.ListEventsViewRequest(), headers, runtime())
    assert unknown.value.code == "invalidParameter"
