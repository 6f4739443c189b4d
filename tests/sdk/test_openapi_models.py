"""DingTalk's official OpenAPI SDK (alibabacloud-dingtalk, its tea clients and the models in
`*_1_0/models.py`) as a client of the simulator: every answer the simulator gives (access
tokens, conference infos with their pages and errors, robot sends) is parsed by the SDK's own
client, its model gives back exactly what was sent (`to_map()` equal to the JSON), and every
field a model defines is present in some answer, so a field the simulator dropped fails here."""

import pytest
import requests
from alibabacloud_dingtalk.conference_1_0 import client as conference_client
from alibabacloud_dingtalk.conference_1_0 import models as conference
from alibabacloud_dingtalk.oauth2_1_0 import client as oauth2_client
from alibabacloud_dingtalk.oauth2_1_0 import models as oauth2
from alibabacloud_dingtalk.robot_1_0 import client as robot_client
from alibabacloud_dingtalk.robot_1_0 import models as robot
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_util import models as util_models
from Tea.exceptions import TeaException

# Codes of the built-in scenario (sim/scenario.toml) whose answer is a conference list.
MEETING_CODES = ["123456789", "111222333", "246813579", "404000000", "999000130"]
# Codes answering an error, with the HTTP status.
ERROR_CODES = {"400000001": 400, "400000002": 400, "400000003": 400, "403000000": 403, "500000000": 500}


def config(sim):
    return open_api_models.Config(protocol="http", endpoint=sim.host)


def runtime():
    return util_models.RuntimeOptions(autoretry=False, read_timeout=10000, connect_timeout=5000)


def fields(model_class):
    """The attributes a model defines (its snake_case names)."""
    return set(vars(model_class()))


def present(model):
    """The attributes a parsed model has a value for."""
    return {name for name, value in vars(model).items() if value is not None}


def parses_exactly(model_class, raw):
    """The model parses `raw`, and gives back exactly `raw`: nothing unknown, nothing retyped."""
    model = model_class().from_map(raw)
    assert model.to_map() == raw, f"{model_class.__name__}: to_map() differs from the answer"
    return model


def get_json(url, token, **params):
    answer = requests.get(url, params=params, headers={"x-acs-dingtalk-access-token": token}, timeout=10)
    return answer.status_code, answer.json()


# --- Access tokens ---------------------------------------------------------------------------


def test_the_oauth2_client_gets_an_access_token_whose_answer_its_model_defines_exactly(sim):
    client = oauth2_client.Client(config(sim))
    request = oauth2.GetAccessTokenRequest(app_key=sim.app["clientId"], app_secret=sim.app["clientSecret"])

    answer = client.get_access_token_with_options(request, {}, runtime())

    assert answer.status_code == 200
    assert answer.body.access_token and answer.body.expire_in == 7200
    raw = requests.post(sim.base_url + "/v1.0/oauth2/accessToken", json=request.to_map(), timeout=5).json()
    body = parses_exactly(oauth2.GetAccessTokenResponseBody, raw)
    assert present(body) == fields(oauth2.GetAccessTokenResponseBody)


def test_the_unified_token_answer_in_snake_case_parses_into_its_model(sim):
    client = oauth2_client.Client(config(sim))
    request = oauth2.GetTokenRequest(
        client_id=sim.app["clientId"], client_secret=sim.app["clientSecret"], grant_type="client_credentials"
    )

    answer = client.get_token_with_options(sim.app["corpId"], request, {}, runtime())

    assert answer.body.access_token and answer.body.expires_in
    raw = requests.post(sim.base_url + f"/v1.0/oauth2/{sim.app['corpId']}/token", json=request.to_map(), timeout=5)
    body = parses_exactly(oauth2.GetTokenResponseBody, raw.json())
    assert present(body) == fields(oauth2.GetTokenResponseBody)


def test_a_wrong_app_secret_is_an_error_the_client_reports_with_dingtalks_code(sim):
    client = oauth2_client.Client(config(sim))
    request = oauth2.GetAccessTokenRequest(app_key=sim.app["clientId"], app_secret="not-the-secret")

    with pytest.raises(TeaException) as refused:
        client.get_access_token_with_options(request, {}, runtime())

    raw = requests.post(sim.base_url + "/v1.0/oauth2/accessToken", json=request.to_map(), timeout=5)
    assert raw.status_code == 400
    assert refused.value.code == raw.json()["code"] == "invalidClientIdOrSecret"
    # The client adds the HTTP status to the body it reports; the request id is fresh each time.
    assert refused.value.data == raw.json() | {"requestid": refused.value.data["requestid"], "statusCode": 400}


# --- Conference infos ------------------------------------------------------------------------


def query(sim, client, token, code, **request):
    return client.query_conference_info_by_room_code_with_options(
        code,
        conference.QueryConferenceInfoByRoomCodeRequest(**request),
        conference.QueryConferenceInfoByRoomCodeHeaders(x_acs_dingtalk_access_token=token),
        runtime(),
    )


def client_and_raw(sim, code, **request):
    """The tea client's parsed answer for `code`, and the JSON the simulator sent for it. The
    scenario's times are whole minutes of the simulator clock, so the raw answer is read on both
    sides of the client's call, and one of them was taken in the same minute."""
    client = conference_client.Client(config(sim))
    token = sim.token()
    params = {"maxResults": request.get("max_results"), "nextToken": request.get("next_token")}
    params = {k: v for k, v in params.items() if v is not None}
    url = sim.base_url + f"/v1.0/conference/roomCodes/{code}/infos"
    _, before = get_json(url, token, **params)
    answer = query(sim, client, token, code, **request)
    _, after = get_json(url, token, **params)
    raw = before if answer.body.to_map() == before else after
    assert answer.body.to_map() == raw, f"{code}: the client's parsed body differs from the answer"
    return answer, raw


@pytest.fixture(scope="module")
def answers(sim):
    """Every conference answer of the scenario's meeting codes, every page of the long one."""
    collected = {}
    for code in MEETING_CODES:
        collected[code] = [client_and_raw(sim, code)]
    pages, token = [], None
    while True:
        answer, raw = client_and_raw(sim, "999000130", max_results=20, next_token=token)
        pages.append((answer, raw))
        if not answer.body.has_more:
            break
        token = answer.body.next_token
    collected["999000130 by 20"] = pages
    return collected


def test_every_conference_answer_parses_into_the_models_and_back_unchanged(answers):
    for code, pages in answers.items():
        for answer, raw in pages:
            assert answer.status_code == 200, code
            body = parses_exactly(conference.QueryConferenceInfoByRoomCodeResponseBody, raw)
            for entry, raw_entry in zip(body.conference_list, raw["conferenceList"], strict=True):
                assert entry.to_map() == raw_entry


def test_the_pages_of_a_long_answer_chain_by_next_token_and_add_up_to_the_total(answers):
    pages = [answer.body for answer, _ in answers["999000130 by 20"]]

    assert len(pages) == 7
    assert all(page.has_more for page in pages[:-1]) and not pages[-1].has_more
    assert all(page.next_token for page in pages[:-1])
    ids = [entry.conference_id for page in pages for entry in page.conference_list]
    assert len(ids) == len(set(ids)) == pages[0].total_count == 130


def test_every_field_the_conference_models_define_is_in_some_answer(answers):
    bodies = [answer.body for pages in answers.values() for answer, _ in pages]
    entries = [entry for body in bodies for entry in body.conference_list]

    body_fields = set().union(*(present(body) for body in bodies))
    entry_fields = set().union(*(present(entry) for entry in entries))

    assert body_fields == fields(conference.QueryConferenceInfoByRoomCodeResponseBody)
    assert entry_fields == fields(conference.QueryConferenceInfoByRoomCodeResponseBodyConferenceList)


def test_an_empty_answer_has_an_empty_list_and_no_more(answers):
    [(answer, raw)] = answers["404000000"]

    assert raw["conferenceList"] == []
    assert answer.body.conference_list == [] and answer.body.has_more is False and answer.body.total_count == 0


@pytest.mark.parametrize(("code", "status"), ERROR_CODES.items())
def test_each_documented_error_is_reported_by_the_client_with_its_code_and_body(sim, code, status):
    client = conference_client.Client(config(sim))
    token = sim.token()

    with pytest.raises(TeaException) as refused:
        query(sim, client, token, code)

    raw_status, raw = get_json(sim.base_url + f"/v1.0/conference/roomCodes/{code}/infos", token)
    assert raw_status == status
    assert set(raw) == {"code", "message", "requestid"}
    assert refused.value.code == raw["code"]
    assert refused.value.data == raw | {"requestid": refused.value.data["requestid"], "statusCode": status}


def test_a_revoked_token_is_refused_as_dingtalk_does(sim):
    client = conference_client.Client(config(sim))

    with pytest.raises(TeaException) as refused:
        query(sim, client, "not-a-token", "123456789")

    assert refused.value.code == "InvalidAuthentication"


# --- Robot sends -----------------------------------------------------------------------------


def robot_headers(model, sim):
    return model(x_acs_dingtalk_access_token=sim.token())


def test_the_tea_clients_group_send_is_accepted_and_its_answer_is_the_models(sim):
    client = robot_client.Client(config(sim))
    request = robot.OrgGroupSendRequest(
        robot_code=sim.app["clientId"],
        open_conversation_id=sim.app["groupConversationId"],
        msg_key="sampleMarkdown",
        msg_param='{"title":"会议","text":"**产品周会** 进行中"}',
    )

    answer = client.org_group_send_with_options(request, robot_headers(robot.OrgGroupSendHeaders, sim), runtime())

    assert answer.status_code == 200 and answer.body.process_query_key
    assert present(answer.body) == fields(robot.OrgGroupSendResponseBody)
    sent = sim.get("/openapi-sends")[-1]
    assert sent["status"] == 200 and sent["body"] == request.to_map()


def test_a_group_send_to_a_cool_app_without_a_conversation_id_is_accepted(sim):
    client = robot_client.Client(config(sim))
    request = robot.OrgGroupSendRequest(
        robot_code=sim.app["clientId"],
        cool_app_code="COOLAPP-1-10208EE4A1D5F8B7C5BD000W",
        msg_key="sampleText",
        msg_param='{"content":"hi"}',
    )

    answer = client.org_group_send_with_options(request, robot_headers(robot.OrgGroupSendHeaders, sim), runtime())

    assert answer.status_code == 200 and answer.body.process_query_key


def test_the_tea_clients_one_to_one_send_is_accepted_and_its_answer_has_every_model_field(sim):
    client = robot_client.Client(config(sim))
    request = robot.BatchSendOTORequest(
        robot_code=sim.app["clientId"],
        user_ids=[sim.app["senderStaffId"]],
        msg_key="sampleText",
        msg_param='{"content":"hi"}',
    )

    answer = client.batch_send_otowith_options(request, robot_headers(robot.BatchSendOTOHeaders, sim), runtime())

    assert answer.status_code == 200 and answer.body.process_query_key
    assert present(answer.body) == fields(robot.BatchSendOTOResponseBody)
    raw = requests.post(
        sim.base_url + "/v1.0/robot/oToMessages/batchSend",
        json=request.to_map(),
        headers={"x-acs-dingtalk-access-token": sim.token()},
        timeout=5,
    ).json()
    parses_exactly(robot.BatchSendOTOResponseBody, raw)
    sent = sim.get("/openapi-sends")[-1]
    assert sent["status"] == 200 and sent["body"] == request.to_map()
