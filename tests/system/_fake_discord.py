"""A fake Discord REST API on 127.0.0.1 that outlives the bot processes posting to it: what
several real bot processes (``_delivery_bot.py``) share in a test, and what a killed one
leaves behind. simcord's Discord lives inside one process, so it cannot be that.

It answers the routes delivery uses: who am I, post a message, read a channel's history
(newest first; with ``after``, the oldest page after it, as Discord does). Message ids are
snowflakes of the real clock. It keeps no nonces: as if Discord's few minutes of nonce
memory had passed, so only the bot's own search keeps it from posting twice."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

DISCORD_EPOCH_MS = 1_420_070_400_000
BOT_ID = 4_000_000_000_000_001
USER_ID = 4_000_000_000_000_002
TOKEN = "fake-discord-token"
_MESSAGES = re.compile(r"^/api/v10/channels/(\d+)/messages$")


@dataclass
class FakeDiscord:
    """The messages of every channel, shared by the server's threads."""

    base_url: str = ""
    channels: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)
    _last_id: int = 0

    def snowflake(self) -> int:
        new = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last_id = max(new, self._last_id + 1)
        return self._last_id

    def post(self, channel_id: int, content: str, author_id: int = USER_ID) -> dict[str, Any]:
        with self.lock:
            message = _message(self.snowflake(), channel_id, content, author_id)
            self.channels[channel_id].append(message)
            return message

    def history(self, channel_id: int, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        limit = int(query.get("limit", ["50"])[0])
        with self.lock:
            messages = sorted(self.channels[channel_id], key=lambda m: int(m["id"]))
        if "after" in query:
            after = int(query["after"][0])
            page = [m for m in messages if int(m["id"]) > after][:limit]
        else:
            before = int(query.get("before", [str(1 << 63)])[0])
            page = [m for m in messages if int(m["id"]) < before][-limit:]
        return list(reversed(page))

    def bot_messages(self, channel_id: int) -> list[str]:
        with self.lock:
            return [
                m["content"] for m in self.channels[channel_id] if m["author"]["id"] == str(BOT_ID)
            ]


def _user(user_id: int, bot: bool) -> dict[str, Any]:
    name = "petbooth" if bot else "alice"
    return {
        "id": str(user_id),
        "username": name,
        "global_name": name,
        "discriminator": "0",
        "avatar": None,
        "bot": bot,
    }


def _message(message_id: int, channel_id: int, content: str, author_id: int) -> dict[str, Any]:
    return {
        "id": str(message_id),
        "channel_id": str(channel_id),
        "author": _user(author_id, author_id == BOT_ID),
        "content": content,
        "timestamp": "2026-01-01T00:00:00+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "components": [],
        "pinned": False,
        "type": 0,
        "flags": 0,
    }


def _handler(discord: FakeDiscord) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/api/v10/users/@me":
                return self._answer(200, _user(BOT_ID, True))
            if match := _MESSAGES.match(url.path):
                return self._answer(200, discord.history(int(match[1]), parse_qs(url.query)))
            return self._answer(404, {"message": "Unknown route", "code": 0})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            if match := _MESSAGES.match(urlsplit(self.path).path):
                return self._answer(200, discord.post(int(match[1]), body["content"], BOT_ID))
            return self._answer(404, {"message": "Unknown route", "code": 0})

        def _answer(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def fake_discord() -> Iterator[FakeDiscord]:
    discord = FakeDiscord()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(discord))
    server.daemon_threads = True
    discord.base_url = f"http://127.0.0.1:{server.server_port}/api/v10"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield discord
    finally:
        server.shutdown()
        server.server_close()
