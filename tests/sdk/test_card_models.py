"""The official OpenAPI SDK (alibabacloud-dingtalk `card_1_0`, and `conference_1_0` for a
conference's details) as a client of the simulator's card platform: the SDK's own clients send
createAndDeliver, update and callback registration, and parse every answer; each model gives
back exactly what the simulator sent (`to_map()` equal to the JSON), so a field the simulator
renamed or retyped fails here. Uses the suite's `sim` fixture (conftest.py)."""

import uuid

import requests
from alibabacloud_dingtalk.card_1_0 import client as card_client
from alibabacloud_dingtalk.card_1_0 import models as card
from alibabacloud_dingtalk.conference_1_0 import client as conference_client
from alibabacloud_dingtalk.conference_1_0 import models as conference
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_util import models as util_models

# The standard markdown-with-buttons template the bot uses by default.
TEMPLATE = "1366a1eb-bc54-4859-ac88-517c56a9acb1.schema"
# A group of the built-in scenario and the code with a meeting in progress.
CONVERSATION = "cidJ8k435QAsxsxUvwst7NoMHCWTc0OaNCfYyGOsDesCH0="
CODE = "123456789"


def config(sim):
    return open_api_models.Config(protocol="http", endpoint=sim.host)


def runtime():
    return util_models.RuntimeOptions(autoretry=False, read_timeout=10000, connect_timeout=5000)


def parses_exactly(model_class, raw):
    model = model_class().from_map(raw)
    assert model.to_map() == raw, f"{model_class.__name__}: to_map() differs from the answer"
    return model


def robot_code(sim):
    return sim.app.get("robotCode") or sim.app["clientId"]


def new_card(sim, out_track_id):
    return card.CreateAndDeliverRequest(
        card_template_id=TEMPLATE,
        out_track_id=out_track_id,
        callback_type="STREAM",
        card_data=card.CreateAndDeliverRequestCardData(
            card_param_map={"markdown": "### 产品周会 · 进行中", "sys_full_json_obj": '{"msgButtons":[]}'}
        ),
        open_space_id=f"dtv1.card//IM_GROUP.{CONVERSATION}",
        im_group_open_space_model=card.CreateAndDeliverRequestImGroupOpenSpaceModel(support_forward=True),
        im_group_open_deliver_model=card.CreateAndDeliverRequestImGroupOpenDeliverModel(
            robot_code=robot_code(sim), at_user_ids={"manager807": "经理"}
        ),
        user_id_type=1,
    )


def headers(model_class, sim):
    return model_class(x_acs_dingtalk_access_token=sim.token())


def post(sim, path, body, method="POST"):
    answer = requests.request(
        method, sim.base_url + path, json=body, headers={"x-acs-dingtalk-access-token": sim.token()}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_create_and_deliver_is_answered_in_the_models_shape(sim):
    client = card_client.Client(config(sim))
    request = new_card(sim, f"sdk-{uuid.uuid4().hex}")

    answer = client.create_and_deliver_with_options(request, headers(card.CreateAndDeliverHeaders, sim), runtime())

    assert answer.status_code == 200
    assert answer.body.success is True
    assert answer.body.result.out_track_id == request.out_track_id
    [delivered] = answer.body.result.deliver_results
    assert (delivered.space_type, delivered.space_id, delivered.success) == ("IM_GROUP", CONVERSATION, True)
    raw = post(sim, "/v1.0/card/instances/createAndDeliver", new_card(sim, f"sdk-{uuid.uuid4().hex}").to_map())
    parses_exactly(card.CreateAndDeliverResponseBody, raw)


def test_an_update_of_a_delivered_card_is_answered_in_the_models_shape(sim):
    client = card_client.Client(config(sim))
    out_track_id = f"sdk-{uuid.uuid4().hex}"
    client.create_and_deliver_with_options(new_card(sim, out_track_id), headers(card.CreateAndDeliverHeaders, sim), runtime())
    request = card.UpdateCardRequest(
        out_track_id=out_track_id,
        card_data=card.UpdateCardRequestCardData(card_param_map={"markdown": "### 产品周会 · 已结束"}),
        card_update_options=card.UpdateCardRequestCardUpdateOptions(update_card_data_by_key=True),
    )

    answer = client.update_card_with_options(request, headers(card.UpdateCardHeaders, sim), runtime())

    assert answer.status_code == 200 and answer.body.success is True and answer.body.result is True
    parses_exactly(card.UpdateCardResponseBody, post(sim, "/v1.0/card/instances", request.to_map(), method="PUT"))


def test_a_callback_route_registration_is_answered_in_the_models_shape(sim):
    client = card_client.Client(config(sim))
    request = card.RegisterCallbackRequest(
        callback_route_key="dingmeet", callback_url="https://bot.example.com/dingtalk/card-callback", force_update=True
    )

    answer = client.register_callback_with_options(request, headers(card.RegisterCallbackHeaders, sim), runtime())

    assert answer.status_code == 200 and answer.body.success is True
    assert answer.body.result.callback_url == request.callback_url and answer.body.result.api_secret
    parses_exactly(card.RegisterCallbackResponseBody, post(sim, "/v1.0/card/callbacks/register", request.to_map()))


def test_a_conference_in_progress_has_details_with_how_many_are_in_it(sim):
    token = sim.token()
    infos = requests.get(
        f"{sim.base_url}/v1.0/conference/roomCodes/{CODE}/infos",
        headers={"x-acs-dingtalk-access-token": token},
        timeout=10,
    ).json()
    running = next(m for m in infos["conferenceList"] if m.get("status") == 2)
    client = conference_client.Client(config(sim))

    answer = client.query_conference_info_with_options(
        running["conferenceId"], conference.QueryConferenceInfoHeaders(x_acs_dingtalk_access_token=token), runtime()
    )

    assert answer.status_code == 200
    assert answer.body.conf_info.status == 2 and answer.body.conf_info.active_num >= 1
    raw = requests.get(
        f"{sim.base_url}/v1.0/conference/videoConferences/{running['conferenceId']}",
        headers={"x-acs-dingtalk-access-token": token},
        timeout=10,
    ).json()
    parses_exactly(conference.QueryConferenceInfoResponseBody, raw)
