// roomcast browser client: plain ES module, no build step, served by the binary.
// Sending is HTTP (POST, idempotent by key); receiving is one WebSocket per open room.
// Every user-supplied string reaches the DOM through textContent, never as markup.

const PAGE = 50; // history page size
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10_000;
const REQUEST_TIMEOUT_MS = 15_000;
const ROOMS_POLL_MS = 10_000;
const GROUP_WINDOW_MS = 5 * 60_000; // consecutive messages by one author within this share a header
const NEAR_BOTTOM_PX = 80;

const $ = (id) => document.getElementById(id);

const state = {
  me: null, // {id, username} while signed in
  rooms: new Map(), // id -> room, from the last list
  chat: null, // the open room (see newChat)
  roomsTimer: 0,
  roomsRefreshSoon: 0,
  deleteTimer: 0, // the delete button's "click again" window
  authMode: 'login',
};

// ---------------------------------------------------------------------------------------
// HTTP

class ApiError extends Error {
  constructor(status, type, detail, retryAfter = 0, title = '') {
    super(detail || title || type);
    this.status = status;
    this.type = type;
    this.detail = detail;
    this.title = title;
    this.retryAfter = retryAfter;
  }
}

/** One JSON request. Resolves with the body (null for 204); rejects with an ApiError. */
async function api(method, path, { body, headers = {} } = {}) {
  const init = { method, headers: { ...headers }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'network', "Can't reach the server.");
  }
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (res.ok) return data;
  const err = new ApiError(res.status, data?.type ?? `http-${res.status}`,
    data?.detail ?? data?.title ?? res.statusText, Number(res.headers.get('retry-after')) || 0,
    data?.title ?? '');
  // A session can end under us (logout elsewhere, expiry): any 401 means "log in again".
  if (err.type === 'unauthenticated' && state.me) showAuth('Your session ended. Please log in again.');
  throw err;
}

/** A sentence for the user about a failed request. */
function describe(err) {
  switch (err.type) {
    case 'username-taken': return 'That username is taken. Try another one.';
    case 'invalid-credentials': return 'Wrong username or password.';
    case 'rate-limited':
      return `Too many requests. Try again in ${err.retryAfter ? `${err.retryAfter} s` : 'a moment'}.`;
    case 'room-full': return 'That room is full: every seat is taken.';
    case 'room-not-found': return 'That room no longer exists.';
    case 'network': return "Can't reach the server. Check your connection and try again.";
    case 'database-unavailable': return 'The server is busy. Try again in a moment.';
    default: {
      // The server's own words: its problem's title and detail.
      const detail = err.detail ? err.detail.charAt(0).toUpperCase() + err.detail.slice(1) : '';
      const text = [err.title, detail].filter(Boolean).join(': ') || 'Something went wrong';
      return /[.!?]$/.test(text) ? text : `${text}.`;
    }
  }
}

/** Failures worth retrying unchanged (the Idempotency-Key makes a resend safe). */
function isTransient(err) {
  return err.status === 0 || err.status === 429 || err.status >= 500;
}

/** crypto.randomUUID exists only in secure contexts; a LAN http:// page needs the fallback. */
function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// ---------------------------------------------------------------------------------------
// Signed out: log in / create an account

function showAuth(message = '') {
  state.me = null;
  closeChat();
  clearInterval(state.roomsTimer);
  $('boot').hidden = true;
  $('app-view').hidden = true;
  $('auth-view').hidden = false;
  $('auth-password').value = '';
  $('auth-error').textContent = message;
  $('auth-username').focus();
}

function setAuthMode(mode) {
  state.authMode = mode;
  const register = mode === 'register';
  $('auth-title').textContent = register ? 'Create an account' : 'Log in';
  $('auth-submit').textContent = register ? 'Create account' : 'Log in';
  $('auth-switch-text').textContent = register ? 'Already have an account?' : 'New here?';
  $('auth-switch').textContent = register ? 'Log in' : 'Create an account';
  $('auth-password').autocomplete = register ? 'new-password' : 'current-password';
  $('auth-username-hint').hidden = !register;
  $('auth-password-hint').hidden = !register;
  $('auth-error').textContent = '';
}

/** The browser's own messages are vague; say what the server would reject, before asking it. */
function authInputProblem(username, password, register) {
  if (!username) return 'Enter your username.';
  if (!password) return 'Enter your password.';
  if (!register) return '';
  if (!/^[a-z0-9_.-]{3,32}$/i.test(username)) {
    return 'Usernames are 3–32 characters: letters, digits, _ . -';
  }
  if (new TextEncoder().encode(password).length < 8) return 'Passwords need at least 8 characters.';
  return '';
}

async function submitAuth(event) {
  event.preventDefault();
  const username = $('auth-username').value.trim();
  const password = $('auth-password').value;
  const register = state.authMode === 'register';
  const problem = authInputProblem(username, password, register);
  $('auth-error').textContent = problem;
  if (problem) return;
  const button = $('auth-submit');
  button.disabled = true;
  try {
    // Registering does not sign in; the session cookie comes from POST /api/session.
    if (register) await api('POST', '/api/accounts', { body: { username, password } });
    const me = await api('POST', '/api/session', { body: { username, password } });
    setAuthMode('login');
    showApp(me, { focus: true });
  } catch (err) {
    $('auth-error').textContent = describe(err);
  } finally {
    button.disabled = false;
  }
}

async function logOut() {
  clearAlert();
  // Close our socket first, so the server's 4001 for this session is not mistaken for an expiry.
  closeChat();
  try {
    await api('DELETE', '/api/session');
    showAuth();
  } catch (err) {
    // unauthenticated: the session was already gone, and api() has shown the login view.
    if (err.type !== 'unauthenticated') showAlert(`Could not log out: ${describe(err)}`);
  }
}

// ---------------------------------------------------------------------------------------
// Signed in: shell, routing, notices

/** `focus`: after a login, whose form just vanished (focus would fall to <body>). */
function showApp(me, { focus = false } = {}) {
  state.me = me;
  $('boot').hidden = true;
  $('auth-view').hidden = true;
  $('app-view').hidden = false;
  $('me-name').textContent = me.username;
  hideNotice();
  clearAlert();
  refreshRooms();
  clearInterval(state.roomsTimer);
  state.roomsTimer = setInterval(() => {
    if (document.visibilityState === 'visible') refreshRooms();
  }, ROOMS_POLL_MS);
  route();
  // An opened room has focused its composer already; otherwise the room list takes it.
  if (focus && !$('app-view').contains(document.activeElement)) $('room-list').focus();
}

/** Where "Skip to content" leads: the composer of the open room, the room list, or the form. */
function skipToContent(event) {
  event.preventDefault(); // the URL's hash is the router's (#/rooms/ID)
  let target = $('auth-username');
  if (!$('app-view').hidden) {
    const chatVisible = state.chat && getComputedStyle($('chat-pane')).display !== 'none';
    target = chatVisible ? $('composer-input') : $('room-list');
  }
  target.focus();
}

/** The open room lives in the URL (#/rooms/ID), so reload and the back button work. */
function route() {
  if (!state.me) return;
  const match = location.hash.match(/^#\/rooms\/(\d+)$/);
  const id = match ? Number(match[1]) : null;
  if (id === (state.chat?.id ?? null)) return;
  if (id) openChat(id);
  else closeChat();
}

function navigate(id, { replace = false } = {}) {
  const url = id ? `#/rooms/${id}` : location.pathname + location.search;
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  route();
}

/** Close this room's view (if it is still the open one) and say why. */
function exitRoom(chat, message) {
  if (!isStale(chat)) {
    closeChat();
    navigate(null, { replace: true });
  }
  showNotice(message);
  refreshRooms();
}

function showNotice(text) {
  $('notice-text').textContent = text;
  $('notice').hidden = false;
}

function hideNotice() {
  $('notice').hidden = true;
}

/**
 * A refused action, in words, in the alert region (announced by screen readers). It stays
 * until dismissed or the next action starts, so a list refresh cannot wipe it unseen.
 */
function showAlert(text) {
  const box = document.createElement('div');
  box.className = 'alert';
  const message = document.createElement('span');
  message.className = 'alert-text';
  message.textContent = text;
  const close = document.createElement('button');
  close.type = 'button';
  close.className = 'ghost small';
  close.textContent = '✕';
  close.setAttribute('aria-label', 'Dismiss');
  close.addEventListener('click', clearAlert);
  box.append(message, close);
  $('alert').replaceChildren(box);
}

function clearAlert() {
  $('alert').replaceChildren();
}

// ---------------------------------------------------------------------------------------
// Room list

async function refreshRooms() {
  if (!state.me) return;
  try {
    const { rooms } = await api('GET', '/api/rooms');
    state.rooms = new Map(rooms.map((r) => [r.id, r]));
    renderRooms(rooms);
    $('rooms-error').textContent = '';
    const open = state.chat && state.rooms.get(state.chat.id);
    if (open) setChatRoom(state.chat, open);
  } catch (err) {
    if (err.type !== 'unauthenticated') $('rooms-error').textContent = describe(err);
  }
}

/** Coalesce bursts (several joins in a row) into one list request. */
function refreshRoomsSoon() {
  clearTimeout(state.roomsRefreshSoon);
  state.roomsRefreshSoon = setTimeout(refreshRooms, 300);
}

/** Update the list in place, so a periodic refresh does not steal keyboard focus. */
function renderRooms(rooms) {
  const list = $('room-list');
  const keep = new Set();
  rooms.forEach((room, i) => {
    const li = list.querySelector(`li[data-id="${room.id}"]`) ?? createRoomItem(room.id);
    fillRoomItem(li, room);
    keep.add(li);
    if (list.children[i] !== li) list.insertBefore(li, list.children[i] ?? null);
  });
  for (const li of [...list.children]) if (!keep.has(li)) li.remove();
  $('rooms-empty').hidden = rooms.length > 0;
}

function createRoomItem(id) {
  const li = $('room-item').content.firstElementChild.cloneNode(true);
  li.dataset.id = id;
  li.querySelector('.room-open').addEventListener('click', () => openOrJoin(id));
  li.querySelector('.room-join').addEventListener('click', () => joinRoom(id));
  return li;
}

function fillRoomItem(li, room) {
  const full = room.member_count >= room.capacity;
  const mine = room.owner.id === state.me.id;
  li.classList.toggle('joined', room.joined);
  li.classList.toggle('active', state.chat?.id === room.id);
  li.querySelector('.room-name').textContent = room.name;
  li.querySelector('.room-info').textContent =
    [mine ? 'your room' : `by ${room.owner.username}`, room.joined && !mine ? 'joined' : '']
      .filter(Boolean).join(' · ');
  const seats = li.querySelector('.seats');
  seats.textContent = `${room.member_count}/${room.capacity}`;
  seats.classList.toggle('full', full);
  li.querySelector('.room-open').disabled = !room.joined && full;
  const join = li.querySelector('.room-join');
  join.hidden = room.joined;
  join.disabled = full;
  join.textContent = full ? 'Full' : 'Join';
  join.setAttribute('aria-label', full ? `${room.name} is full` : `Join ${room.name}`);
}

function openOrJoin(id) {
  if (state.rooms.get(id)?.joined) navigate(id);
  else joinRoom(id);
}

async function joinRoom(id) {
  clearAlert();
  const name = state.rooms.get(id)?.name ?? 'the room';
  try {
    await api('PUT', `/api/rooms/${id}/members/me`);
    navigate(id);
  } catch (err) {
    if (err.type !== 'unauthenticated') showAlert(`Could not join “${name}”: ${describe(err)}`);
  }
  refreshRooms();
}

async function createRoom(event) {
  event.preventDefault();
  const name = $('create-name').value.trim();
  const capacity = Number($('create-capacity').value);
  const problem = !name ? 'Give the room a name.'
    : !Number.isInteger(capacity) || capacity < 1 || capacity > 10_000 ? 'Seats must be a whole number from 1 to 10,000.'
      : '';
  $('create-error').textContent = problem;
  if (problem) return;
  clearAlert();
  try {
    const room = await api('POST', '/api/rooms', { body: { name, capacity } });
    $('create-form').reset();
    await refreshRooms();
    navigate(room.id);
  } catch (err) {
    // Next to the form (role=alert): announced, and the user sees what to change.
    $('create-error').textContent = `Could not create the room: ${describe(err)}`;
  }
}

// ---------------------------------------------------------------------------------------
// The open room: state, header, leave / delete

/** Everything about one opened room. A callback holding an old chat checks isStale and stops. */
function newChat(id) {
  return {
    id,
    room: null,
    lastSeq: 0, // highest event seq seen; the socket resumes after it
    oldestSeq: null, // smallest message seq shown; older pages load before it
    loaded: false, // newest history page shown
    atStart: false, // no older history
    loadingOlder: false,
    bySeq: new Map(), // seq -> element, so no event is shown twice
    pending: new Map(), // idempotency key -> {key, content, el}, sends without a known seq
    ws: null,
    attempt: 0, // reconnect attempts since the socket last opened
    timer: 0, // a pending reconnect
    leaving: false, // we are leaving or deleting: the socket's 4003/4004 is expected
  };
}

const isStale = (chat) => state.chat !== chat;

function openChat(id) {
  closeChat();
  const chat = newChat(id);
  state.chat = chat;
  $('chat-placeholder').hidden = true;
  $('chat').hidden = false;
  document.body.classList.add('chat-open');
  $('chat-title').textContent = state.rooms.get(id)?.name ?? 'Loading…';
  $('chat-meta').textContent = '';
  $('chat-leave').hidden = true; // until the room says who owns it
  $('chat-delete').hidden = true;
  $('history-start').hidden = true;
  $('load-older').hidden = true;
  highlightActiveRoom();
  connect(chat);
  // On touch screens focusing would pop up the keyboard over the history; wait for a tap there.
  if (matchMedia('(hover: hover)').matches) $('composer-input').focus({ preventScroll: true });
}

function closeChat() {
  const chat = state.chat;
  if (!chat) return;
  state.chat = null;
  clearTimeout(chat.timer);
  if (chat.ws) {
    chat.ws.onclose = null;
    chat.ws.onmessage = null;
    chat.ws.close(1000);
  }
  $('messages').replaceChildren();
  $('chat').hidden = true;
  $('chat-placeholder').hidden = false;
  resetDeleteButton();
  document.body.classList.remove('chat-open');
  highlightActiveRoom();
}

function highlightActiveRoom() {
  for (const li of $('room-list').children) {
    li.classList.toggle('active', Number(li.dataset.id) === state.chat?.id);
  }
}

function setChatRoom(chat, room) {
  chat.room = room;
  const mine = room.owner.id === state.me.id;
  $('chat-title').textContent = room.name;
  $('chat-meta').textContent =
    `${room.member_count}/${room.capacity} seats · ${mine ? 'your room' : `owner ${room.owner.username}`}`;
  $('chat-leave').hidden = mine;
  $('chat-delete').hidden = !mine;
}

async function leaveRoom() {
  const chat = state.chat;
  if (!chat?.room) return;
  clearAlert();
  chat.leaving = true;
  try {
    await api('DELETE', `/api/rooms/${chat.id}/members/me`);
    exitRoom(chat, `You left “${chat.room.name}”.`);
  } catch (err) {
    chat.leaving = false;
    if (err.type !== 'unauthenticated') showAlert(`Could not leave “${chat.room.name}”: ${describe(err)}`);
  }
}

/** Deleting is two clicks on the same button, without a blocking dialog. */
async function deleteRoom() {
  const chat = state.chat;
  const button = $('chat-delete');
  if (!chat?.room) return;
  if (!button.classList.contains('confirming')) {
    button.classList.add('confirming');
    button.textContent = 'Click again to delete';
    state.deleteTimer = setTimeout(resetDeleteButton, 4000);
    return;
  }
  resetDeleteButton();
  clearAlert();
  chat.leaving = true;
  try {
    await api('DELETE', `/api/rooms/${chat.id}`);
    exitRoom(chat, `You deleted “${chat.room.name}”.`);
  } catch (err) {
    chat.leaving = false;
    if (err.type !== 'unauthenticated') showAlert(`Could not delete “${chat.room.name}”: ${describe(err)}`);
  }
}

function resetDeleteButton() {
  const button = $('chat-delete');
  clearTimeout(state.deleteTimer);
  button.classList.remove('confirming');
  button.textContent = 'Delete room';
}

// ---------------------------------------------------------------------------------------
// Receiving: the room's socket, with resume and backoff

function setConn(text) {
  const conn = $('conn');
  conn.textContent = text;
  conn.hidden = !text;
}

/**
 * (Re)connect: check the room over HTTP first, because a refused upgrade reaches the page
 * only as a bare 1006; the HTTP answer says whether to log in, give up, or retry.
 */
async function connect(chat) {
  setConn(chat.attempt ? 'Reconnecting…' : 'Connecting…');
  try {
    const room = await api('GET', `/api/rooms/${chat.id}`);
    if (isStale(chat)) return;
    if (!room.joined) return exitRoom(chat, `You are not a member of “${room.name}”.`);
    setChatRoom(chat, room);
    if (!chat.loaded) await loadLatest(chat, room.last_seq);
    if (isStale(chat)) return;
    openSocket(chat);
  } catch (err) {
    if (isStale(chat) || err.type === 'unauthenticated') return;
    if (err.type === 'room-not-found') return exitRoom(chat, 'That room no longer exists.');
    reconnectLater(chat);
  }
}

function openSocket(chat) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${scheme}//${location.host}/api/rooms/${chat.id}/events?after=${chat.lastSeq}`);
  chat.ws = ws;
  ws.onopen = () => {
    chat.attempt = 0;
    setConn('');
  };
  ws.onmessage = (e) => onEvent(chat, JSON.parse(e.data));
  ws.onclose = (e) => onSocketClosed(chat, e.code);
}

function onSocketClosed(chat, code) {
  if (isStale(chat)) return;
  chat.ws = null;
  const name = chat.room?.name ?? 'the room';
  if (chat.leaving && (code === 4003 || code === 4004)) return; // leaveRoom/deleteRoom finish it
  switch (code) {
    case 4001: return showAuth('Your session ended. Please log in again.');
    case 4003: return exitRoom(chat, `You are no longer a member of “${name}”.`);
    case 4004: return exitRoom(chat, `“${name}” was deleted.`);
    case 1008: return setConn('Disconnected'); // our protocol error: a retry would repeat it
    default: return reconnectLater(chat); // 1001 restart, 4008 too slow, 1006 network, …
  }
}

function reconnectLater(chat) {
  const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** chat.attempt);
  chat.attempt += 1;
  setConn('Reconnecting…');
  chat.timer = setTimeout(() => {
    chat.timer = 0;
    connect(chat);
  }, delay);
}

/** When the network comes back, don't sit out the rest of a long backoff. */
function reconnectNow() {
  const chat = state.chat;
  if (!chat?.timer) return; // connected, or a connect is already under way
  clearTimeout(chat.timer);
  chat.timer = 0;
  connect(chat);
}

function onEvent(chat, event) {
  if (isStale(chat)) return;
  chat.lastSeq = Math.max(chat.lastSeq, event.seq);
  switch (event.type) {
    case 'message.created':
      showMessage(chat, event.data, findPendingFor(chat, event.data));
      break;
    case 'member.joined':
    case 'member.left':
      showMemberNotice(chat, event);
      refreshRoomsSoon();
      break;
    case 'room.deleted':
      if (!chat.leaving) exitRoom(chat, `“${chat.room?.name ?? 'The room'}” was deleted by ${event.data.user.username}.`);
      break;
    default:
      break; // a newer server's event type: nothing to show yet
  }
}

// ---------------------------------------------------------------------------------------
// History

async function loadLatest(chat, roomLastSeq) {
  const { messages } = await api('GET', `/api/rooms/${chat.id}/messages?limit=${PAGE}`);
  if (isStale(chat)) return;
  // Resume from the room's seq read before this page: later events come from the socket.
  chat.lastSeq = Math.max(roomLastSeq, ...messages.map((m) => m.seq));
  chat.loaded = true;
  addHistory(chat, messages);
  scrollToBottom();
  fillViewport(chat);
}

async function loadOlder(chat) {
  if (!chat.loaded || chat.atStart || chat.loadingOlder) return;
  chat.loadingOlder = true;
  $('load-older').disabled = true;
  try {
    const { messages } = await api('GET',
      `/api/rooms/${chat.id}/messages?before=${chat.oldestSeq}&limit=${PAGE}`);
    if (isStale(chat)) return;
    keepScrollAnchor(() => addHistory(chat, messages));
    fillViewport(chat);
  } catch (err) {
    if (!isStale(chat)) showAlert(`Could not load older messages: ${describe(err)}`);
  } finally {
    chat.loadingOlder = false;
    $('load-older').disabled = false;
  }
}

function addHistory(chat, messages) {
  for (const m of messages) showMessage(chat, m, undefined);
  if (messages.length) chat.oldestSeq = Math.min(chat.oldestSeq ?? Infinity, messages[0].seq);
  chat.atStart = messages.length < PAGE;
  $('history-start').hidden = !chat.atStart;
  $('load-older').hidden = chat.atStart;
}

/** If a page does not fill the screen, no scroll event can ask for more; ask now. */
function fillViewport(chat) {
  const scroller = $('scroller');
  if (!chat.atStart && scroller.scrollHeight <= scroller.clientHeight) loadOlder(chat);
}

function onScroll() {
  if (state.chat && $('scroller').scrollTop < 120) loadOlder(state.chat);
}

/** Prepending older messages must not move what the reader is looking at. */
function keepScrollAnchor(change) {
  const scroller = $('scroller');
  const fromBottom = scroller.scrollHeight - scroller.scrollTop;
  change();
  scroller.scrollTop = scroller.scrollHeight - fromBottom;
}

function isNearBottom() {
  const s = $('scroller');
  return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
}

function scrollToBottom() {
  const s = $('scroller');
  s.scrollTop = s.scrollHeight;
}

// ---------------------------------------------------------------------------------------
// Message list rendering. Confirmed items (messages, notices) carry data-seq and stay sorted
// by it; pending sends sit after them until their seq is known.

function formatTime(iso) {
  const date = new Date(iso);
  const time = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (date.toDateString() === new Date().toDateString()) return time;
  return `${date.toLocaleDateString([], { month: 'short', day: 'numeric' })}, ${time}`;
}

/** A stable colour per username, so authors are easy to tell apart. */
function hueOf(name) {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

function createMessageEl(author, content) {
  const el = $('message-item').content.firstElementChild.cloneNode(true);
  el.dataset.author = author.id;
  const avatar = el.querySelector('.avatar');
  avatar.textContent = author.username.charAt(0).toUpperCase();
  avatar.style.setProperty('--hue', hueOf(author.username));
  el.querySelector('.author').textContent = author.username;
  el.querySelector('.content').textContent = content;
  return el;
}

function setTimestamp(el, iso) {
  const time = el.querySelector('.time');
  time.dateTime = iso;
  time.textContent = formatTime(iso);
  time.title = new Date(iso).toLocaleString();
  el.dataset.ts = Date.parse(iso);
}

/** Insert a confirmed item at its seq's place; new items almost always go last. */
function placeBySeq(el, seq) {
  const list = $('messages');
  el.dataset.seq = seq;
  let before = list.lastElementChild;
  while (before && (before === el || !before.dataset.seq || Number(before.dataset.seq) > seq)) {
    before = before.previousElementSibling;
  }
  list.insertBefore(el, before ? before.nextElementSibling : list.firstElementChild);
  regroup(el);
  if (el.nextElementSibling) regroup(el.nextElementSibling);
}

/** A message right after one by the same author, a few minutes apart, drops its header. */
function regroup(el) {
  const prev = el.previousElementSibling;
  const follows = prev?.classList.contains('msg') && el.classList.contains('msg')
    && prev.dataset.author === el.dataset.author
    && Math.abs(Number(el.dataset.ts) - Number(prev.dataset.ts)) < GROUP_WINDOW_MS;
  el.classList.toggle('cont', Boolean(follows));
}

/**
 * Show a stored message exactly once. Our own sends have two copies, the 201 answer and the
 * socket frame; whichever comes first turns the pending item into the message (`pending`),
 * and the other finds its seq already shown.
 */
function showMessage(chat, msg, pending) {
  if (pending) chat.pending.delete(pending.key);
  if (chat.bySeq.has(msg.seq)) {
    pending?.el.remove();
    return;
  }
  const stick = isNearBottom();
  const el = pending?.el ?? createMessageEl(msg.author, msg.content);
  el.classList.remove('pending', 'failed');
  el.querySelector('.msg-state').hidden = true;
  el.dataset.id = msg.id;
  setTimestamp(el, msg.created_at);
  chat.bySeq.set(msg.seq, el);
  placeBySeq(el, msg.seq);
  if (stick && chat.loaded) scrollToBottom();
}

/** The socket copy of our own message: the oldest pending send with the same text. */
function findPendingFor(chat, msg) {
  if (msg.author.id !== state.me.id) return undefined;
  for (const p of chat.pending.values()) if (p.content === msg.content) return p;
  return undefined;
}

function showMemberNotice(chat, event) {
  if (chat.bySeq.has(event.seq)) return;
  const stick = isNearBottom();
  const el = document.createElement('li');
  el.className = 'notice-item';
  const verb = event.type === 'member.joined' ? 'joined' : 'left';
  el.textContent = `${event.data.user.username} ${verb} the room`;
  chat.bySeq.set(event.seq, el);
  placeBySeq(el, event.seq);
  if (stick) scrollToBottom();
}

// ---------------------------------------------------------------------------------------
// Sending

function sendFromComposer(event) {
  event.preventDefault();
  const chat = state.chat;
  const input = $('composer-input');
  // The server stores content trimmed; sending it trimmed lets the socket copy match.
  const content = input.value.trim();
  if (!chat || !content) return;
  input.value = '';
  autoGrow();
  const p = { key: newKey(), content, el: createMessageEl(state.me, content) };
  p.el.querySelector('.retry').addEventListener('click', () => postMessage(chat, p));
  p.el.querySelector('.discard').addEventListener('click', () => discard(chat, p));
  chat.pending.set(p.key, p);
  $('messages').append(p.el);
  scrollToBottom();
  postMessage(chat, p);
}

/** POST, or re-POST with the SAME key: the server answers a repeat with the original 201. */
async function postMessage(chat, p) {
  clearAlert();
  setPendingState(p, 'pending', 'Sending…', false);
  try {
    const msg = await api('POST', `/api/rooms/${chat.id}/messages`,
      { body: { content: p.content }, headers: { 'Idempotency-Key': p.key } });
    if (!isStale(chat)) showMessage(chat, msg, chat.pending.get(p.key));
  } catch (err) {
    // The socket may have delivered it meanwhile (the answer was lost, not the message).
    if (isStale(chat) || !chat.pending.has(p.key)) return;
    setPendingState(p, 'failed', `Not sent: ${describe(err)}`, isTransient(err));
    // The item says it too, but only the alert is announced.
    if (err.type !== 'unauthenticated') showAlert(`Your message was not sent: ${describe(err)}`);
  }
}

function setPendingState(p, cls, text, canRetry) {
  const stick = isNearBottom(); // the state line makes the item taller; keep it in view
  p.el.classList.remove('pending', 'failed');
  p.el.classList.add(cls);
  const box = p.el.querySelector('.msg-state');
  box.hidden = false;
  box.querySelector('.state-text').textContent = text;
  box.querySelector('.retry').hidden = cls !== 'failed' || !canRetry;
  box.querySelector('.discard').hidden = cls !== 'failed';
  if (stick) scrollToBottom();
}

function discard(chat, p) {
  chat.pending.delete(p.key);
  p.el.remove();
}

/** Enter sends, Shift+Enter adds a line; an IME composition's Enter is not a send. */
function onComposerKey(event) {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) sendFromComposer(event);
}

function autoGrow() {
  const input = $('composer-input');
  input.style.height = 'auto';
  input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
}

// ---------------------------------------------------------------------------------------
// Wiring

function wire() {
  $('auth-form').addEventListener('submit', submitAuth);
  $('auth-switch').addEventListener('click', () => {
    setAuthMode(state.authMode === 'login' ? 'register' : 'login');
    $('auth-username').focus();
  });
  $('logout').addEventListener('click', logOut);
  $('skip-link').addEventListener('click', skipToContent);
  $('rooms-refresh').addEventListener('click', refreshRooms);
  $('notice-close').addEventListener('click', hideNotice);
  $('create-form').addEventListener('submit', createRoom);
  // An error about what was typed goes once the user changes it.
  $('create-form').addEventListener('input', () => { $('create-error').textContent = ''; });
  $('chat-back').addEventListener('click', () => navigate(null));
  $('chat-leave').addEventListener('click', leaveRoom);
  $('chat-delete').addEventListener('click', deleteRoom);
  $('load-older').addEventListener('click', () => state.chat && loadOlder(state.chat));
  $('scroller').addEventListener('scroll', onScroll, { passive: true });
  $('composer').addEventListener('submit', sendFromComposer);
  $('composer-input').addEventListener('keydown', onComposerKey);
  $('composer-input').addEventListener('input', autoGrow);
  window.addEventListener('popstate', route);
  window.addEventListener('online', reconnectNow);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && state.me) refreshRooms();
  });
}

async function boot() {
  wire();
  try {
    showApp(await api('GET', '/api/me'));
  } catch (err) {
    showAuth(err.type === 'unauthenticated' ? '' : describe(err));
  }
}

boot();
