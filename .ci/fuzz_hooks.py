"""Schemathesis hooks for .ci/fuzz: how the fuzzer authenticates.

RC_FUZZ_AUTH picks one principal for the whole run:
  cookie  a logged-in user's session cookie
  bearer  a bot's token (Authorization: Bearer)

The fuzzer itself logs out (DELETE /api/session), rotates and revokes bot tokens, and deletes
bots, so a credential does not last the run. Schemathesis fetches a fresh one whenever an
answer is 401 (its default `retry_on`), which keeps every operation reachable while still
fuzzing those that end a credential.
"""

import os
import re

import requests
import requests.adapters
import schemathesis

BASE = os.environ["RC_FUZZ_URL"]
MODE = os.environ["RC_FUZZ_AUTH"]
USERNAME = os.environ["RC_FUZZ_USER"]
PASSWORD = os.environ["RC_FUZZ_PASSWORD"]
COOKIE = os.environ.get("RC_FUZZ_COOKIE", "roomcast_session")
TIMEOUT = 10

if MODE not in ("cookie", "bearer"):
    raise SystemExit(f"RC_FUZZ_AUTH must be cookie or bearer, not {MODE!r}")


def _login() -> requests.Session:
    http = requests.Session()
    res = http.post(
        f"{BASE}/api/session",
        json={"username": USERNAME, "password": PASSWORD},
        timeout=TIMEOUT,
    )
    res.raise_for_status()
    return http


# A valid request to GET /api/rooms/{id}/events is a WebSocket handshake, answered 101: from
# then on that connection speaks WebSocket. requests does not know that and would send the
# next request down it (and read frames as its answer), so after a 101 the pooled
# connections are closed.
_send = requests.adapters.HTTPAdapter.send


def _send_never_reusing_upgrades(self, request, *args, **kwargs):
    response = _send(self, request, *args, **kwargs)
    if response.status_code == 101:
        self.poolmanager.clear()
    return response


requests.adapters.HTTPAdapter.send = _send_never_reusing_upgrades


@schemathesis.auth()
class RoomcastAuth:
    def __init__(self):
        self.bots = 0

    def get(self, case, context):
        http = _login()
        if MODE == "cookie":
            return http.cookies[COOKIE]
        # A new bot each time: the old one may have been deleted by the fuzz run.
        self.bots += 1
        res = http.post(
            f"{BASE}/api/bots",
            json={"name": f"fuzzbot{os.getpid()}x{self.bots}"},
            timeout=TIMEOUT,
        )
        res.raise_for_status()
        return res.json()["token"]

    def set(self, case, data, context):
        if MODE == "cookie":
            case.cookies = dict(case.cookies or {})
            case.cookies[COOKIE] = data
        else:
            case.headers = dict(case.headers or {})
            case.headers["Authorization"] = f"Bearer {data}"


# An Idempotency-Key names one request: reusing it with another body is answered 422
# idempotency-key-reused (IETF draft-ietf-httpapi-idempotency-key-header), which is right, but
# schemathesis judges each case alone and calls that a valid request rejected. So a key the run
# already sent with other content gets a fresh one of the same length; a repeat of the same
# request keeps its key, so the replay path is still fuzzed. tests/e2e covers the 422 itself.
_IDEMPOTENCY_SEEN: dict[str, tuple] = {}
_PRINTABLE = "".join(chr(c) for c in range(0x21, 0x7F))


def _fresh_key(length: int) -> str:
    import secrets

    # Short keys run out (94 of length 1), so after a few tries a longer one is taken.
    for attempt in range(64):
        size = min(255, max(1, length) + attempt // 8)
        key = "".join(secrets.choice(_PRINTABLE) for _ in range(size))
        if key not in _IDEMPOTENCY_SEEN:
            return key
    return secrets.token_hex(32)


# The document can only say an emoji is a string of 1-64 characters; the server accepts exactly
# one emoji grapheme of Unicode's list (422 otherwise, tested in tests/e2e/reactions.rs). A
# string the document allows is made a real emoji, so the positive cases reach the reaction
# logic; out-of-range lengths stay as they are (negative cases).
_EMOJI = ["👍", "❤️", "🎉", "😂", "👀", "🚀"]


def _real_emoji(case, kwargs):
    params = case.path_parameters or {}
    emoji = params.get("emoji")
    if isinstance(emoji, str) and 1 <= len(emoji) <= 64 and emoji not in _EMOJI:
        real = _EMOJI[len(emoji) % len(_EMOJI)]
        case.path_parameters = {**params, "emoji": real}
        # The request's URL is already built from the parameters: rebuild its last segment.
        url = kwargs.get("url")
        if isinstance(url, str) and "/reactions/" in url:
            from urllib.parse import quote

            kwargs["url"] = url.rsplit("/reactions/", 1)[0] + "/reactions/" + quote(real)


# GET /api/rooms/{id}/events is a WebSocket handshake when it has an Upgrade header (400 if the
# handshake is not whole and valid) and the JSON listing of the events when it has none. The
# document can only list the four handshake headers as optional, each with its pattern; it
# cannot say they go together. So a case whose handshake headers all match their patterns is
# completed into a whole handshake (a positive case reaches the socket code, 101), and a case
# with one that does not match gets an Upgrade header if it lacks one (a negative case stays a
# handshake, which the server refuses with 400). Without any of them it is the listing, fuzzed
# as it is. Schemathesis' stateful phase sends an optional header it has no value for as None
# or the text "null"; such a header is taken as absent.
_HANDSHAKE = {
    "upgrade": ("Upgrade", r"websocket", lambda: "websocket"),
    "connection": ("Connection", r"Upgrade", lambda: "Upgrade"),
    "sec-websocket-version": ("Sec-WebSocket-Version", r"13", lambda: "13"),
    "sec-websocket-key": (
        "Sec-WebSocket-Key",
        r"[A-Za-z0-9+/]{21}[AQgw]==",
        lambda: __import__("base64").b64encode(os.urandom(16)).decode(),
    ),
}


def _one_handshake(case, kwargs):
    # Only the room's path: /api/me/events is a WebSocket alone, its headers required.
    path = str(case.path)
    if case.method.upper() != "GET" or not (path.startswith("/api/rooms/") and path.endswith("/events")):
        return
    headers = {
        k: v
        for k, v in (case.headers or {}).items()
        if not (k.lower() in _HANDSHAKE and (v is None or v == "null"))
    }
    present = {k.lower(): v for k, v in headers.items() if k.lower() in _HANDSHAKE}
    if present:
        valid = all(
            isinstance(v, str) and re.fullmatch(_HANDSHAKE[k][1], v) for k, v in present.items()
        )
        for lower, (name, _, value) in _HANDSHAKE.items():
            if lower not in present and (valid or lower == "upgrade"):
                headers[name] = value()
    case.headers = headers
    sent = kwargs.get("headers")
    if isinstance(sent, dict):
        for k in [k for k in sent if k.lower() in _HANDSHAKE]:
            del sent[k]
        sent.update({k: v for k, v in headers.items() if k.lower() in _HANDSHAKE})


@schemathesis.hook
def before_call(context, case, kwargs):
    _real_emoji(case, kwargs)
    _one_handshake(case, kwargs)
    headers = case.headers or {}
    name = next((h for h in headers if h.lower() == "idempotency-key"), None)
    # A send (POST) and an edit (PATCH) take a key.
    if name is None or case.method.upper() not in ("POST", "PATCH"):
        return
    key = headers[name]
    # Only a well-formed key names a stored request; a malformed one is a negative case (400).
    if not isinstance(key, str) or not re.fullmatch(r"[\x20-\x7E]{1,255}", key):
        return
    body = case.body if isinstance(case.body, dict) else None
    request = (
        case.method.upper(),
        repr(case.path_parameters),
        repr(body.get("content") if body else case.body),
    )
    # HTTP drops a header value's surrounding blanks, so " k" and "k" are one key to the server.
    seen = _IDEMPOTENCY_SEEN.setdefault(key.strip(" "), request)
    if seen != request:
        fresh = _fresh_key(len(key))
        _IDEMPOTENCY_SEEN[fresh] = request
        case.headers = {**headers, name: fresh}


# The false positives left by the document's limits: it can only say an emoji is a string of
# 1-64 characters, so schemathesis counts the server's 422 for a string that is not one emoji
# as a valid request rejected; and it cannot say that a DM's `user_id` is not the caller's own
# id (the server's 422 for a DM with yourself, tested in tests/e2e/dms.rs). Exactly those two
# 422s (field "emoji"; field "user_id" of POST /api/dms) are dropped; every other failure
# stays.
@schemathesis.hook
def filter_failure(context, failure, case, response):
    if getattr(response, "status_code", None) != 422:
        return True
    try:
        problem = response.json()
    except Exception:  # not JSON: keep the failure
        return True
    if not isinstance(problem, dict) or problem.get("type") != "validation-failed":
        return True
    field = problem.get("field")
    if field == "emoji":
        return False
    self_dm = (
        field == "user_id"
        and case.method.upper() == "POST"
        and case.path == "/api/dms"
        and problem.get("detail") == "user_id: a direct message is with someone else"
    )
    return not self_dm
