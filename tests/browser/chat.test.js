// End to end: the real roomcast server, Debian's Chromium, two users in two browser contexts.
// The steps build on each other (one server, one database), so they run in order.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { RoomcastServer, freePort, serverBinary } from './support/server.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ARTIFACTS = path.join(REPO, 'tests/artifacts');
const LAPTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const STEP_TIMEOUT_MS = 45_000;
const UI_TIMEOUT_MS = 10_000;
// Backoff tops out at 10 s, so a reconnect after a restart can take that long.
const RECONNECT_TIMEOUT_MS = 20_000;
const WHOLE_RUN_MS = 170_000;

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
  '--no-first-run', '--disable-component-update', '--disable-sync',
];

const ALICE = { username: 'alice', password: 'correct horse battery' };
const BOB = { username: 'bob', password: 'battery staple horse' };
const XSS = '<img src=x onerror=alert(1)>';

let server;
let browser;
let workdir;
const users = {}; // name -> {context, page, dialogs, problems, sockets}

// A last resort, should a step hang past every per-step timeout.
const watchdog = setTimeout(() => {
  console.error('browser test: whole run exceeded its time limit');
  server?.child?.kill('SIGKILL');
  process.exit(1);
}, WHOLE_RUN_MS);
watchdog.unref();

// ---------------------------------------------------------------------------------------
// helpers

/** A browser context for one user, recording what must never happen (dialogs, CSP refusals). */
async function newUser(name, viewport) {
  const context = await browser.newContext({ viewport, baseURL: server.url });
  context.setDefaultTimeout(UI_TIMEOUT_MS);
  const page = await context.newPage();
  const user = { name, context, page, dialogs: [], problems: [], sockets: [] };
  page.on('dialog', (d) => {
    user.dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  page.on('pageerror', (e) => user.problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) user.problems.push(`console: ${m.text()}`);
  });
  page.on('websocket', (ws) => user.sockets.push(ws.url()));
  users[name] = user;
  return user;
}

async function register(page, { username, password }) {
  await page.goto('/');
  await page.getByRole('button', { name: 'Create an account' }).click();
  await fillAuth(page, username, password, 'Create account');
}

async function logIn(page, { username, password }) {
  await page.goto('/');
  await fillAuth(page, username, password, 'Log in');
}

async function fillAuth(page, username, password, submit) {
  await page.getByLabel('Username', { exact: true }).fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.locator('#auth-submit').filter({ hasText: submit }).click();
}

async function expectSignedIn(page, username) {
  await page.locator('#me-name').filter({ hasText: username }).waitFor();
}

async function send(page, text) {
  const input = page.getByLabel('Message', { exact: true });
  await input.fill(text);
  await input.press('Enter');
}

/** Wait until a message with exactly this text is confirmed (has a seq) on the page. */
async function waitForMessage(page, text, timeout = UI_TIMEOUT_MS) {
  await page.waitForFunction(
    (t) => [...document.querySelectorAll('#messages li.msg[data-seq] .content')].some((e) => e.textContent === t),
    text,
    { timeout },
  );
}

/** How many list items show exactly this text (pending or confirmed). */
function countMessages(page, text) {
  return page.$$eval('#messages li.msg .content', (els, t) => els.filter((e) => e.textContent === t).length, text);
}

/**
 * Send through the API, as a well-behaved client: the server's send rate limit is far below
 * what a bulk loop does, so a 429 waits out its Retry-After and resends under the same key.
 */
async function postMessage(context, room, content) {
  const key = crypto.randomUUID(); // one key for every attempt: a resend is a retry
  for (let attempt = 0; attempt < 30; attempt += 1) {
    const res = await context.request.post(`/api/rooms/${room}/messages`, {
      data: { content },
      headers: { 'Idempotency-Key': key },
    });
    if (res.status() === 201) return;
    assert.equal(res.status(), 429, `sending "${content}": ${await res.text()}`);
    await sleep(1000 * Math.max(1, Number(res.headers()['retry-after']) || 1));
  }
  assert.fail(`sending "${content}": still rate limited`);
}

function roomItem(page, name) {
  return page.locator('li.room').filter({ has: page.locator('.room-name', { hasText: new RegExp(`^${name}$`) }) });
}

async function screenshot(page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Give a late duplicate (a replayed frame, a second socket) the time to show up before counting. */
const settle = () => sleep(1000);

// ---------------------------------------------------------------------------------------

describe('roomcast in the browser', { timeout: WHOLE_RUN_MS }, () => {
  // A step, not a before() hook: a failed start then counts as a failed test in the summary
  // (a hook failure only "cancels" the steps, and reads as zero failures).
  test('the server and the browser start', { timeout: STEP_TIMEOUT_MS }, async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    workdir = mkdtempSync(path.join(tmpdir(), 'roomcast-browser-'));
    server = new RoomcastServer({
      bin: serverBinary(REPO),
      port: await freePort(),
      dbPath: path.join(workdir, 'rc.db'),
    });
    await server.start();
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: CHROMIUM_ARGS,
      timeout: 30_000,
    });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await server?.stop().catch((e) => console.error(e.message));
    if (workdir) rmSync(workdir, { recursive: true, force: true });
    clearTimeout(watchdog);
  });

  test('account errors show inline; both users register and join one room', { timeout: STEP_TIMEOUT_MS }, async () => {
    const { page: a } = await newUser('alice', LAPTOP);
    await register(a, ALICE);
    await expectSignedIn(a, 'alice');

    const { page: b } = await newUser('bob', LAPTOP);
    await b.goto('/');
    await screenshot(b, 'laptop-login');
    await register(b, { username: 'alice', password: 'whatever123' });
    await b.locator('#auth-error').filter({ hasText: 'That username is taken' }).waitFor();
    await register(b, BOB);
    await expectSignedIn(b, 'bob');
    await b.getByRole('button', { name: 'Log out' }).click();
    await logIn(b, { username: 'bob', password: 'not his password' });
    await b.locator('#auth-error').filter({ hasText: 'Wrong username or password' }).waitFor();
    // The server does not rate-limit yet; its documented 429 answer is simulated here.
    await b.route('**/api/session', (route) => route.fulfill({
      status: 429,
      headers: { 'retry-after': '30' },
      contentType: 'application/problem+json',
      body: JSON.stringify({ type: 'rate-limited', title: 'Too many requests', status: 429, detail: 'slow down' }),
    }), { times: 1 });
    await logIn(b, BOB);
    await b.locator('#auth-error').filter({ hasText: 'Too many requests. Try again in 30 s.' }).waitFor();
    await logIn(b, BOB);
    await expectSignedIn(b, 'bob');

    await a.getByLabel('Name', { exact: true }).fill('general');
    await a.getByLabel('Seats', { exact: true }).fill('10');
    await a.getByRole('button', { name: 'Create room' }).click();
    await a.locator('#chat-title').filter({ hasText: 'general' }).waitFor();
    await a.locator('#conn').waitFor({ state: 'hidden' });

    await b.getByRole('button', { name: 'Refresh the room list' }).click();
    await roomItem(b, 'general').getByRole('button', { name: 'Join general' }).click();
    await b.locator('#chat-title').filter({ hasText: 'general' }).waitFor();
    await b.locator('#conn').waitFor({ state: 'hidden' });
    await a.locator('#messages .notice-item').filter({ hasText: 'bob joined the room' }).waitFor();
    await roomItem(b, 'general').locator('.seats').filter({ hasText: '2/10' }).waitFor();
  });

  test('a message from A arrives live at B, once on each side', { timeout: STEP_TIMEOUT_MS }, async () => {
    const a = users.alice.page;
    const b = users.bob.page;
    const text = 'Morning! Is everyone here for the release check?';
    await send(a, text);
    await waitForMessage(a, text);
    await waitForMessage(b, text);
    const input = b.getByLabel('Message', { exact: true });
    await input.pressSequentially('Here.');
    await input.press('Shift+Enter');
    await input.pressSequentially('Running the checklist now.');
    await input.press('Enter');
    await waitForMessage(a, 'Here.\nRunning the checklist now.');
    assert.equal(await input.inputValue(), '');
    await settle();
    assert.equal(await countMessages(a, text), 1);
    assert.equal(await countMessages(b, text), 1);
    assert.equal(await a.locator('#messages li.pending, #messages li.failed').count(), 0);
  });

  test('after a reload B sees the history, and older pages load on scroll up', { timeout: STEP_TIMEOUT_MS }, async () => {
    const a = users.alice;
    const b = users.bob.page;
    const room = await roomId(a.page);
    // Enough messages for two history pages; sent over HTTP with A's cookie.
    for (let n = 1; n <= 60; n += 1) await postMessage(a.context, room, `log line ${n}`);
    await waitForMessage(b, 'log line 60');

    await b.reload();
    await waitForMessage(b, 'log line 60');
    await b.locator('#conn').waitFor({ state: 'hidden' });
    // The newest page holds 50 messages: log lines 11..60.
    assert.equal(await countMessages(b, 'log line 10'), 0);
    await b.locator('#scroller').evaluate((s) => { s.scrollTop = 0; });
    await waitForMessage(b, 'Morning! Is everyone here for the release check?');
    await b.locator('#history-start').waitFor();
    assert.equal(await countMessages(b, 'log line 10'), 1);
    assert.equal(await countMessages(b, 'log line 11'), 1);
    assert.ok(b.url().endsWith(`#/rooms/${room}`), 'the open room survives a reload');
  });

  test('a server restart: B reconnects with after= and gets the new messages once', { timeout: STEP_TIMEOUT_MS }, async () => {
    const a = users.alice.page;
    const bob = users.bob;
    const b = bob.page;
    await b.locator('#scroller').evaluate((s) => { s.scrollTop = s.scrollHeight; });
    const lastSeq = await b.evaluate(() => Math.max(...[...document.querySelectorAll('#messages [data-seq]')]
      .map((e) => Number(e.dataset.seq))));
    const socketsBefore = bob.sockets.length;

    await server.stop();
    await b.locator('#conn').filter({ hasText: 'Reconnecting…' }).waitFor();
    // A send while the server is down fails visibly and offers a retry.
    const offline = 'Sent while the server was down.';
    const keys = [];
    users.alice.page.on('request', (req) => {
      if (req.method() === 'POST' && req.postData()?.includes(offline)) keys.push(req.headers()['idempotency-key']);
    });
    await send(a, offline);
    const failed = a.locator('#messages li.failed').filter({ hasText: offline });
    await failed.getByRole('button', { name: 'Retry' }).waitFor();
    await screenshot(b, 'laptop-reconnecting');
    await screenshot(a, 'laptop-send-failed');
    await server.start();
    await failed.getByRole('button', { name: 'Retry' }).click();

    const afterRestart = [offline, 'Server is back after the restart.', 'Checklist item 4: migrations ran cleanly.'];
    for (const text of afterRestart.slice(1)) {
      await send(a, text);
      await waitForMessage(a, text);
    }
    await b.locator('#conn').waitFor({ state: 'hidden', timeout: RECONNECT_TIMEOUT_MS });
    for (const text of afterRestart) await waitForMessage(b, text, RECONNECT_TIMEOUT_MS);
    await settle();
    for (const text of afterRestart) {
      assert.equal(await countMessages(b, text), 1, `B shows "${text}" once`);
      assert.equal(await countMessages(a, text), 1, `A shows "${text}" once`);
    }
    assert.equal(keys.length, 2, 'one failed POST and one retry');
    assert.equal(keys[0], keys[1], 'the retry reuses the Idempotency-Key');
    assert.match(keys[0], /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    // The room's sockets (the per-user summary socket reconnects too, without a seq).
    const resumed = bob.sockets.slice(socketsBefore).filter((u) => u.includes('/api/rooms/'))
      .map((u) => new URL(u).searchParams.get('after'));
    assert.ok(resumed.length >= 1, 'B opened a new socket');
    assert.ok(resumed.every((after) => Number(after) >= lastSeq), `resumed after ${lastSeq}: ${resumed}`);
  });

  test('markup in a message is shown as text and never runs', { timeout: STEP_TIMEOUT_MS }, async () => {
    const a = users.alice.page;
    const b = users.bob.page;
    await send(a, XSS);
    await waitForMessage(a, XSS);
    await waitForMessage(b, XSS);
    await settle();
    for (const page of [a, b]) {
      assert.equal(await countMessages(page, XSS), 1);
      assert.equal(await page.locator('#messages img').count(), 0);
    }
    assert.deepEqual(users.alice.dialogs, []);
    assert.deepEqual(users.bob.dialogs, []);
  });

  test('a full room shows its join button disabled', { timeout: STEP_TIMEOUT_MS }, async () => {
    const a = users.alice.page;
    const b = users.bob.page;
    await a.getByLabel('Name', { exact: true }).fill('alice-only');
    await a.getByLabel('Seats', { exact: true }).fill('1');
    await a.getByRole('button', { name: 'Create room' }).click();
    await a.locator('#chat-title').filter({ hasText: 'alice-only' }).waitFor();
    await roomItem(a, 'general').locator('.room-open').click();
    await a.locator('#chat-title').filter({ hasText: 'general' }).waitFor();

    await b.getByRole('button', { name: 'Refresh the room list' }).click();
    const full = roomItem(b, 'alice-only');
    await full.locator('.seats').filter({ hasText: '1/1' }).waitFor();
    assert.equal(await full.locator('.room-join').isDisabled(), true);
    assert.equal(await roomItem(b, 'general').locator('.room-join').isHidden(), true);
  });

  test('a join refused because the last seat went meanwhile is announced, and stays', { timeout: STEP_TIMEOUT_MS }, async () => {
    const alice = users.alice;
    const b = users.bob.page;
    const room = await (await alice.context.request.post('/api/rooms', { data: { name: 'last-seat', capacity: 2 } })).json();
    await b.getByRole('button', { name: 'Refresh the room list' }).click();
    const item = roomItem(b, 'last-seat');
    await item.locator('.seats').filter({ hasText: '1/2' }).waitFor();
    // Carol takes the last seat between Bob's listing and his click.
    const carol = await apiUser('carol');
    assert.equal((await carol.put(`/api/rooms/${room.id}/members/me`)).status(), 201);
    await item.getByRole('button', { name: 'Join last-seat' }).click();
    const alert = b.getByRole('alert').filter({ hasText: 'Could not join “last-seat”: That room is full' });
    await alert.waitFor();
    // The list catches up (the button turns into "Full"), and the reason is still on screen.
    await item.locator('.seats').filter({ hasText: '2/2' }).waitFor();
    await item.getByRole('button', { name: 'last-seat is full' }).waitFor();
    await sleep(500);
    assert.equal(await alert.isVisible(), true, 'a list refresh wiped the reason');
    await screenshot(b, 'laptop-join-refused');
    await alert.getByRole('button', { name: 'Dismiss' }).click();
    await alert.waitFor({ state: 'detached' });
    await carol.dispose();
  });

  test('a refused leave, create or send shows the server\'s title and detail in an alert', { timeout: STEP_TIMEOUT_MS }, async () => {
    const b = users.bob.page;
    await roomItem(b, 'general').locator('.room-open').click();
    await b.locator('#conn').waitFor({ state: 'hidden' });

    await refuseOnce(b, 'DELETE', '**/api/rooms/*/members/me',
      { status: 409, type: 'owner-cannot-leave', title: 'Owner cannot leave', detail: 'the owner of a room cannot leave it' });
    await b.getByRole('button', { name: 'Leave' }).click();
    await b.getByRole('alert')
      .filter({ hasText: 'Could not leave “general”: Owner cannot leave: The owner of a room cannot leave it.' }).waitFor();
    assert.equal(await b.locator('#chat-title').textContent(), 'general', 'still in the room');

    await refuseOnce(b, 'POST', '**/api/rooms',
      { status: 422, type: 'validation-failed', title: 'Validation failed', detail: 'name must be 1-100 characters' });
    await b.getByLabel('Name', { exact: true }).fill('refused-room');
    await b.getByRole('button', { name: 'Create room' }).click();
    await b.getByRole('alert')
      .filter({ hasText: 'Could not create the room: Validation failed: Name must be 1-100 characters.' }).waitFor();
    await b.getByLabel('Name', { exact: true }).fill('');
    await b.locator('#create-error').waitFor({ state: 'hidden' });

    await refuseOnce(b, 'POST', '**/api/rooms/*/messages',
      { status: 403, type: 'not-a-member', title: 'Not a member', detail: 'you are not a member of this room' });
    await send(b, 'This one is refused.');
    await b.getByRole('alert')
      .filter({ hasText: 'Your message was not sent: Not a member: You are not a member of this room.' }).waitFor();
    const failed = b.locator('#messages li.failed').filter({ hasText: 'This one is refused.' });
    await failed.getByRole('button', { name: 'Discard' }).click();
    // The next action starts with a clean slate.
    await send(b, 'This one goes through.');
    await waitForMessage(b, 'This one goes through.');
    assert.equal(await b.locator('#alert').textContent(), '');
  });

  test('after login focus lands on the room list, and a skip link is the first Tab stop', { timeout: STEP_TIMEOUT_MS }, async () => {
    const { page } = await newUser('bob-keyboard', LAPTOP);
    await logIn(page, BOB);
    await expectSignedIn(page, 'bob');
    await page.waitForFunction(() => document.activeElement?.id === 'room-list');

    await page.reload();
    await expectSignedIn(page, 'bob');
    await page.keyboard.press('Tab');
    const skip = page.getByRole('link', { name: 'Skip to content' });
    assert.equal(await skip.evaluate((e) => e === document.activeElement), true, 'the skip link is the first Tab stop');
    const box = await skip.boundingBox();
    assert.ok(box && box.y >= 0 && box.height > 0, `the focused skip link is on screen: ${JSON.stringify(box)}`);
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'room-list');
    assert.ok(!page.url().includes('#main-content'), 'the skip link left the router\'s hash alone');

    await roomItem(page, 'general').locator('.room-open').click();
    await page.locator('#conn').waitFor({ state: 'hidden' });
    // With a room open, the skip link leads to its composer.
    await skip.focus();
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'composer-input');
    await users['bob-keyboard'].context.close();
    delete users['bob-keyboard'];
  });

  test('screenshots on a laptop and a phone', { timeout: STEP_TIMEOUT_MS }, async () => {
    const a = users.alice.page;
    const b = users.bob.page;
    await a.getByLabel('Name', { exact: true }).fill('release-train');
    await a.getByLabel('Seats', { exact: true }).fill('8');
    await a.getByRole('button', { name: 'Create room' }).click();
    await a.locator('#chat-title').filter({ hasText: 'release-train' }).waitFor();
    await b.getByRole('button', { name: 'Refresh the room list' }).click();
    await roomItem(b, 'release-train').getByRole('button', { name: 'Join release-train' }).click();
    await b.locator('#conn').waitFor({ state: 'hidden' });
    const conversation = [
      [a, 'Release 1.4 is tagged. Can you run the smoke tests?'],
      [b, 'On it.'],
      [b, 'Login, rooms and history look good. Reconnect after a restart works too.'],
      [a, 'Great. I will post the notes:\n- idempotent sends\n- resume with after=\n- new web client'],
      [b, 'Ship it!'],
    ];
    for (const [page, text] of conversation) {
      await send(page, text);
      await waitForMessage(a, text);
      await waitForMessage(b, text);
    }
    const laptop = await screenshot(b, 'laptop-chat');
    // The README's picture is committed: refresh it on request, not as a side effect of every run.
    const readmeShot = path.join(REPO, 'docs/screenshot.png');
    if (process.env.ROOMCAST_UPDATE_SCREENSHOT === '1' || !existsSync(readmeShot)) {
      mkdirSync(path.dirname(readmeShot), { recursive: true });
      copyFileSync(laptop, readmeShot);
    }

    const { page: phone } = await newUser('bob-phone', PHONE);
    await phone.goto('/');
    await screenshot(phone, 'phone-login');
    await logIn(phone, BOB);
    await expectSignedIn(phone, 'bob');
    await screenshot(phone, 'phone-rooms');
    await roomItem(phone, 'release-train').locator('.room-open').click();
    await waitForMessage(phone, 'Ship it!');
    await screenshot(phone, 'phone-chat');
    await phone.getByRole('button', { name: 'Back to rooms' }).click();
    await phone.locator('#room-list').waitFor();
  });

  test('leaving, and the owner deleting, send users back to the list with a notice', { timeout: STEP_TIMEOUT_MS }, async () => {
    const a = users.alice.page;
    const b = users.bob.page;
    const remove = a.locator('#chat-delete');
    await remove.click();
    await remove.filter({ hasText: 'Click again to delete' }).click();
    await a.locator('#notice').filter({ hasText: 'You deleted “release-train”.' }).waitFor();
    await b.locator('#notice').filter({ hasText: '“release-train” was deleted by alice.' }).waitFor();
    await b.locator('#chat').waitFor({ state: 'hidden' });
    await roomItem(b, 'release-train').waitFor({ state: 'detached' });
    await screenshot(b, 'laptop-room-deleted');

    for (const page of [a, b]) {
      await roomItem(page, 'general').locator('.room-open').click();
      await page.locator('#conn').waitFor({ state: 'hidden' });
    }
    await b.getByRole('button', { name: 'Leave' }).click();
    await b.locator('#notice').filter({ hasText: 'You left “general”.' }).waitFor();
    await roomItem(b, 'general').getByRole('button', { name: 'Join general' }).waitFor();
    await a.locator('#messages .notice-item').filter({ hasText: 'bob left the room' }).waitFor();
  });

  test('a session logged out elsewhere (close 4001) returns the page to the login view', { timeout: STEP_TIMEOUT_MS }, async () => {
    const alice = users.alice;
    await alice.page.locator('#chat-title').filter({ hasText: 'general' }).waitFor();
    await alice.page.locator('#conn').waitFor({ state: 'hidden' });
    // The page's own cookie, used from outside the page: the socket is closed with 4001.
    const res = await alice.context.request.delete('/api/session');
    assert.equal(res.status(), 204);
    await alice.page.locator('#auth-error').filter({ hasText: 'Your session ended' }).waitFor();
    await alice.page.getByLabel('Username', { exact: true }).waitFor();
  });

  test('nothing tripped the content security policy or threw', () => {
    for (const user of Object.values(users)) {
      assert.deepEqual(user.problems, [], `${user.name}: ${user.problems.join('\n')}`);
      assert.deepEqual(user.dialogs, [], `${user.name} saw a dialog`);
    }
  });
});

/** A third account, through the API only (no page): a request context holding its cookie. */
async function apiUser(name) {
  const { request } = await import('playwright-core');
  const ctx = await request.newContext({ baseURL: server.url });
  const credentials = { username: name, password: 'a third password' };
  assert.equal((await ctx.post('/api/accounts', { data: credentials })).status(), 201);
  assert.equal((await ctx.post('/api/session', { data: credentials })).status(), 200);
  return ctx;
}

/**
 * The next `method` request to `url` gets this problem+json answer instead of the server's;
 * later ones pass through.
 */
async function refuseOnce(page, method, url, problem) {
  let used = false;
  const handler = (route) => {
    if (used || route.request().method() !== method) return route.fallback();
    used = true;
    return route.fulfill({
      status: problem.status,
      contentType: 'application/problem+json',
      body: JSON.stringify(problem),
    });
  };
  await page.route(url, handler);
}

/** The open room's id, from the page's URL (#/rooms/ID). */
async function roomId(page) {
  const match = new URL(page.url()).hash.match(/^#\/rooms\/(\d+)$/);
  assert.ok(match, `no room open at ${page.url()}`);
  return Number(match[1]);
}
