"""The SDK contract suite's harness: the DingTalk simulator as its own process on 127.0.0.1
(the `dingtalk-sim` binary, found at $DINGTALK_SIM_BIN; scripts/test builds it), and a client
for its HTTP controls, which push Stream frames and read back what the SDKs did."""

import os
import subprocess
import time

import pytest
import requests

from sdk_client import Client

# How long a control may wait for something to be recorded (it polls on the simulator's side).
WAIT_S = 30


class Sim:
    """The running simulator: its DingTalk address, its controls and the scenario's app."""

    def __init__(self, base_url, controls_url):
        self.base_url = base_url
        self.controls_url = controls_url
        self.app = self.get("/app")
        self.host = base_url.removeprefix("http://")

    def get(self, path, **params):
        answer = requests.get(self.controls_url + path, params=params, timeout=WAIT_S + 5)
        assert answer.status_code == 200, f"GET {path} {params}: {answer.status_code} {answer.text}"
        return answer.json()

    def post(self, path, body=None):
        answer = requests.post(self.controls_url + path, json=body or {}, timeout=WAIT_S + 5)
        assert answer.status_code == 200, f"POST {path} {body}: {answer.status_code} {answer.text}"
        return answer.json()

    def token(self):
        """A fresh access token for the scenario's app, straight from the simulator."""
        answer = requests.post(
            self.base_url + "/v1.0/oauth2/accessToken",
            json={"appKey": self.app["clientId"], "appSecret": self.app["clientSecret"]},
            timeout=5,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["accessToken"]


@pytest.fixture(scope="session")
def sim():
    binary = os.environ.get("DINGTALK_SIM_BIN")
    if not binary or not os.access(binary, os.X_OK):
        pytest.fail(
            "DINGTALK_SIM_BIN must name the dingtalk-sim binary (scripts/test builds it and sets it)",
            pytrace=False,
        )
    process = subprocess.Popen([binary], stdout=subprocess.PIPE, text=True)
    try:
        addresses = {}
        deadline = time.monotonic() + WAIT_S
        while len(addresses) < 2 and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            name, _, url = line.strip().partition(" ")
            addresses[name] = url
        assert {"simulator", "controls"} <= addresses.keys(), f"dingtalk-sim printed {addresses}"
        yield Sim(addresses["simulator"], addresses["controls"])
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def client(sim):
    """DingTalk's official Stream SDK, connected to the simulator (one connection for the whole
    suite: a pushed frame goes to any connection subscribed to it)."""
    started = Client(sim)
    sim.get("/stream/connections", opened=1)
    return started
