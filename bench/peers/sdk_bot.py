"""The meeting bot as a user would write it on DingTalk's official Python Stream SDK
(dingtalk-stream 0.24.3), for bench/stream.sh's side-by-side run: an AsyncChatbotHandler that
reads `/meeting CODE`, looks the code up with `requests` on the conference API (the access
token and each code's answer kept for 30 s, as the bot keeps them) and answers with the SDK's
`reply_markdown`. Nothing is tuned beyond what its documentation shows.

Settings (environment): DINGTALK_CLIENT_ID, DINGTALK_CLIENT_SECRET, and the SDK's own
DINGTALK_OPENAPI_ENDPOINT (the simulator in the benchmark; https://api.dingtalk.com otherwise).
"""

import logging
import os
import re
import threading
import time
from datetime import datetime, timedelta, timezone

import dingtalk_stream
import requests
from dingtalk_stream import AckMessage, ChatbotMessage

API = os.environ.get("DINGTALK_OPENAPI_ENDPOINT", "https://api.dingtalk.com")
CLIENT_ID = os.environ["DINGTALK_CLIENT_ID"]
CLIENT_SECRET = os.environ["DINGTALK_CLIENT_SECRET"]
COMMAND = re.compile(r"^/(?:meeting|m)\s+(\d{9,12})$")
CACHE_SECONDS = 30
CHINA = timezone(timedelta(hours=8))
STATUS = {0: "未开始", 1: "已结束", 2: "进行中"}


class Meetings:
    """The access token and the answer for each code, each kept for a while."""

    def __init__(self):
        self.lock = threading.Lock()
        self.token = None
        self.token_expires = 0.0
        self.answers = {}

    def access_token(self):
        with self.lock:
            if self.token and time.time() < self.token_expires:
                return self.token
            response = requests.post(
                f"{API}/v1.0/oauth2/accessToken", json={"appKey": CLIENT_ID, "appSecret": CLIENT_SECRET}
            )
            response.raise_for_status()
            body = response.json()
            self.token = body["accessToken"]
            self.token_expires = time.time() + body["expireIn"] - 300
            return self.token

    def lookup(self, code):
        with self.lock:
            kept = self.answers.get(code)
            if kept and time.time() < kept[0]:
                return kept[1]
        response = requests.get(
            f"{API}/v1.0/conference/roomCodes/{code}/infos",
            params={"maxResults": 20},
            headers={"x-acs-dingtalk-access-token": self.access_token()},
        )
        response.raise_for_status()
        meetings = response.json().get("conferenceList", [])
        with self.lock:
            self.answers[code] = (time.time() + CACHE_SECONDS, meetings)
        return meetings


def when(ms):
    return datetime.fromtimestamp(ms / 1000, CHINA).strftime("%m-%d %H:%M")


def card(code, meetings):
    if not meetings:
        return f"没有找到会议号 {code} 的会议"
    lines = [f"### 会议号 {code} · 共 {len(meetings)} 场"]
    for i, m in enumerate(meetings, 1):
        lines.append(f"\n#### {i}. {m.get('title', '')} · {STATUS.get(m.get('status'), '')}")
        if "startTime" in m:
            lines.append(f"- 开始：{when(m['startTime'])}")
        if "endTime" in m:
            lines.append(f"- 结束：{when(m['endTime'])}")
        if m.get("creatorNick"):
            lines.append(f"- 发起人：{m['creatorNick']}")
        if m.get("externalLinkUrl"):
            lines.append(f"\n[加入会议]({m['externalLinkUrl']})")
    return "\n".join(lines)


class MeetingHandler(dingtalk_stream.AsyncChatbotHandler):
    def __init__(self, meetings):
        super().__init__(max_workers=8)
        self.meetings = meetings

    def process(self, callback):
        message = ChatbotMessage.from_dict(callback.data)
        text = (message.text.content if message.text else "").strip()
        found = COMMAND.match(text)
        if not found:
            self.reply_markdown("会议助手", "发送 `/meeting 会议号` 查询会议", message)
            return AckMessage.STATUS_OK, "OK"
        code = found.group(1)
        try:
            meetings = self.meetings.lookup(code)
        except requests.RequestException:
            self.reply_markdown("会议助手", "暂时查不到会议，请稍后再试", message)
            return AckMessage.STATUS_OK, "OK"
        self.reply_markdown(f"会议号 {code}", card(code, meetings), message)
        return AckMessage.STATUS_OK, "OK"


def main():
    logging.basicConfig(level=logging.WARNING)
    client = dingtalk_stream.DingTalkStreamClient(dingtalk_stream.Credential(CLIENT_ID, CLIENT_SECRET))
    client.register_callback_handler(ChatbotMessage.TOPIC, MeetingHandler(Meetings()))
    client.start_forever()


if __name__ == "__main__":
    main()
