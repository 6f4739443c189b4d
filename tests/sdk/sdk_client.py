"""DingTalk's official Python Stream SDK as a client of the simulator, shared by the Stream
contract tests: a robot-message handler that replies, an event handler that records what it
gets and answers as told, and the SDK client running in its own thread."""

import asyncio
import logging
import queue
import threading

import dingtalk_stream
from dingtalk_stream import AckMessage, ChatbotMessage
from dingtalk_stream import stream as stream_module

# The title and text the handler replies with, so the test can find the reply.
REPLY_TITLE = "会议助手"


class Recorder(logging.Handler):
    """Keeps the SDK client's log records: its error path logs before it sleeps."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def errors(self, since=0):
        """The error lines logged, from record number `since` on."""
        return [r.getMessage() for r in self.records[since:] if r.levelno >= logging.ERROR]


class Bot(dingtalk_stream.ChatbotHandler):
    """Records each robot message and replies to it in markdown on its session webhook."""

    def __init__(self):
        super().__init__()
        self.messages = queue.Queue()

    async def process(self, callback):
        incoming = ChatbotMessage.from_dict(callback.data)
        answer = self.reply_markdown(REPLY_TITLE, "**收到** " + " ".join(incoming.get_text_list() or []), incoming)
        self.messages.put((callback, incoming, answer))
        return AckMessage.STATUS_OK, "OK"


class Events(dingtalk_stream.EventHandler):
    """Records each event and acknowledges it the SDK's way (code 200, the event data echoed),
    or, while `statuses` holds some, with the next of them (`SUCCESS` or `LATER`) as DingTalk
    documents the ack: `data` a JSON string `{"status": …, "message": …}`."""

    def __init__(self):
        super().__init__()
        self.events = queue.Queue()
        self.statuses = []

    async def process(self, event):
        self.events.put(event)
        return AckMessage.STATUS_OK, "OK"

    async def raw_process(self, event_message):
        ack = await super().raw_process(event_message)
        if self.statuses:
            status = self.statuses.pop(0)
            ack.data = {"status": status, "message": status.lower()}
        return ack


class Client:
    """The SDK client, running its own event loop in a thread, pointed at the simulator."""

    def __init__(self, sim):
        stream_module.DINGTALK_OPENAPI_ENDPOINT = sim.base_url
        dingtalk_stream.DingTalkStreamClient.OPEN_CONNECTION_API = sim.base_url + "/v1.0/gateway/connections/open"
        self.log = Recorder()
        logger = logging.getLogger("dingtalk_stream.client.sdk-suite")
        logger.setLevel(logging.DEBUG)
        logger.addHandler(self.log)
        credential = dingtalk_stream.Credential(sim.app["clientId"], sim.app["clientSecret"])
        self.client = dingtalk_stream.DingTalkStreamClient(credential, logger=logger)
        # Its own address, as the open call reports it; the SDK finds it with a UDP socket aimed
        # at a public address, which this suite keeps off.
        self.client.get_host_ip = lambda: "127.0.0.1"
        self.bot = Bot()
        self.events = Events()
        self.client.register_callback_handler(ChatbotMessage.TOPIC, self.bot)
        self.client.register_all_event_handler(self.events)
        thread = threading.Thread(target=lambda: asyncio.run(self.client.start()), daemon=True)
        thread.start()
