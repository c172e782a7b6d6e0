#!/usr/bin/env python3
"""A roomcast bot: joins a room and answers every message that mentions it.

It marks each mention it answers with a 👀 reaction first. Only new messages
are answered: an edit (of a message it already answered, or of its own reply)
is not a new question.

Receives over the room's WebSocket, sends over HTTP, and after any disconnect
reconnects with ?after=<last seq seen>, so it misses nothing and answers
nothing twice. Needs Python 3.9+ and `pip install requests websockets`.

    ROOMCAST_URL    the server (default http://127.0.0.1:8080)
    ROOMCAST_TOKEN  the bot's token, from POST /api/bots
    ROOMCAST_ROOM   the id of the room to join
"""

import asyncio
import json
import os
import re
import sys
import time
from urllib.parse import quote

import requests
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

URL = os.environ.get("ROOMCAST_URL", "http://127.0.0.1:8080").rstrip("/")
ROOM = int(os.environ["ROOMCAST_ROOM"])
AUTH = {"Authorization": "Bearer " + os.environ["ROOMCAST_TOKEN"]}

# Close codes after which reconnecting cannot help (see the README).
FINAL = {
    1008: "the server says we sent data",
    4001: "the token was rotated or revoked",
    4003: "removed from the room",
    4004: "the room was deleted",
}

http = requests.Session()
http.headers.update(AUTH)


def log(*words):
    print("bot:", *words, flush=True)


def call(method, path):
    """One API call that must succeed; a refusal stops the bot."""
    r = http.request(method, URL + path, timeout=10)
    if r.status_code >= 400:
        sys.exit(f"bot: {method} {path}: HTTP {r.status_code} {r.text}")
    return r.json()


def react(message, emoji):
    """Reacts to `message`. A repeat is a no-op on the server, so a replayed
    event after a reconnect is harmless; a failure only loses the hint."""
    path = f"/api/rooms/{ROOM}/messages/{message['id']}/reactions/{quote(emoji)}"
    try:
        r = http.put(URL + path, timeout=10)
        if r.status_code >= 400:
            log(f"reaction refused: HTTP {r.status_code} {r.text}")
    except requests.RequestException as e:
        log("reaction failed:", e)


def reply(message, text):
    """Sends `text` to the room. The Idempotency-Key names the message being
    answered, so retries (and a replayed event) never post a reply twice."""
    key = f"reply-{message['room_id']}-{message['seq']}"
    for attempt in range(8):
        try:
            r = http.post(
                f"{URL}/api/rooms/{ROOM}/messages",
                json={"content": text},
                headers={"Idempotency-Key": key},
                timeout=10,
            )
        except requests.RequestException as e:
            log("send failed:", e)
        else:
            if r.status_code == 201:
                return
            if r.status_code not in (429, 503):
                log(f"reply refused: HTTP {r.status_code} {r.text}")
                return
            time.sleep(int(r.headers.get("Retry-After", "1")))
            continue
        time.sleep(min(0.5 * 2**attempt, 10))
    log("giving up on the reply to seq", message["seq"])


async def main():
    me = call("GET", "/api/me")["username"]
    # Join (200 if already a member) and answer only what is said from now on.
    after = call("PUT", f"/api/rooms/{ROOM}/members/me")["last_seq"]
    mention = re.compile(rf"(?<![a-z0-9_.-])@{re.escape(me)}(?![a-z0-9_-])", re.I)
    events = URL.replace("http", "ws", 1) + f"/api/rooms/{ROOM}/events"
    delay = 0.5
    while True:
        try:
            async with connect(f"{events}?after={after}", additional_headers=AUTH) as ws:
                log(f"@{me} listening to room {ROOM} after seq {after}")
                delay = 0.5
                try:
                    async for frame in ws:
                        event = json.loads(frame)
                        if "seq" not in event:
                            continue  # typing, presence: ephemeral, not in the stream
                        message = event["data"]
                        if (
                            event["type"] == "message.created"  # not message.updated
                            and not message["author"]["bot"]  # never answer bots: no loops
                            and mention.search(message["content"])
                        ):
                            await asyncio.to_thread(react, message, "👀")
                            text = f"@{message['author']['username']} pong: {message['content'][:3000]}"
                            await asyncio.to_thread(reply, message, text)
                        after = event["seq"]
                except ConnectionClosed:
                    pass
                if ws.close_code in FINAL:
                    sys.exit(f"bot: stopping: {FINAL[ws.close_code]} ({ws.close_code})")
                log(f"disconnected ({ws.close_code}); resuming after seq {after}")
        except InvalidStatus as e:
            status = e.response.status_code
            if status in (401, 403, 404):
                sys.exit(f"bot: the server refused the socket: HTTP {status}")
            log(f"socket refused with HTTP {status}; retrying in {delay} s")
        except (OSError, asyncio.TimeoutError, InvalidHandshake, ConnectionClosed) as e:
            log(f"cannot connect ({e!r}); retrying in {delay} s")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
