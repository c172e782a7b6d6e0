#!/usr/bin/env bash
# Every endpoint of the API once, with curl (and websocat for the WebSocket), against a
# fresh server: S=http://127.0.0.1:8080 bash examples/api.sh. Needs curl, jq, websocat.
set -euo pipefail
S=${S:-http://127.0.0.1:8080}
H='Content-Type: application/json'
# Every curl below shows the answer (a 204 has no body: -w shows its status), and stops the
# script on an HTTP error.
curl() { command curl -sS --fail-with-body "$@"; echo; }

# Accounts and sessions; the cookie jar keeps the session cookie.
curl -X POST $S/api/accounts -H "$H" -d '{"username":"alice","password":"correct horse"}'
curl -c jar -X POST $S/api/session -H "$H" -d '{"username":"alice","password":"correct horse"}'
curl -b jar $S/api/me

# Rooms: create (you are its owner and first member), list, show.
ROOM=$(curl -b jar -X POST $S/api/rooms -H "$H" -d '{"name":"general","capacity":50}' | jq .id)
curl -b jar $S/api/rooms
curl -b jar $S/api/rooms/$ROOM

# A bot, made by a logged-in person. Its token is shown only here.
BOT=$(curl -b jar -X POST $S/api/bots -H "$H" -d '{"name":"helper"}')
BOT_ID=$(jq .id <<<"$BOT")
A="Authorization: Bearer $(jq -r .token <<<"$BOT")"
curl -b jar $S/api/bots
curl -H "$A" $S/api/me

# Members: the bot joins (201; 200 if it already was a member); the list is in join order.
curl -H "$A" -X PUT $S/api/rooms/$ROOM/members/me
curl -b jar $S/api/rooms/$ROOM/members

# Messages: send (an Idempotency-Key makes a retry safe), then history by seq.
curl -b jar -X POST $S/api/rooms/$ROOM/messages -H "$H" -d '{"content":"hello @helper"}'
curl -H "$A" -X POST $S/api/rooms/$ROOM/messages -H "$H" -H 'Idempotency-Key: hi-1' \
  -d '{"content":"@alice pong"}'
curl -b jar "$S/api/rooms/$ROOM/messages"
curl -H "$A" "$S/api/rooms/$ROOM/messages?after=0&limit=20"
curl -b jar "$S/api/rooms/$ROOM/messages?before=4"
# Mark the room read up to seq 4 (a marker only moves forward): {room_id, last_read_seq, unread}.
curl -b jar -X PUT $S/api/rooms/$ROOM/read -H "$H" -d '{"seq":4}'
# Edit a message (its author only; the same rules and Idempotency-Key as a send), then
# delete it (its author or the room's owner): history keeps a tombstone, its text is erased.
MSG=$(curl -b jar -X POST $S/api/rooms/$ROOM/messages -H "$H" -d '{"content":"tpyo"}' | jq .id)
curl -b jar -X PATCH $S/api/rooms/$ROOM/messages/$MSG -H "$H" -d '{"content":"typo"}'
# React (one emoji, percent-encoded: here 👍; a repeat is a no-op), and take it back.
E=%F0%9F%91%8D
curl -H "$A" -X PUT $S/api/rooms/$ROOM/messages/$MSG/reactions/$E
curl -H "$A" -X DELETE $S/api/rooms/$ROOM/messages/$MSG/reactions/$E -w '%{http_code}'
curl -b jar -X DELETE $S/api/rooms/$ROOM/messages/$MSG -w '%{http_code}'

# The WebSocket, receive-only: every event after seq 2 (replayed, then live), one JSON
# object a line. -1 stops after the first; without it the stream goes on.
websocat -1 -t -U -n -H="$A" "ws://${S#http://}/api/rooms/$ROOM/events?after=2"
# The same events over plain HTTP (no Upgrade): a page, each event exactly its frame.
curl -H "$A" "$S/api/rooms/$ROOM/events?after=0&limit=100"

# Ephemeral signals (no seq, never stored): say you are typing (the room's other sockets get a
# `typing` frame; at most one per 3 s, calls in between are quiet 204s), and who is online.
curl -H "$A" -X POST $S/api/rooms/$ROOM/typing -w 'POST %{http_code}'
curl -b jar $S/api/rooms/$ROOM/presence
# The summary stream, one socket per user (no message bodies): room.activity, room.added,
# room.removed, read.updated frames. Here it listens 2 s while alice speaks (room.activity).
timeout 2 websocat -t -U -n -H="$A" "ws://${S#http://}/api/me/events" & SUMMARY=$!
sleep 0.5
curl -b jar -X POST $S/api/rooms/$ROOM/messages -H "$H" -d '{"content":"anyone?"}'
wait $SUMMARY || true

# A second person joins and leaves; the owner removes the bot (its sockets close 4003).
curl -X POST $S/api/accounts -H "$H" -d '{"username":"bob","password":"battery staple"}'
curl -c bobjar -X POST $S/api/session -H "$H" -d '{"username":"bob","password":"battery staple"}'
curl -b bobjar -X PUT $S/api/rooms/$ROOM/members/me
curl -b bobjar -X DELETE $S/api/rooms/$ROOM/members/me -w '%{http_code}'
curl -b jar -X DELETE $S/api/rooms/$ROOM/members/$BOT_ID -w '%{http_code}'

# Bans (the owner or an admin): a banned member is removed at once (sockets close 4003) and
# every join is refused (403 banned) until the ban is lifted.
BOB_ID=$(curl -b bobjar $S/api/me | jq .id)
curl -b jar -X PUT $S/api/rooms/$ROOM/bans/$BOB_ID -w 'PUT %{http_code}'
curl -b jar -X DELETE $S/api/rooms/$ROOM/bans/$BOB_ID -w '%{http_code}'

# A private room: listed and shown only to its members (404 for anyone else). The owner (or
# an admin) invites (the code is shown only here; the page's link is `url`) or adds a member.
PRIV=$(curl -b jar -X POST $S/api/rooms -H "$H" -d '{"name":"core","capacity":9,"visibility":"private"}' | jq .id)
INV=$(curl -b jar -X POST $S/api/rooms/$PRIV/invites -H "$H" -d '{"uses":1,"expires_in_s":3600}')
echo "$INV"
curl -b bobjar -X POST $S/api/room-invites/accept -H "$H" -d "{\"code\":$(jq .code <<<"$INV")}"
curl -b jar $S/api/rooms/$PRIV/invites
curl -b jar -X DELETE $S/api/rooms/$PRIV/invites/$(jq .id <<<"$INV") -w '%{http_code}'
curl -b jar -X PUT $S/api/rooms/$PRIV/members/$BOT_ID
curl -b jar -X DELETE $S/api/rooms/$PRIV -w '%{http_code}'
# A DM: a private room of two (kind dm), one per pair whoever opens it (200 if it exists);
# either member may delete it.
DM=$(curl -b jar -X POST $S/api/dms -H "$H" -d "{\"user_id\":$BOB_ID}" | jq .id)
curl -b bobjar -X POST $S/api/rooms/$DM/messages -H "$H" -d '{"content":"hi alice"}'
curl -b bobjar -X DELETE $S/api/rooms/$DM -w '%{http_code}'

# Admins (alice registered first on this server, so she is its admin): every account;
# disable one (its sessions end, its sockets close 4001) and enable it again.
curl -b jar $S/api/users
curl -b jar -X PUT $S/api/users/$BOB_ID/disabled -w 'PUT %{http_code}'
curl -b jar -X DELETE $S/api/users/$BOB_ID/disabled -w '%{http_code}'
curl -c bobjar -X POST $S/api/session -H "$H" -d '{"username":"bob","password":"battery staple"}'
# Invites to register (for registration = "invite"): the code is shown only here.
INVITE=$(curl -b jar -X POST $S/api/invites -H "$H" -d '{"uses":5,"expires_in_secs":86400}')
echo "$INVITE"
curl -b jar $S/api/invites
curl -b jar -X DELETE $S/api/invites/$(echo "$INVITE" | jq .id) -w '%{http_code}'

# A password change needs the current one; every other session of bob's ends, this one stays.
curl -b bobjar -X PUT $S/api/me/password -H "$H" \
  -d '{"current":"battery staple","new":"battery staple 2"}' -w 'PUT %{http_code}'

# Bot tokens: rotate (the old token dies at once and its sockets close 4001), revoke
# (no token until the next rotation), then delete the bot (its messages stay).
curl -b jar -X POST $S/api/bots/$BOT_ID/token
curl -b jar -X DELETE $S/api/bots/$BOT_ID/token -w '%{http_code}'
curl -b jar -X DELETE $S/api/bots/$BOT_ID -w '%{http_code}'

# The owner deletes the room (sockets get room.deleted, then close 4004).
curl -b jar -X DELETE $S/api/rooms/$ROOM -w '%{http_code}'

# Operations: liveness, readiness, Prometheus metrics, and the OpenAPI 3.1 document.
curl $S/healthz
curl $S/readyz
# Prometheus metrics are on a listener of their own (metrics_bind), never on the public
# port: M=http://127.0.0.1:9464 for a server run with ROOMCAST_METRICS_BIND=127.0.0.1:9464.
if [ -n "${M:-}" ]; then curl $M/metrics | grep '^roomcast_messages_committed_total'; fi
curl $S/api/openapi.json | jq -c '.paths | keys'

# Log out everywhere: every session of bob's (each browser, any stolen copy) ends, and
# their sockets close 4001.
curl -b bobjar -X DELETE $S/api/sessions -w '%{http_code}'
# Log out: the session is deleted server-side; the cookie is dead everywhere.
curl -b jar -X DELETE $S/api/session -w '%{http_code}'
