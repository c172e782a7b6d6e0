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
const MEMBERS_REFRESH_MS = 300;
// The reaction picker's handful, with the names screen readers announce.
const REACTIONS = [
  ['👍', 'thumbs up'], ['❤️', 'heart'], ['😂', 'laughing'], ['🎉', 'party'], ['😮', 'surprised'], ['👀', 'eyes'],
];
const NOTIFY_KEY = 'roomcast.notify-mentions';
const TYPING_SEND_MS = 3_000; // the server takes one typing call per 3 s per user and room
const TYPING_SHOW_MS = 5_000; // how long a typing frame is shown without a newer one
const READ_DELAY_MS = 1_000; // a read marker is saved after the newest message has been in view this long

const $ = (id) => document.getElementById(id);

const state = {
  me: null, // {id, username} while signed in
  rooms: new Map(), // id -> room, from the last list
  chat: null, // the open room (see newChat)
  roomsTimer: 0,
  roomsRefreshSoon: 0,
  deleteTimer: 0, // the delete button's "click again" window
  authMode: 'login',
  view: null, // 'chat' | 'account' | 'admin' | null (the placeholder)
  popup: null, // the open message menu or reaction picker: {el, trigger, msgEl}
  membersTimer: 0,
  userWs: null, // the per-user summary socket (GET /api/me/events): the room list, live
  userAttempt: 0,
  userTimer: 0,
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
  closeUserSocket();
  state.view = null;
  state.routedHash = null;
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
    await api('POST', '/api/session', { body: { username, password } });
    // The session answer has no `admin`; /api/me says it.
    const me = await api('GET', '/api/me');
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
  // Close our sockets first, so the server's 4001 for this session is not mistaken for an expiry.
  closeChat();
  closeUserSocket();
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
  $('nav-admin').hidden = !me.admin;
  $('notify-name').textContent = me.username;
  renderNotifyState();
  hideNotice();
  clearAlert();
  refreshRooms();
  openUserSocket();
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
    if (state.view === 'account') target = $('pw-current');
    if (state.view === 'admin') target = $('admin-title');
  }
  target.focus();
}

/**
 * The open room lives in the URL (#/rooms/ID), so reload and the back button work; so do the
 * account page (#/account) and, for admins, the admin page (#/admin).
 */
function route() {
  if (!state.me) return;
  const hash = location.hash;
  const invite = hash.match(/^#\/invite\/([^/?#]+)$/);
  if (invite) return acceptInvite(decodeURIComponent(invite[1]));
  const match = hash.match(/^#\/rooms\/(\d+)$/);
  const view = match ? 'chat' : hash === '#/account' ? 'account'
    : hash === '#/admin' && state.me.admin ? 'admin' : null;
  const id = match ? Number(match[1]) : null;
  // A followed link fires both popstate and hashchange: route once.
  if (view !== 'chat' && view === state.view && hash === state.routedHash) return;
  state.routedHash = hash;
  if (view === 'chat' && id === state.chat?.id) return;
  if (view !== 'chat') closeChat();
  showView(view);
  if (view === 'chat') openChat(id);
  else if (view === 'account') openAccount();
  else if (view === 'admin') openAdmin();
}

/** One thing at a time in the main pane: the placeholder, a room, the account or admin page. */
function showView(view) {
  state.view = view;
  $('chat-placeholder').hidden = view !== null;
  $('chat').hidden = view !== 'chat';
  $('account-view').hidden = view !== 'account';
  $('admin-view').hidden = view !== 'admin';
  document.body.classList.toggle('chat-open', view !== null);
  for (const [id, v] of [['nav-account', 'account'], ['nav-admin', 'admin']]) {
    if (view === v) $(id).setAttribute('aria-current', 'page');
    else $(id).removeAttribute('aria-current');
  }
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

/** A DM is named after the other person; a room by its name. */
const roomTitle = (room) => (room.kind === 'dm' && room.peer ? room.peer.username : room.name);

/** What kind of room, in words: "private", "direct message", or nothing for a public room. */
const roomKind = (room) => (room.kind === 'dm' ? 'direct message' : room.visibility === 'private' ? 'private' : '');

function fillRoomItem(li, room) {
  const full = room.member_count >= room.capacity;
  const mine = room.owner.id === state.me.id;
  const dm = room.kind === 'dm';
  li.classList.toggle('joined', room.joined);
  li.classList.toggle('active', state.chat?.id === room.id);
  li.querySelector('.room-name').textContent = roomTitle(room);
  li.querySelector('.room-info').textContent = [
    roomKind(room),
    dm ? '' : mine ? 'your room' : `by ${room.owner.username}`,
    room.joined && !mine && !dm ? 'joined' : '',
  ].filter(Boolean).join(' · ');
  const unread = li.querySelector('.unread');
  const count = state.chat?.id === room.id ? 0 : room.unread ?? 0;
  unread.hidden = !room.joined || count === 0;
  unread.textContent = count > 99 ? '99+' : String(count);
  li.querySelector('.unread-text').textContent = unread.hidden ? '' : `, ${count} unread`;
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
    const visibility = $('create-private').checked ? 'private' : 'public';
    const room = await api('POST', '/api/rooms', { body: { name, capacity, visibility } });
    $('create-form').reset();
    await refreshRooms();
    navigate(room.id);
  } catch (err) {
    // Next to the form (role=alert): announced, and the user sees what to change.
    $('create-error').textContent = `Could not create the room: ${describe(err)}`;
  }
}

/**
 * The per-user summary socket: a room added, removed, active or read elsewhere refreshes the
 * list (its unread counts included). Its frames have no seq and never touch a room's resume
 * logic. The periodic refresh stays, for a summary the servers' bus lost.
 */
function openUserSocket() {
  closeUserSocket();
  if (!state.me) return;
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${scheme}//${location.host}/api/me/events`);
  state.userWs = ws;
  ws.onopen = () => {
    // Whatever happened while it was down: the list is read again.
    if (state.userAttempt > 0) refreshRooms();
    state.userAttempt = 0;
  };
  ws.onmessage = (e) => onUserEvent(JSON.parse(e.data));
  ws.onclose = (e) => {
    if (state.userWs !== ws) return;
    state.userWs = null;
    if (!state.me) return;
    if (e.code === 4001) return showAuth('Your session ended. Please log in again.');
    if (e.code === 1008) return;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** state.userAttempt);
    state.userAttempt += 1;
    state.userTimer = setTimeout(openUserSocket, delay);
  };
}

function closeUserSocket() {
  clearTimeout(state.userTimer);
  const ws = state.userWs;
  state.userWs = null;
  if (!ws) return;
  ws.onclose = null;
  ws.onmessage = null;
  ws.close(1000);
}

function onUserEvent(event) {
  switch (event.type) {
    case 'room.activity':
      // The open room's own socket shows its activity; others change their unread counts.
      if (event.data.room_id !== state.chat?.id) refreshRoomsSoon();
      break;
    case 'room.added':
    case 'room.removed':
    case 'read.updated':
      refreshRoomsSoon();
      break;
    default:
      break; // a newer server's summary: nothing to show yet
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
    byId: new Map(), // message id -> entry (see showMessage): what edits, deletions and reactions change
    editing: null, // the message being edited: {entry, form, fromComposer}
    members: null, // the last member list, while the panel is open
    typing: new Map(), // user id -> {username, timer}: who is typing, from typing frames
    typingSentAt: 0, // when we last said we are typing
    online: new Set(), // ids of members with a socket on the room (presence)
    readSeq: 0, // the seq up to which the server has us as having read
    readTimer: 0,
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
  const known = state.rooms.get(id);
  $('chat-title').textContent = known ? roomTitle(known) : 'Loading…';
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
  clearTimeout(chat.readTimer);
  if (chat.ws) {
    chat.ws.onclose = null;
    chat.ws.onmessage = null;
    chat.ws.close(1000);
  }
  closePopup({ focus: false });
  for (const t of chat.typing.values()) clearTimeout(t.timer);
  $('typing').textContent = '';
  $('messages').replaceChildren();
  $('new-pill').hidden = true;
  closeMembers();
  resetDeleteButton();
  highlightActiveRoom();
}

function highlightActiveRoom() {
  for (const li of $('room-list').children) {
    const active = Number(li.dataset.id) === state.chat?.id;
    li.classList.toggle('active', active);
    if (active) {
      li.querySelector('.unread').hidden = true; // the open room is being read
      li.querySelector('.unread-text').textContent = '';
    }
  }
}

function setChatRoom(chat, room) {
  chat.room = room;
  const mine = room.owner.id === state.me.id;
  const dm = room.kind === 'dm';
  $('chat-title').textContent = roomTitle(room);
  $('chat-meta').textContent = [
    roomKind(room),
    dm ? '' : `${room.member_count}/${room.capacity} seats`,
    dm ? '' : mine ? 'your room' : `owner ${room.owner.username}`,
  ].filter(Boolean).join(' · ');
  // A DM's two members are fixed: nobody leaves it (409 direct-message).
  $('chat-leave').hidden = mine || dm;
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
    if (!chat.loaded) {
      chat.readSeq = room.last_read_seq ?? 0;
      await loadLatest(chat, room.last_seq);
      if (isStale(chat)) return;
      showUnreadDivider(chat);
      markReadSoon(chat);
    }
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
  const ws = new WebSocket(`${scheme}//${location.host}/api/rooms/${chat.id}/events?after=${chat.lastSeq}&presence=true`);
  chat.ws = ws;
  ws.onopen = () => {
    chat.attempt = 0;
    setConn('');
    loadPresence(chat);
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
  // Frames without a seq (typing, presence) are not in the room's stream: never resume by them.
  if (Number.isSafeInteger(event.seq)) chat.lastSeq = Math.max(chat.lastSeq, event.seq);
  switch (event.type) {
    case 'message.created': {
      const fresh = !chat.bySeq.has(event.data.seq);
      stopTyping(chat, event.data.author.id);
      const stick = isNearBottom();
      showMessage(chat, event.data, findPendingFor(chat, event.data));
      markReadSoon(chat);
      if (fresh && event.data.author.id !== state.me.id) {
        if (!stick) $('new-pill').hidden = false;
        notifyMention(chat, event.data);
      }
      break;
    }
    case 'message.updated':
      applyEdit(chat, event.data.message_id, event.data.content, event.data.edited_at);
      break;
    case 'message.deleted':
      applyDelete(chat, event.data.message_id);
      break;
    case 'reaction.added':
    case 'reaction.removed':
      applyReaction(chat, event.data.message_id, event.data.emoji, event.data.user.id,
        event.type === 'reaction.added');
      break;
    case 'member.joined':
    case 'member.left':
      showMemberNotice(chat, event);
      refreshRoomsSoon();
      refreshMembersSoon(chat);
      break;
    case 'typing':
      if (event.data.user.id !== state.me.id) showTyping(chat, event.data.user);
      break;
    case 'presence':
      if (event.data.online) chat.online.add(event.data.user.id);
      else chat.online.delete(event.data.user.id);
      renderPresence(chat);
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

/**
 * The newest page, as of a known seq: the socket resumes after the room's seq read before the
 * page, so an event between the two would be replayed on top of a page that already counts it
 * (harmless for messages, seen by seq, but a reaction would count twice). A room that moved
 * meanwhile is read again, a few times at most.
 */
async function loadLatest(chat, roomLastSeq) {
  let messages;
  for (let attempt = 0; ; attempt += 1) {
    ({ messages } = await api('GET', `/api/rooms/${chat.id}/messages?limit=${PAGE}`));
    if (isStale(chat) || attempt === 2) break;
    const now = (await api('GET', `/api/rooms/${chat.id}`)).last_seq;
    if (isStale(chat) || now === roomLastSeq) break;
    roomLastSeq = now;
  }
  if (isStale(chat)) return;
  // Resume from the room's seq read before this page: later events come from the socket.
  chat.lastSeq = Math.max(roomLastSeq, ...messages.map((m) => m.seq));
  chat.loaded = true;
  addHistory(chat, messages);
  scrollToBottom();
  await loadNotices(chat, chat.atStart ? 0 : messages[0]?.seq ?? chat.lastSeq, chat.lastSeq);
  if (isStale(chat)) return;
  scrollToBottom();
  fillViewport(chat);
}

/**
 * Joins and leaves between two seqs of the history shown, from the room's event log (GET
 * …/events without an Upgrade answers the frames a socket would have sent), so a reload
 * shows what a socket open all along showed. Messages keep coming from …/messages, which
 * counts reactions.
 */
async function loadNotices(chat, fromSeq, toSeq) {
  let after = Math.max(0, fromSeq - 1);
  try {
    for (let pages = 0; pages < 5 && after < toSeq; pages += 1) {
      const page = await api('GET', `/api/rooms/${chat.id}/events?after=${after}&limit=200`);
      if (isStale(chat)) return;
      const notices = page.events.filter((e) => e.seq <= toSeq
        && (e.type === 'member.joined' || e.type === 'member.left'));
      keepScrollAnchor(() => { for (const e of notices) showMemberNotice(chat, e, { scroll: false }); });
      if (page.next_after == null) return;
      after = page.next_after;
    }
  } catch (err) {
    // The messages are shown; only the join/leave lines are missing. Not worth an alert.
    if (err.type !== 'unauthenticated') console.warn('roomcast: no join/leave history:', describe(err));
  }
}

async function loadOlder(chat) {
  if (!chat.loaded || chat.atStart || chat.loadingOlder) return;
  chat.loadingOlder = true;
  $('load-older').disabled = true;
  try {
    const before = chat.oldestSeq;
    const { messages } = await api('GET',
      `/api/rooms/${chat.id}/messages?before=${before}&limit=${PAGE}`);
    if (isStale(chat)) return;
    keepScrollAnchor(() => addHistory(chat, messages));
    await loadNotices(chat, chat.atStart ? 0 : messages[0]?.seq ?? before, before - 1);
    if (isStale(chat)) return;
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
  if (isNearBottom()) {
    $('new-pill').hidden = true;
    if (state.chat) markReadSoon(state.chat);
  }
}

/** A "New messages" line above the first message after our read marker, on opening. */
function showUnreadDivider(chat) {
  $('messages').querySelector('.divider')?.remove();
  const first = [...$('messages').querySelectorAll('li.msg[data-seq]')]
    .find((el) => Number(el.dataset.seq) > chat.readSeq && Number(el.dataset.author) !== state.me.id);
  if (!first || chat.readSeq === 0 && !chat.atStart) return;
  const line = document.createElement('li');
  line.className = 'divider';
  line.setAttribute('role', 'separator');
  line.textContent = 'New messages';
  first.before(line);
  first.classList.remove('cont'); // a header after the line, so it is clear who wrote it
}

/** Save the read marker once the newest message has been seen: the tab visible, scrolled down. */
function markReadSoon(chat) {
  clearTimeout(chat.readTimer);
  chat.readTimer = setTimeout(() => markRead(chat), READ_DELAY_MS);
}

async function markRead(chat) {
  if (isStale(chat) || document.visibilityState !== 'visible' || !isNearBottom()) return;
  const seq = chat.lastSeq;
  if (seq <= chat.readSeq) return;
  chat.readSeq = seq;
  try {
    await api('PUT', `/api/rooms/${chat.id}/read`, { body: { seq } });
    const listed = state.rooms.get(chat.id);
    if (listed) listed.unread = 0;
  } catch {
    if (!isStale(chat)) chat.readSeq = Math.min(chat.readSeq, seq - 1); // try again next time
  }
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
  $('new-pill').hidden = true;
}

/** The "new messages" pill: down to the newest, and on to the composer. */
function onPill() {
  scrollToBottom();
  $('composer-input').focus({ preventScroll: true });
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
  setContent(el.querySelector('.content'), content);
  return el;
}

const URL_IN_TEXT = /https?:\/\/[^\s<>"]+/gi;

/** Only http(s) links become anchors; anything else (javascript:, data:) stays text. */
function safeHref(text) {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

const countOf = (text, ch) => text.split(ch).length - 1;

/** Message text with its links as <a> nodes: built from text nodes and elements, never markup. */
function setContent(box, text) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(URL_IN_TEXT)) {
    // Sentence punctuation after a link is not part of it; nor is a ")" the link did not open.
    let url = match[0].replace(/[.,!?;:'*]+$/, '');
    while (url.endsWith(')') && countOf(url, '(') < countOf(url, ')')) url = url.slice(0, -1).replace(/[.,!?;:'*]+$/, '');
    const href = safeHref(url);
    if (!href || match.index < last) continue;
    parts.push(text.slice(last, match.index));
    const a = document.createElement('a');
    a.href = href;
    a.rel = 'noopener noreferrer';
    a.target = '_blank';
    a.textContent = url;
    parts.push(a);
    last = match.index + url.length;
  }
  parts.push(text.slice(last));
  box.replaceChildren(...parts.filter((p) => p !== ''));
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
  const el = pending?.el ?? createMessageEl(msg.author, msg.content ?? '');
  el.classList.remove('pending', 'failed');
  el.querySelector('.msg-state').hidden = true;
  el.dataset.id = msg.id;
  setTimestamp(el, msg.created_at);
  const entry = {
    id: msg.id,
    author: msg.author,
    content: msg.content,
    editedAt: msg.edited_at ?? null,
    deleted: msg.content == null || msg.deleted_at != null,
    reactions: new Map(), // emojiKey -> {emoji, count, me}
    el,
  };
  for (const r of msg.reactions ?? []) entry.reactions.set(emojiKey(r.emoji), { ...r });
  chat.byId.set(msg.id, entry);
  wireMessageActions(chat, entry);
  if (el.tabIndex !== 0) el.tabIndex = -1;
  renderEntry(chat, entry);
  chat.bySeq.set(msg.seq, el);
  placeBySeq(el, msg.seq);
  if (chat.keyboardMoved) ensureCurrentMessage();
  else setCurrentMessage([...$('messages').querySelectorAll('li.msg[data-seq]')].pop());
  if (stick && chat.loaded) scrollToBottom();
}

/** An emoji with and without its variation selector is one reaction (as on the server). */
const emojiKey = (emoji) => emoji.replace(/\uFE0F/g, '');

/** What a message shows besides its text: "(edited)", its reactions, its actions, or a tombstone. */
function renderEntry(chat, entry) {
  const { el } = entry;
  el.classList.toggle('deleted', entry.deleted);
  if (entry.deleted) {
    el.querySelector('.content').textContent = 'This message was deleted.';
    entry.reactions.clear();
    el.querySelector('.confirm-bar')?.remove();
    if (chat.editing?.entry === entry) endEdit(chat);
  }
  el.querySelector('.edited').hidden = entry.deleted || !entry.editedAt;
  const mine = entry.author.id === state.me.id;
  const canDelete = mine || chat.room?.owner.id === state.me.id;
  el.querySelector('.msg-actions').hidden = entry.deleted;
  el.querySelector('.menu-open').hidden = !mine && !canDelete;
  renderReactions(chat, entry);
  setInnerTabbable(el, el.tabIndex === 0);
}

// ---------------------------------------------------------------------------------------
// Keyboard in the message list: one Tab stop, the "current" message (the newest until the
// reader moves); ArrowUp / ArrowDown / Home / End move between messages, and Tab reaches
// the current one's links, reactions and actions. Fifty messages are not 150 Tab stops.

const INNER_CONTROLS = '.msg-actions button, .reaction, .content a';

function setInnerTabbable(el, on) {
  for (const c of el.querySelectorAll(INNER_CONTROLS)) c.tabIndex = on ? 0 : -1;
}

function setCurrentMessage(el) {
  const old = $('messages').querySelector('li.msg[tabindex="0"]');
  if (old === el) return;
  if (old) {
    old.tabIndex = -1;
    setInnerTabbable(old, false);
  }
  el.tabIndex = 0;
  setInnerTabbable(el, true);
}

/** Without a current message (none yet, or it was removed), the newest one is. */
function ensureCurrentMessage() {
  if ($('messages').querySelector('li.msg[tabindex="0"]')) return;
  const all = $('messages').querySelectorAll('li.msg[data-seq]');
  if (all.length) setCurrentMessage(all[all.length - 1]);
}

function onMessagesFocus(event) {
  const el = event.target.closest('li.msg[data-seq]');
  if (!el || !state.chat) return;
  setCurrentMessage(el);
  state.chat.keyboardMoved = true;
}

function onMessagesKey(event) {
  const el = event.target;
  if (!el.matches('li.msg[data-seq]')) return;
  const all = [...$('messages').querySelectorAll('li.msg[data-seq]')];
  const i = all.indexOf(el);
  const to = { ArrowUp: i - 1, ArrowDown: i + 1, Home: 0, End: all.length - 1 }[event.key];
  if (to === undefined || !all[to]) return;
  event.preventDefault();
  all[to].focus();
  all[to].scrollIntoView({ block: 'nearest' });
}

function applyEdit(chat, id, content, editedAt) {
  const entry = chat.byId.get(id);
  // The edits of a deleted message come with null content: the tombstone stays.
  if (!entry || entry.deleted || content == null) return;
  // An older edit's answer arriving after a newer edit's frame must not undo it.
  if (entry.editedAt && editedAt && Date.parse(editedAt) < Date.parse(entry.editedAt)) return;
  const stick = isNearBottom();
  entry.content = content;
  entry.editedAt = editedAt;
  setContent(entry.el.querySelector('.content'), content);
  renderEntry(chat, entry);
  if (stick) scrollToBottom();
}

function applyDelete(chat, id) {
  const entry = chat.byId.get(id);
  if (!entry || entry.deleted) return;
  const hadFocus = entry.el.contains(document.activeElement);
  entry.deleted = true;
  entry.content = null;
  renderEntry(chat, entry);
  if (hadFocus) $('composer-input').focus({ preventScroll: true });
}

/**
 * One user's reaction came or went. Our own are a yes/no (a frame and our request's answer
 * both report the same change); others' are counted.
 */
function applyReaction(chat, id, emoji, userId, added) {
  const entry = chat.byId.get(id);
  if (!entry || entry.deleted) return;
  const key = emojiKey(emoji);
  const r = entry.reactions.get(key) ?? { emoji, count: 0, me: false };
  if (userId === state.me.id) {
    if (r.me === added) return;
    r.me = added;
  }
  r.count += added ? 1 : -1;
  if (r.count > 0) entry.reactions.set(key, r);
  else entry.reactions.delete(key);
  renderReactions(chat, entry);
}

/** Chips updated in place, so the one a keyboard user just toggled keeps focus. */
function renderReactions(chat, entry) {
  const box = entry.el.querySelector('.reactions');
  const old = new Map([...box.children].map((b) => [b.dataset.key, b]));
  const chips = [];
  for (const [key, r] of entry.reactions) {
    let chip = old.get(key);
    if (!chip) {
      chip = document.createElement('button');
      chip.type = 'button';
      chip.className = 'reaction';
      chip.dataset.key = key;
      const face = document.createElement('span');
      face.className = 'reaction-emoji';
      const count = document.createElement('span');
      count.className = 'reaction-count';
      chip.append(face, count);
      chip.addEventListener('click', () => {
        const now = entry.reactions.get(key);
        react(chat, entry, now?.emoji ?? r.emoji, !now?.me);
      });
    }
    chip.querySelector('.reaction-emoji').textContent = r.emoji;
    chip.querySelector('.reaction-count').textContent = r.count;
    chip.classList.toggle('mine', r.me);
    chip.setAttribute('aria-pressed', String(r.me));
    const name = REACTIONS.find(([e]) => emojiKey(e) === key)?.[1] ?? r.emoji;
    chip.setAttribute('aria-label', `${name}: ${r.count} ${r.count === 1 ? 'reaction' : 'reactions'}${r.me ? ', including yours' : ''}`);
    chip.title = r.me ? 'You reacted with this. Click to take it back.' : 'Click to react with this too.';
    chips.push(chip);
  }
  const focused = box.contains(document.activeElement);
  box.replaceChildren(...chips);
  box.hidden = chips.length === 0;
  if (focused && !box.contains(document.activeElement)) entry.el.querySelector('.react-open')?.focus();
}

async function react(chat, entry, emoji, on) {
  clearAlert();
  const path = `/api/rooms/${chat.id}/messages/${entry.id}/reactions/${encodeURIComponent(emoji)}`;
  try {
    await api(on ? 'PUT' : 'DELETE', path);
    if (!isStale(chat)) applyReaction(chat, entry.id, emoji, state.me.id, on);
  } catch (err) {
    if (!isStale(chat) && err.type !== 'unauthenticated') {
      showAlert(`Could not ${on ? 'add' : 'take back'} the reaction: ${describe(err)}`);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Per-message actions: a reaction picker and a menu (edit, delete), both small popups
// driven by arrow keys, closed by Escape (focus back on their button) or a click elsewhere.

function wireMessageActions(chat, entry) {
  const { el } = entry;
  if (el.dataset.wired) return;
  el.dataset.wired = '1';
  const picker = el.querySelector('.react-open');
  picker.addEventListener('click', () => {
    if (state.popup?.trigger === picker) return closePopup();
    openPopup(picker, el, 'Pick a reaction', REACTIONS.map(([emoji, name]) => ({
      text: emoji,
      label: `React with ${name}`,
      action: () => react(chat, entry, emoji, !entry.reactions.get(emojiKey(emoji))?.me),
    })), 'picker');
  });
  const menu = el.querySelector('.menu-open');
  menu.addEventListener('click', () => {
    if (state.popup?.trigger === menu) return closePopup();
    const items = [];
    if (entry.author.id === state.me.id) items.push({ text: 'Edit', action: () => startEdit(chat, entry) });
    items.push({ text: 'Delete', action: () => confirmDelete(chat, entry), cls: 'danger' });
    openPopup(menu, el, 'Message actions', items, 'menu');
  });
}

function openPopup(trigger, msgEl, label, items, kind) {
  closePopup({ focus: false });
  const box = document.createElement('div');
  box.className = `popup ${kind}`;
  box.setAttribute('role', 'menu');
  box.setAttribute('aria-label', label);
  if (kind === 'picker') box.setAttribute('aria-orientation', 'horizontal');
  for (const item of items) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'popup-item';
    b.setAttribute('role', 'menuitem');
    b.tabIndex = -1;
    b.textContent = item.text;
    if (item.cls) b.classList.add(item.cls);
    if (item.label) b.setAttribute('aria-label', item.label);
    b.addEventListener('click', () => {
      closePopup({ focus: false });
      item.action();
    });
    box.append(b);
  }
  box.addEventListener('keydown', onPopupKey);
  box.addEventListener('focusout', (e) => {
    if (state.popup?.el === box && !box.contains(e.relatedTarget) && e.relatedTarget !== trigger) closePopup({ focus: false });
  });
  trigger.after(box);
  trigger.setAttribute('aria-expanded', 'true');
  msgEl.classList.add('popup-open');
  state.popup = { el: box, trigger, msgEl };
  box.firstElementChild.focus();
}

function closePopup({ focus = true } = {}) {
  const p = state.popup;
  if (!p) return;
  state.popup = null;
  p.el.remove();
  p.trigger.setAttribute('aria-expanded', 'false');
  p.msgEl.classList.remove('popup-open');
  if (focus) p.trigger.focus();
}

function onPopupKey(event) {
  const items = [...event.currentTarget.children];
  const i = items.indexOf(document.activeElement);
  const move = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1 }[event.key];
  if (move) {
    event.preventDefault();
    items[(i + move + items.length) % items.length].focus();
  } else if (event.key === 'Home' || event.key === 'End') {
    event.preventDefault();
    items[event.key === 'Home' ? 0 : items.length - 1].focus();
  } else if (event.key === 'Escape') {
    event.preventDefault();
    closePopup();
  } else if (event.key === 'Tab') {
    closePopup({ focus: false });
  }
}

function onDocumentPointer(event) {
  const p = state.popup;
  if (p && !p.el.contains(event.target) && !p.trigger.contains(event.target)) closePopup({ focus: false });
}

// ---------------------------------------------------------------------------------------
// Editing and deleting a message

/** The newest confirmed message of ours that is not deleted: what ArrowUp edits. */
function lastOwnEntry(chat) {
  const els = $('messages').querySelectorAll(`li.msg[data-seq][data-author="${state.me.id}"]:not(.deleted)`);
  const el = els[els.length - 1];
  return el ? chat.byId.get(Number(el.dataset.id)) : undefined;
}

function startEdit(chat, entry, { fromComposer = false } = {}) {
  if (chat.editing) endEdit(chat, { focus: false });
  const { el } = entry;
  const id = `edit-${entry.id}`;
  const form = document.createElement('form');
  form.className = 'edit-form';
  form.noValidate = true;
  const label = document.createElement('label');
  label.htmlFor = id;
  label.className = 'visually-hidden';
  label.textContent = 'Edit message';
  const input = document.createElement('textarea');
  input.id = id;
  input.maxLength = 4000;
  input.value = entry.content;
  input.rows = Math.min(8, entry.content.split('\n').length);
  input.setAttribute('aria-describedby', `${id}-hint`);
  const row = document.createElement('div');
  row.className = 'edit-row';
  const save = document.createElement('button');
  save.type = 'submit';
  save.className = 'primary small';
  save.textContent = 'Save';
  const cancel = document.createElement('button');
  cancel.type = 'button';
  cancel.className = 'ghost small';
  cancel.textContent = 'Cancel';
  const hint = document.createElement('small');
  hint.id = `${id}-hint`;
  hint.className = 'hint';
  hint.textContent = 'Enter to save · Esc to cancel';
  row.append(save, cancel, hint);
  const error = document.createElement('p');
  error.className = 'form-error';
  error.setAttribute('role', 'alert');
  form.append(label, input, row, error);
  const editing = { entry, form, input, save, error, fromComposer };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    saveEdit(chat, editing);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      saveEdit(chat, editing);
    } else if (e.key === 'Escape') {
      e.preventDefault();
      endEdit(chat);
    }
  });
  input.addEventListener('input', () => { error.textContent = ''; });
  cancel.addEventListener('click', () => endEdit(chat));
  el.querySelector('.msg-body').hidden = true;
  el.querySelector('.msg-body').after(form);
  el.classList.add('editing');
  chat.editing = editing;
  input.focus();
  input.setSelectionRange(input.value.length, input.value.length);
  input.scrollIntoView({ block: 'nearest' });
}

/** Focus goes back where the edit started: the composer (ArrowUp) or the message's menu. */
function endEdit(chat, { focus = true } = {}) {
  const editing = chat.editing;
  if (!editing) return;
  chat.editing = null;
  const { entry, form } = editing;
  const hadFocus = form.contains(document.activeElement);
  form.remove();
  entry.el.querySelector('.msg-body').hidden = false;
  entry.el.classList.remove('editing');
  if (!focus || (!hadFocus && document.activeElement !== document.body)) return;
  const menu = entry.el.querySelector('.menu-open');
  if (editing.fromComposer || entry.deleted || menu.hidden) $('composer-input').focus({ preventScroll: true });
  else menu.focus();
}

async function saveEdit(chat, editing) {
  const content = editing.input.value.trim();
  if (!content) {
    editing.error.textContent = 'A message cannot be empty. To remove it, delete it.';
    return;
  }
  if (content === editing.entry.content) return endEdit(chat);
  editing.save.disabled = true;
  try {
    const msg = await api('PATCH', `/api/rooms/${chat.id}/messages/${editing.entry.id}`,
      { body: { content }, headers: { 'Idempotency-Key': newKey() } });
    if (isStale(chat)) return;
    applyEdit(chat, msg.id, msg.content, msg.edited_at);
    if (chat.editing === editing) endEdit(chat);
  } catch (err) {
    if (isStale(chat) || chat.editing !== editing) return;
    editing.error.textContent = `Not saved: ${describe(err)}`;
  } finally {
    editing.save.disabled = false;
  }
}

/** A confirmation in the message itself (no blocking dialog); Cancel has the focus. */
function confirmDelete(chat, entry) {
  const { el } = entry;
  const existing = el.querySelector('.confirm-bar');
  if (existing) return existing.querySelector('.cancel').focus();
  const bar = document.createElement('div');
  bar.className = 'confirm-bar';
  bar.setAttribute('role', 'group');
  bar.setAttribute('aria-label', 'Confirm deletion');
  const text = document.createElement('span');
  text.className = 'confirm-text';
  text.textContent = 'Delete this message for everyone?';
  const yes = document.createElement('button');
  yes.type = 'button';
  yes.className = 'danger-solid small';
  yes.textContent = 'Delete message';
  const no = document.createElement('button');
  no.type = 'button';
  no.className = 'ghost small cancel';
  no.textContent = 'Cancel';
  bar.append(text, yes, no);
  const close = () => {
    bar.remove();
    const menu = el.querySelector('.menu-open');
    if (!entry.deleted && !menu.hidden) menu.focus();
    else $('composer-input').focus({ preventScroll: true });
  };
  no.addEventListener('click', close);
  bar.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      close();
    }
  });
  yes.addEventListener('click', async () => {
    clearAlert();
    yes.disabled = true;
    try {
      await api('DELETE', `/api/rooms/${chat.id}/messages/${entry.id}`);
      if (!isStale(chat)) applyDelete(chat, entry.id);
      bar.remove();
      if (!isStale(chat)) $('composer-input').focus({ preventScroll: true });
    } catch (err) {
      yes.disabled = false;
      if (!isStale(chat) && err.type !== 'unauthenticated') showAlert(`Could not delete the message: ${describe(err)}`);
    }
  });
  el.querySelector('.msg-state').before(bar);
  no.focus();
}

/** The socket copy of our own message: the oldest pending send with the same text. */
function findPendingFor(chat, msg) {
  if (msg.author.id !== state.me.id) return undefined;
  for (const p of chat.pending.values()) if (p.content === msg.content) return p;
  return undefined;
}

function showMemberNotice(chat, event, { scroll = true } = {}) {
  if (chat.bySeq.has(event.seq)) return;
  const stick = scroll && isNearBottom();
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

/**
 * Enter sends, Shift+Enter adds a line; an IME composition's Enter is not a send. ArrowUp in
 * the empty composer edits our last message.
 */
function onComposerKey(event) {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) sendFromComposer(event);
  const plain = !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey && !event.isComposing;
  if (event.key === 'ArrowUp' && plain && event.target.value === '' && state.chat) {
    const entry = lastOwnEntry(state.chat);
    if (!entry) return;
    event.preventDefault();
    startEdit(state.chat, entry, { fromComposer: true });
  }
}

function autoGrow() {
  const input = $('composer-input');
  input.style.height = 'auto';
  input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
}

// ---------------------------------------------------------------------------------------
// Typing and presence: frames without a seq, never part of the resume logic.

function showTyping(chat, user) {
  clearTimeout(chat.typing.get(user.id)?.timer);
  const timer = setTimeout(() => stopTyping(chat, user.id), TYPING_SHOW_MS);
  chat.typing.set(user.id, { username: user.username, timer });
  renderTyping(chat);
}

function stopTyping(chat, userId) {
  const t = chat.typing.get(userId);
  if (!t) return;
  clearTimeout(t.timer);
  chat.typing.delete(userId);
  renderTyping(chat);
}

function renderTyping(chat) {
  if (isStale(chat)) return;
  const names = [...chat.typing.values()].map((t) => t.username);
  $('typing').textContent = names.length === 0 ? ''
    : names.length === 1 ? `${names[0]} is typing…`
      : names.length === 2 ? `${names[0]} and ${names[1]} are typing…`
        : 'Several people are typing…';
}

/** Typing in the composer says so, at most once per 3 s (the server's own rate). */
function sayTyping() {
  const chat = state.chat;
  if (!chat || !$('composer-input').value.trim() || Date.now() - chat.typingSentAt < TYPING_SEND_MS) return;
  chat.typingSentAt = Date.now();
  api('POST', `/api/rooms/${chat.id}/typing`).catch(() => {}); // a lost one only hides a hint
}

async function loadPresence(chat) {
  try {
    const { members } = await api('GET', `/api/rooms/${chat.id}/presence`);
    if (isStale(chat)) return;
    chat.online = new Set(members.map((m) => m.id));
    renderPresence(chat);
  } catch {
    // Presence is a hint; the member list works without it.
  }
}

function renderPresence(chat) {
  if (isStale(chat)) return;
  for (const li of $('members-list').children) {
    const online = chat.online.has(Number(li.dataset.id));
    li.querySelector('.presence')?.classList.toggle('online', online);
    const text = li.querySelector('.presence-text');
    if (text) text.textContent = online ? 'online' : 'offline';
  }
}

// ---------------------------------------------------------------------------------------
// Mention notifications: off until the user turns them on (which asks the browser's
// permission); then a message naming @you in the open room notifies while the tab is hidden.

const notifySupported = () => 'Notification' in window;

function notifyOn() {
  return notifySupported() && Notification.permission === 'granted' && localStorage.getItem(NOTIFY_KEY) === '1';
}

async function toggleNotify() {
  if (notifyOn()) {
    localStorage.removeItem(NOTIFY_KEY);
  } else if (notifySupported()) {
    let permission = Notification.permission;
    if (permission !== 'granted') permission = await Notification.requestPermission();
    if (permission === 'granted') localStorage.setItem(NOTIFY_KEY, '1');
  }
  renderNotifyState();
}

function renderNotifyState() {
  const button = $('notify-toggle');
  const status = $('notify-state');
  if (!notifySupported()) {
    button.hidden = true;
    status.textContent = 'This browser cannot show notifications.';
    return;
  }
  if (Notification.permission === 'denied') {
    button.hidden = true;
    status.textContent = 'Notifications are blocked for this site in the browser\'s settings.';
    return;
  }
  const on = notifyOn();
  button.hidden = false;
  button.textContent = on ? 'Turn off mention notifications' : 'Turn on mention notifications';
  status.textContent = on ? 'On: a mention notifies you while this tab is in the background.' : 'Off.';
}

/** "@name" as a word: not inside an e-mail address or a longer name. */
function mentions(text, username) {
  const name = username.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
  return new RegExp(`(^|[^\\w@.-])@${name}(?![\\w-]|\\.\\w)`, 'i').test(text);
}

function notifyMention(chat, msg) {
  if (!notifyOn() || document.visibilityState !== 'hidden' || !msg.content) return;
  if (!mentions(msg.content, state.me.username)) return;
  try {
    const n = new Notification(`${msg.author.username} mentioned you in ${chat.room?.name ?? 'a room'}`, {
      body: msg.content.slice(0, 200),
      tag: `roomcast-message-${msg.id}`,
    });
    n.onclick = () => {
      window.focus();
      if (state.chat?.id !== chat.id) navigate(chat.id);
      n.close();
    };
  } catch {
    // Some browsers only notify from a service worker; the message is on the page anyway.
  }
}

// ---------------------------------------------------------------------------------------
// Members of the open room; the owner (and admins) can ban from here.

function toggleMembers() {
  if ($('members-panel').hidden) openMembers();
  else closeMembers({ focus: true });
}

function openMembers() {
  const chat = state.chat;
  if (!chat) return;
  $('members-panel').hidden = false;
  $('chat-members').setAttribute('aria-expanded', 'true');
  $('members-status').replaceChildren();
  // Only the owner (or an admin) makes invites to a room; a DM has none.
  $('invite-box').hidden = chat.room?.kind === 'dm'
    || (chat.room?.owner.id !== state.me.id && !state.me.admin);
  $('invite-link-row').hidden = true;
  $('invite-link-error').textContent = '';
  loadMembers(chat);
}

function closeMembers({ focus = false } = {}) {
  clearTimeout(state.membersTimer);
  $('members-panel').hidden = true;
  $('chat-members').setAttribute('aria-expanded', 'false');
  $('members-list').replaceChildren();
  $('members-status').replaceChildren();
  if (focus) $('chat-members').focus();
}

function refreshMembersSoon(chat) {
  if ($('members-panel').hidden) return;
  clearTimeout(state.membersTimer);
  state.membersTimer = setTimeout(() => {
    if (!isStale(chat) && !$('members-panel').hidden) loadMembers(chat);
  }, MEMBERS_REFRESH_MS);
}

async function loadMembers(chat) {
  try {
    const { members } = await api('GET', `/api/rooms/${chat.id}/members`);
    if (isStale(chat) || $('members-panel').hidden) return;
    renderMembers(chat, members);
  } catch (err) {
    if (!isStale(chat) && err.type !== 'unauthenticated') setMembersStatus(`Could not load the members: ${describe(err)}`);
  }
}

function setMembersStatus(text, action) {
  const parts = [text];
  if (action) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'link';
    b.textContent = action.text;
    b.addEventListener('click', action.run);
    parts.push(' ', b);
  }
  $('members-status').replaceChildren(...parts);
}

function tag(text) {
  const t = document.createElement('span');
  t.className = 'tag';
  t.textContent = text;
  return t;
}

function renderMembers(chat, members) {
  const ownerId = chat.room?.owner.id;
  const canBan = chat.room?.kind !== 'dm' && (ownerId === state.me.id || Boolean(state.me.admin));
  const focusedId = document.activeElement?.closest?.('#members-list li')?.dataset.id;
  const items = members.map((m) => {
    const li = document.createElement('li');
    li.dataset.id = m.id;
    const dot = document.createElement('span');
    dot.className = 'presence';
    dot.setAttribute('aria-hidden', 'true');
    const status = document.createElement('span');
    status.className = 'presence-text visually-hidden';
    li.append(dot, status);
    let name;
    if (m.id === state.me.id || m.bot || chat.room?.kind === 'dm') {
      name = document.createElement('span');
    } else {
      // A member's name opens (or starts) a direct message with them.
      name = document.createElement('button');
      name.type = 'button';
      name.className = 'link member-dm';
      name.title = `Send ${m.username} a direct message`;
      name.setAttribute('aria-label', `Message ${m.username} directly`);
      name.addEventListener('click', () => openDm(m));
    }
    name.classList.add('member-name');
    name.textContent = m.username;
    li.append(name);
    if (m.id === ownerId) li.append(tag('owner'));
    if (m.id === state.me.id) li.append(tag('you'));
    if (m.bot) li.append(tag('bot'));
    if (canBan && m.id !== state.me.id && m.id !== ownerId) {
      const ban = document.createElement('button');
      ban.type = 'button';
      ban.className = 'danger small ban';
      ban.textContent = 'Ban';
      ban.setAttribute('aria-label', `Ban ${m.username}`);
      ban.addEventListener('click', () => banMember(chat, m, ban));
      li.append(ban);
    }
    return li;
  });
  $('members-list').replaceChildren(...items);
  renderPresence(chat);
  if (focusedId) ($('members-list').querySelector(`li[data-id="${focusedId}"] button`) ?? $('members-close')).focus();
}

/** Two clicks, like deleting a room: the first one asks. */
async function banMember(chat, member, button) {
  if (!button.classList.contains('confirming')) {
    button.classList.add('confirming');
    button.textContent = 'Click again to ban';
    setTimeout(() => {
      button.classList.remove('confirming');
      button.textContent = 'Ban';
    }, 4000);
    return;
  }
  button.disabled = true;
  try {
    await api('PUT', `/api/rooms/${chat.id}/bans/${member.id}`);
    if (isStale(chat)) return;
    setMembersStatus(`${member.username} is banned from this room.`, {
      text: 'Lift the ban',
      run: () => liftBan(chat, member),
    });
    $('members-status').querySelector('button')?.focus();
    loadMembers(chat);
  } catch (err) {
    button.disabled = false;
    if (!isStale(chat) && err.type !== 'unauthenticated') setMembersStatus(`Could not ban ${member.username}: ${describe(err)}`);
  }
}

async function liftBan(chat, member) {
  try {
    await api('DELETE', `/api/rooms/${chat.id}/bans/${member.id}`);
    if (!isStale(chat)) setMembersStatus(`The ban on ${member.username} is lifted; they may join again.`);
  } catch (err) {
    if (!isStale(chat) && err.type !== 'unauthenticated') setMembersStatus(`Could not lift the ban: ${describe(err)}`);
  }
  if (!isStale(chat)) $('chat-members').focus();
}

/** An invite link (#/invite/CODE): accept it, then open the room (or say why not). */
async function acceptInvite(code) {
  clearAlert();
  history.replaceState(null, '', location.pathname + location.search);
  try {
    const room = await api('POST', '/api/room-invites/accept', { body: { code } });
    await refreshRooms();
    navigate(room.id, { replace: true });
  } catch (err) {
    route();
    if (err.type !== 'unauthenticated') showAlert(`Could not accept the invite: ${describe(err)}`);
  }
}

async function makeInviteLink() {
  const chat = state.chat;
  if (!chat) return;
  $('invite-link-error').textContent = '';
  try {
    const invite = await api('POST', `/api/rooms/${chat.id}/invites`, { body: {} });
    if (isStale(chat)) return;
    $('invite-link-row').hidden = false;
    $('invite-link').value = new URL(invite.url, location.origin).href;
    $('invite-link-copy').textContent = 'Copy';
    $('invite-link').focus();
    $('invite-link').select();
  } catch (err) {
    if (!isStale(chat) && err.type !== 'unauthenticated') {
      $('invite-link-error').textContent = `Could not make an invite link: ${describe(err)}`;
    }
  }
}

async function copyField(input, button) {
  try {
    await navigator.clipboard.writeText(input.value);
    button.textContent = 'Copied';
  } catch {
    // No clipboard API (a plain-http page): select it for Ctrl+C.
    input.focus();
    input.select();
    button.textContent = 'Selected: press Ctrl+C';
  }
}

/** A direct message with a member: the server answers the existing DM if there is one. */
async function openDm(member) {
  clearAlert();
  try {
    const room = await api('POST', '/api/dms', { body: { user_id: member.id } });
    await refreshRooms();
    navigate(room.id);
  } catch (err) {
    if (err.type !== 'unauthenticated') showAlert(`Could not open a conversation with ${member.username}: ${describe(err)}`);
  }
}

// ---------------------------------------------------------------------------------------
// Account page: password change, notifications

function openAccount() {
  $('password-form').reset();
  $('pw-error').textContent = '';
  $('pw-done').textContent = '';
  renderNotifyState();
}

async function changePassword(event) {
  event.preventDefault();
  const current = $('pw-current').value;
  const next = $('pw-new').value;
  const problem = !current ? 'Enter your current password.'
    : new TextEncoder().encode(next).length < 8 ? 'The new password needs at least 8 characters.'
      : next !== $('pw-repeat').value ? 'The new passwords do not match.' : '';
  $('pw-error').textContent = problem;
  $('pw-done').textContent = '';
  if (problem) return;
  const button = $('password-form').querySelector('button[type=submit]');
  button.disabled = true;
  try {
    await api('PUT', '/api/me/password', { body: { current, new: next } });
    $('password-form').reset();
    $('pw-done').textContent = 'Password changed. Your other sessions were logged out.';
  } catch (err) {
    if (err.type === 'wrong-password') $('pw-error').textContent = 'The current password is wrong.';
    else if (err.type !== 'unauthenticated') $('pw-error').textContent = `Could not change the password: ${describe(err)}`;
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------
// Admin page: accounts (disable / enable), registration invites (create / list / revoke)

const adminState = { users: new Map() };

function openAdmin() {
  $('admin-error').textContent = '';
  $('invite-error').textContent = '';
  $('invite-new').hidden = true;
  $('invite-code').value = '';
  loadUsers().then(loadInvites);
}

function adminFailed(what, err) {
  if (err.type !== 'unauthenticated') $('admin-error').textContent = `${what}: ${describe(err)}`;
}

async function loadUsers() {
  try {
    const { users } = await api('GET', '/api/users');
    adminState.users = new Map(users.map((u) => [u.id, u]));
    renderUsers(users);
  } catch (err) {
    adminFailed('Could not load the users', err);
  }
}

function renderUsers(users) {
  const focusedId = document.activeElement?.closest?.('#users-list li')?.dataset.id;
  const items = users.map((u) => {
    const li = document.createElement('li');
    li.dataset.id = u.id;
    li.classList.toggle('disabled', u.disabled);
    const name = document.createElement('span');
    name.className = 'member-name';
    name.textContent = u.username;
    li.append(name);
    if (u.admin) li.append(tag('admin'));
    if (u.bot) li.append(tag('bot'));
    if (u.disabled) li.append(tag('disabled'));
    if (u.id === state.me.id) li.append(tag('you'));
    if (u.id !== state.me.id) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = u.disabled ? 'small' : 'danger small';
      b.textContent = u.disabled ? 'Enable' : 'Disable';
      b.setAttribute('aria-label', `${u.disabled ? 'Enable' : 'Disable'} ${u.username}`);
      b.addEventListener('click', () => setDisabled(u, !u.disabled));
      li.append(b);
    }
    return li;
  });
  $('users-list').replaceChildren(...items);
  if (focusedId) $('users-list').querySelector(`li[data-id="${focusedId}"] button`)?.focus();
}

async function setDisabled(user, disabled) {
  $('admin-error').textContent = '';
  try {
    await api(disabled ? 'PUT' : 'DELETE', `/api/users/${user.id}/disabled`);
  } catch (err) {
    adminFailed(`Could not ${disabled ? 'disable' : 'enable'} ${user.username}`, err);
  }
  await loadUsers();
}

async function loadInvites() {
  try {
    const { invites } = await api('GET', '/api/invites');
    renderInvites(invites);
  } catch (err) {
    adminFailed('Could not load the invites', err);
  }
}

function renderInvites(invites) {
  const items = invites.map((inv) => {
    const li = document.createElement('li');
    li.dataset.id = inv.id;
    const text = document.createElement('span');
    text.className = 'invite-text';
    const by = adminState.users.get(inv.created_by)?.username;
    text.textContent = [
      `Invite ${inv.id}`,
      `${inv.uses_left} ${inv.uses_left === 1 ? 'use' : 'uses'} left`,
      `expires ${new Date(inv.expires_at).toLocaleString()}`,
      by ? `by ${by}` : '',
    ].filter(Boolean).join(' · ');
    const revoke = document.createElement('button');
    revoke.type = 'button';
    revoke.className = 'danger small';
    revoke.textContent = 'Revoke';
    revoke.setAttribute('aria-label', `Revoke invite ${inv.id}`);
    revoke.addEventListener('click', () => revokeInvite(inv));
    li.append(text, revoke);
    return li;
  });
  $('invites-list').replaceChildren(...items);
  $('invites-empty').hidden = invites.length > 0;
}

async function createInvite(event) {
  event.preventDefault();
  const uses = Number($('invite-uses').value);
  const days = Number($('invite-days').value);
  const problem = !Number.isInteger(uses) || uses < 1 || uses > 1000 ? 'Uses must be a whole number from 1 to 1,000.'
    : !Number.isInteger(days) || days < 1 || days > 30 ? 'The expiry must be a whole number of days from 1 to 30.' : '';
  $('invite-error').textContent = problem;
  if (problem) return;
  try {
    const invite = await api('POST', '/api/invites', { body: { uses, expires_in_secs: days * 86_400 } });
    $('invite-new').hidden = false;
    $('invite-code').value = invite.code;
    $('invite-copy').textContent = 'Copy';
    $('invite-code').focus();
    $('invite-code').select();
    await loadInvites();
  } catch (err) {
    if (err.type !== 'unauthenticated') $('invite-error').textContent = `Could not create the invite: ${describe(err)}`;
  }
}

async function copyInvite() {
  const input = $('invite-code');
  try {
    await navigator.clipboard.writeText(input.value);
    $('invite-copy').textContent = 'Copied';
  } catch {
    // No clipboard API (a plain-http page): select it for Ctrl+C.
    input.focus();
    input.select();
    $('invite-copy').textContent = 'Selected: press Ctrl+C';
  }
}

async function revokeInvite(invite) {
  $('admin-error').textContent = '';
  try {
    await api('DELETE', `/api/invites/${invite.id}`);
  } catch (err) {
    adminFailed(`Could not revoke invite ${invite.id}`, err);
  }
  await loadInvites();
  $('invites-list').querySelector('button')?.focus() ?? $('invite-uses').focus();
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
  for (const back of document.querySelectorAll('.page-back')) back.addEventListener('click', () => navigate(null));
  $('chat-leave').addEventListener('click', leaveRoom);
  $('chat-delete').addEventListener('click', deleteRoom);
  $('load-older').addEventListener('click', () => state.chat && loadOlder(state.chat));
  $('scroller').addEventListener('scroll', onScroll, { passive: true });
  $('composer').addEventListener('submit', sendFromComposer);
  $('composer-input').addEventListener('keydown', onComposerKey);
  $('composer-input').addEventListener('input', autoGrow);
  $('composer-input').addEventListener('input', sayTyping);
  $('new-pill').addEventListener('click', onPill);
  $('messages').addEventListener('focusin', onMessagesFocus);
  $('messages').addEventListener('keydown', onMessagesKey);
  $('chat-members').addEventListener('click', toggleMembers);
  $('members-close').addEventListener('click', () => closeMembers({ focus: true }));
  $('password-form').addEventListener('submit', changePassword);
  $('notify-toggle').addEventListener('click', toggleNotify);
  $('users-refresh').addEventListener('click', () => loadUsers().then(loadInvites));
  $('invite-form').addEventListener('submit', createInvite);
  $('invite-copy').addEventListener('click', copyInvite);
  $('invite-make').addEventListener('click', makeInviteLink);
  $('invite-link-copy').addEventListener('click', () => copyField($('invite-link'), $('invite-link-copy')));
  document.addEventListener('pointerdown', onDocumentPointer);
  window.addEventListener('popstate', route);
  window.addEventListener('hashchange', route);
  window.addEventListener('online', reconnectNow);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && state.chat) markReadSoon(state.chat);
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
