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
