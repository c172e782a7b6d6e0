// The open room's message features, end to end (the real server, Debian's Chromium): edit
// (ArrowUp and the message menu), delete with a confirmation and a tombstone, reactions,
// links, the "new messages" pill, mention notifications. Each step builds on the last.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { RoomcastServer, freePort, serverBinary } from './support/server.js';
import {
  CHROMIUM_ARGS, focused, message, openRoom, person, post, send, sleep, waitForMessage,
} from './support/users.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const STEP_TIMEOUT_MS = 45_000;
const WHOLE_RUN_MS = 170_000;

let server;
let browser;
let workdir;
let room; // the room every step uses (alice's)
const people = {};

const watchdog = setTimeout(() => {
  console.error('messages test: whole run exceeded its time limit');
  server?.child?.kill('SIGKILL');
  process.exit(1);
}, WHOLE_RUN_MS);
watchdog.unref();

/**
 * Runs in the page before its scripts: a Notification that records instead of showing, and
 * a visibility the test sets (`window.__setHidden(true)`), since a headless tab is always
 * "visible".
 */
function stubNotificationsAndVisibility() {
  window.__notes = [];
  window.__asked = 0;
  // The browser remembers a permission across page loads; so does this stand-in.
  class FakeNotification {
    static get permission() {
      return localStorage.getItem('test-notification-permission') ?? 'default';
    }

    static requestPermission() {
      window.__asked += 1;
      localStorage.setItem('test-notification-permission', 'granted');
      return Promise.resolve('granted');
    }

    constructor(title, options) {
      window.__notes.push({ title, body: options?.body });
    }

    close() {}
  }
  window.Notification = FakeNotification;
  let hidden = false;
  Object.defineProperty(document, 'visibilityState', { get: () => (hidden ? 'hidden' : 'visible') });
  window.__setHidden = (h) => {
    hidden = h;
    document.dispatchEvent(new Event('visibilitychange'));
  };
}

describe('message features in the browser', { timeout: WHOLE_RUN_MS }, () => {
  test('the server and the browser start; alice and bob share a room', { timeout: STEP_TIMEOUT_MS }, async () => {
    workdir = mkdtempSync(path.join(tmpdir(), 'roomcast-messages-'));
    server = new RoomcastServer({
      bin: serverBinary(REPO),
      port: await freePort(),
      dbPath: path.join(workdir, 'rc.db'),
      env: { ROOMCAST_RATE_SEND_BURST: '1000', ROOMCAST_RATE_SEND_PER_MINUTE: '6000' },
    });
    await server.start();
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, timeout: 30_000 });
    people.alice = await person(browser, server.url, { username: 'alice', password: 'alice password 1' });
    people.bob = await person(browser, server.url, { username: 'bob', password: 'bob password 12' });
    const res = await people.alice.context.request.post('/api/rooms', { data: { name: 'features', capacity: 10 } });
    room = (await res.json()).id;
    assert.equal((await people.bob.context.request.put(`/api/rooms/${room}/members/me`)).status(), 201);
    await openRoom(people.alice.page, room);
    await openRoom(people.bob.page, room);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await server?.stop().catch((e) => console.error(e.message));
    if (workdir) rmSync(workdir, { recursive: true, force: true });
    clearTimeout(watchdog);
  });

  test('ArrowUp in the empty composer edits the last message; both sides show "(edited)"', { timeout: STEP_TIMEOUT_MS }, async () => {
    const a = people.alice.page;
    const b = people.bob.page;
    await send(a, 'Frist post');
    await waitForMessage(b, 'Frist post');
    const composer = a.getByLabel('Message', { exact: true });
    await composer.focus();
    await composer.press('ArrowUp');
    const editor = a.getByLabel('Edit message', { exact: true });
    await editor.waitFor();
    assert.equal(await editor.evaluate((e) => e === document.activeElement), true, 'the editor has the focus');
    assert.equal(await editor.inputValue(), 'Frist post');
    await editor.fill('First post');
    await editor.press('Enter');
    await waitForMessage(a, 'First post');
    await waitForMessage(b, 'First post');
    await message(b, 'First post').locator('.edited').filter({ hasText: '(edited)' }).waitFor();
    await message(a, 'First post').locator('.edited').waitFor();
    assert.equal(await composer.evaluate((e) => e === document.activeElement), true,
      `focus is back in the composer, not on ${await focused(a)}`);

    // Escape cancels without saving; text in the composer means ArrowUp moves the caret.
    await composer.press('ArrowUp');
    await editor.fill('not saved');
    await editor.press('Escape');
    await editor.waitFor({ state: 'detached' });
    await waitForMessage(a, 'First post');
    await composer.fill('draft');
    await composer.press('ArrowUp');
    assert.equal(await editor.count(), 0, 'ArrowUp with a draft does not edit');
    await composer.fill('');
  });

  test('the message menu works by keyboard: edit from it, and only the author may edit', { timeout: STEP_TIMEOUT_MS }, async () => {
    const a = people.alice.page;
    const b = people.bob.page;
    const menuButton = message(a, 'First post').getByRole('button', { name: 'Message actions' });
    await menuButton.focus();
    assert.equal(await menuButton.isVisible(), true, 'a focused action button is shown');
    const outline = await menuButton.evaluate((e) => getComputedStyle(e).outlineStyle);
    assert.notEqual(outline, 'none', 'the focused button shows a focus ring');
    await a.keyboard.press('Enter');
    const menu = a.getByRole('menu', { name: 'Message actions' });
    await menu.waitFor();
    assert.equal(await menuButton.getAttribute('aria-expanded'), 'true');
    assert.deepEqual(await menu.getByRole('menuitem').allTextContents(), ['Edit', 'Delete']);
    assert.equal(await menu.getByRole('menuitem', { name: 'Edit' }).evaluate((e) => e === document.activeElement), true);
    await a.keyboard.press('ArrowDown');
    assert.equal(await menu.getByRole('menuitem', { name: 'Delete' }).evaluate((e) => e === document.activeElement), true);
    await a.keyboard.press('Escape');
    await menu.waitFor({ state: 'detached' });
    assert.equal(await menuButton.evaluate((e) => e === document.activeElement), true, 'Escape returns focus to the button');

    await a.keyboard.press('Enter');
    await a.keyboard.press('Enter'); // "Edit", the first item
    const editor = a.getByLabel('Edit message', { exact: true });
    await editor.fill('First post, edited from the menu');
    await a.getByRole('button', { name: 'Save' }).click();
    await waitForMessage(b, 'First post, edited from the menu');

    // Bob is neither the author nor the owner: no menu on alice's message, but he can react.
    const theirs = message(b, 'First post, edited from the menu');
    assert.equal(await theirs.getByRole('button', { name: 'Message actions' }).count(), 0);
    assert.equal(await theirs.getByRole('button', { name: 'Add a reaction' }).count(), 1);
    // On his own message the menu offers Edit and Delete.
    await send(b, 'Bob was here');
    await waitForMessage(a, 'Bob was here');
    await message(b, 'Bob was here').getByRole('button', { name: 'Message actions' }).click();
    assert.deepEqual(await b.getByRole('menu').getByRole('menuitem').allTextContents(), ['Edit', 'Delete']);
    await b.keyboard.press('Escape');
    // The owner may delete bob's message, not edit it.
    await message(a, 'Bob was here').getByRole('button', { name: 'Message actions' }).click();
    assert.deepEqual(await a.getByRole('menu').getByRole('menuitem').allTextContents(), ['Delete']);
    await a.keyboard.press('Escape');
  });

  test('deleting asks first, then leaves a tombstone on both sides and after a reload', { timeout: STEP_TIMEOUT_MS }, async () => {
    const a = people.alice.page;
    const b = people.bob.page;
    await send(a, 'Delete me');
    await waitForMessage(b, 'Delete me');
    const mine = message(a, 'Delete me');
    await mine.getByRole('button', { name: 'Message actions' }).click();
    await a.getByRole('menuitem', { name: 'Delete' }).click();
    const confirm = mine.getByRole('group', { name: 'Confirm deletion' });
    await confirm.waitFor();
    assert.equal(await confirm.getByRole('button', { name: 'Cancel' }).evaluate((e) => e === document.activeElement), true,
      'the safe choice has the focus');
    await a.keyboard.press('Escape');
    await confirm.waitFor({ state: 'detached' });
    await sleep(300);
    assert.equal(await mine.count(), 1, 'Escape deleted nothing');

    await mine.getByRole('button', { name: 'Message actions' }).click();
    await a.getByRole('menuitem', { name: 'Delete' }).click();
    await confirm.getByRole('button', { name: 'Delete message' }).click();
    for (const page of [a, b]) {
      await page.locator('#messages li.msg.deleted .content').filter({ hasText: 'This message was deleted.' }).first().waitFor();
      assert.equal(await message(page, 'Delete me').count(), 0);
    }
    // The owner deletes bob's message: bob sees the tombstone too.
    await message(a, 'Bob was here').getByRole('button', { name: 'Message actions' }).click();
    await a.getByRole('menuitem', { name: 'Delete' }).click();
    await a.getByRole('button', { name: 'Delete message' }).click();
    await b.locator('#messages li.msg.deleted').nth(1).waitFor();
    assert.equal(await message(b, 'Bob was here').count(), 0);

    await b.reload();
    await waitForMessage(b, 'First post, edited from the menu');
    assert.equal(await b.locator('#messages li.msg.deleted').count(), 2, 'history keeps both tombstones');
    assert.equal(await message(b, 'First post, edited from the menu').locator('.edited').isVisible(), true);
    assert.equal(await b.locator('#messages li.msg.deleted .msg-actions').first().isHidden(), true);
  });

  test('reactions: a keyboard picker, counts that mark your own, toggling, after a reload too', { timeout: STEP_TIMEOUT_MS }, async () => {
    const a = people.alice.page;
    const b = people.bob.page;
    await b.locator('#conn').waitFor({ state: 'hidden' });
    const text = 'First post, edited from the menu';
    await message(b, text).getByRole('button', { name: 'Add a reaction' }).focus();
    await b.keyboard.press('Enter');
    const picker = b.getByRole('menu', { name: 'Pick a reaction' });
    await picker.waitFor();
    await b.keyboard.press('ArrowRight');
    assert.equal(await picker.getByRole('menuitem', { name: 'React with heart' }).evaluate((e) => e === document.activeElement), true);
    await b.keyboard.press('Enter');
    await picker.waitFor({ state: 'detached' });

    const chipAt = (page) => message(page, text).locator('.reaction');
    await chipAt(b).filter({ hasText: '1' }).waitFor();
    await chipAt(a).filter({ hasText: '1' }).waitFor();
    assert.equal(await chipAt(b).getAttribute('aria-pressed'), 'true', 'bob\'s own reaction is marked');
    assert.equal(await chipAt(a).getAttribute('aria-pressed'), 'false');
    assert.match(await chipAt(b).textContent(), /❤/);

    await chipAt(a).click(); // alice joins in
    await chipAt(b).filter({ hasText: '2' }).waitFor();
    await chipAt(a).filter({ hasText: '2' }).waitFor();
    assert.equal(await chipAt(a).getAttribute('aria-pressed'), 'true');
    assert.equal(await chipAt(a).evaluate((e) => e.classList.contains('mine')), true);

    await chipAt(b).focus(); // bob takes his back, by keyboard
    await b.keyboard.press('Enter');
    await chipAt(a).filter({ hasText: '1' }).waitFor();
    await chipAt(b).filter({ hasText: '1' }).waitFor();
    assert.equal(await chipAt(b).getAttribute('aria-pressed'), 'false');

    // A picker choice already chosen takes it back; a second emoji makes a second chip.
    await message(a, text).getByRole('button', { name: 'Add a reaction' }).click();
    await a.getByRole('menuitem', { name: 'React with party' }).click();
    await chipAt(b).nth(1).filter({ hasText: '1' }).waitFor();

    await a.reload();
    await waitForMessage(a, text);
    assert.equal(await chipAt(a).count(), 2);
    assert.deepEqual(await chipAt(a).evaluateAll((els) => els.map((e) => e.getAttribute('aria-pressed'))), ['true', 'true']);
    await message(a, text).getByRole('button', { name: 'Add a reaction' }).click();
    await a.getByRole('menuitem', { name: 'React with party' }).click();
    await chipAt(b).nth(1).waitFor({ state: 'detached' });
    assert.equal(await chipAt(a).count(), 1);
  });

  test('links are clickable anchors, only for http(s), and never markup', { timeout: STEP_TIMEOUT_MS }, async () => {
    const a = people.alice.page;
    const b = people.bob.page;
    const text = 'Docs: https://example.com/a_(b)?q=1&r=<2>, also http://example.org. '
      + 'Not javascript:alert(1) nor <a href="javascript:alert(2)">x</a> nor ftp://example.net';
    await send(a, text);
    await waitForMessage(b, text);
    const links = message(b, text).locator('a');
    assert.equal(await links.count(), 2);
    assert.deepEqual(await links.evaluateAll((els) => els.map((e) => [e.getAttribute('href'), e.textContent, e.rel, e.target])), [
      ['https://example.com/a_(b)?q=1&r=', 'https://example.com/a_(b)?q=1&r=', 'noopener noreferrer', '_blank'],
      ['http://example.org/', 'http://example.org', 'noopener noreferrer', '_blank'],
    ]);
    assert.equal(await message(b, text).locator('.content').textContent(), text, 'the text is unchanged');
    await links.first().focus();
    assert.notEqual(await links.first().evaluate((e) => getComputedStyle(e).outlineStyle), 'none');
  });

  test('scrolled up, a new message shows a pill; it scrolls down to the newest', { timeout: STEP_TIMEOUT_MS }, async () => {
    const alice = people.alice;
    const b = people.bob.page;
    for (let n = 1; n <= 30; n += 1) await post(alice.context, room, `filler ${n}`);
    await waitForMessage(b, 'filler 30');
    const pill = b.getByRole('button', { name: 'New messages' });
    assert.equal(await pill.isHidden(), true, 'at the bottom, new messages scroll into view: no pill');
    await b.locator('#scroller').evaluate((s) => { s.scrollTop = 0; });
    await post(alice.context, room, 'Arrived while bob read old messages');
    await pill.waitFor();
    assert.equal(await b.locator('#scroller').evaluate((s) => s.scrollHeight - s.scrollTop - s.clientHeight > 200), true,
      'the page did not jump down');
    await pill.focus();
    await b.keyboard.press('Enter');
    await pill.waitFor({ state: 'hidden' });
    assert.equal(await b.locator('#scroller').evaluate((s) => s.scrollHeight - s.scrollTop - s.clientHeight < 80), true);
    assert.equal(await b.getByLabel('Message', { exact: true }).evaluate((e) => e === document.activeElement), true);
    // Scrolling down by hand hides it too.
    await b.locator('#scroller').evaluate((s) => { s.scrollTop = 0; });
    await post(alice.context, room, 'Another one');
    await pill.waitFor();
    await b.locator('#scroller').evaluate((s) => { s.scrollTop = s.scrollHeight; });
    await pill.waitFor({ state: 'hidden' });
  });

  test('a mention notifies, once asked for with a button, only while the tab is hidden', { timeout: STEP_TIMEOUT_MS }, async () => {
    const alice = people.alice;
    const bob = await person(browser, server.url, {
      username: 'bob', password: 'bob password 12', register: false, init: stubNotificationsAndVisibility,
    });
    people['bob-notify'] = bob;
    const b = bob.page;
    await b.goto('/#/account');
    const toggle = b.getByRole('button', { name: 'Turn on mention notifications' });
    await toggle.waitFor();
    await openRoom(b, room);
    await b.evaluate(() => window.__setHidden(true));
    await post(alice.context, room, 'Hey @bob, before you asked');
    await waitForMessage(b, 'Hey @bob, before you asked');
    assert.equal(await b.evaluate(() => window.__asked), 0, 'no permission asked without the button');
    assert.deepEqual(await b.evaluate(() => window.__notes), []);

    await b.goto('/#/account');
    await toggle.click();
    await b.getByRole('button', { name: 'Turn off mention notifications' }).waitFor();
    await b.locator('#notify-state').filter({ hasText: 'On' }).waitFor();
    assert.equal(await b.evaluate(() => window.__asked), 1);

    await openRoom(b, room);
    await b.evaluate(() => window.__setHidden(true));
    await post(alice.context, room, 'Hey @bob, can you look at the release?');
    await post(alice.context, room, 'bob and @bobby and mail bob@example.com are not mentions');
    await waitForMessage(b, 'bob and @bobby and mail bob@example.com are not mentions');
    await b.evaluate(() => window.__setHidden(false));
    await post(alice.context, room, '@BOB while you look');
    await waitForMessage(b, '@BOB while you look');
    assert.deepEqual(await b.evaluate(() => window.__notes), [
      { title: 'alice mentioned you in features', body: 'Hey @bob, can you look at the release?' },
    ]);
    await bob.context.close();
  });

  test('after a reload, joins and leaves are in the timeline, in their places', { timeout: STEP_TIMEOUT_MS }, async () => {
    const alice = people.alice;
    const b = people.bob.page;
    const carol = await person(browser, server.url, { username: 'carol', password: 'carol password 1' });
    await post(alice.context, room, 'Before carol');
    assert.equal((await carol.context.request.put(`/api/rooms/${room}/members/me`)).status(), 201);
    await post(alice.context, room, 'While carol was here');
    assert.equal((await carol.context.request.delete(`/api/rooms/${room}/members/me`)).status(), 204);
    await post(alice.context, room, 'After carol');
    await carol.context.close();
    await b.reload();
    await waitForMessage(b, 'After carol');
    const order = await b.locator('#messages > li').evaluateAll((els) => els.slice(-5).map((e) => e.textContent.trim()
      .replace(/\s+/g, ' ')));
    assert.match(order[0], /Before carol/);
    assert.equal(order[1], 'carol joined the room');
    assert.match(order[2], /While carol was here/);
    assert.equal(order[3], 'carol left the room');
    assert.match(order[4], /After carol/);
  });

  test('typing shows at the others until the message comes; presence dots in the member list', { timeout: STEP_TIMEOUT_MS }, async () => {
    const a = people.alice.page;
    const b = people.bob.page;
    await openRoom(a, room);
    await openRoom(b, room);
    // The server takes one typing call per 3 s per user and room, and alice typed in this
    // room in the steps before: wait that out, or her first call here is a quiet no-op.
    await a.waitForTimeout(3_100);
    const calls = [];
    a.on('request', (r) => { if (r.url().endsWith('/typing')) calls.push(r.method()); });
    const input = a.getByLabel('Message', { exact: true });
    await input.pressSequentially('Typing a longer message', { delay: 20 });
    await b.locator('#typing').filter({ hasText: /^alice is typing…$/ }).waitFor();
    assert.equal(await a.locator('#typing').textContent(), '', 'nobody is told they are typing themselves');
    await input.press('Enter');
    await waitForMessage(b, 'Typing a longer message');
    await b.locator('#typing').filter({ hasText: /^$/ }).waitFor({ state: 'attached' });
    assert.equal(await b.locator('#typing').textContent(), '');
    assert.deepEqual(calls, ['POST'], 'one typing call for a burst of keys');

    await b.getByRole('button', { name: 'Members' }).click();
    const aliceRow = b.locator('#members-list li').filter({ hasText: 'alice' });
    await aliceRow.locator('.presence.online').waitFor();
    assert.equal(await aliceRow.locator('.presence-text').textContent(), 'online');
    await a.goto('/#/account'); // alice's socket on the room closes
    await aliceRow.locator('.presence:not(.online)').waitFor({ timeout: 15_000 });
    assert.equal(await aliceRow.locator('.presence-text').textContent(), 'offline');
    await openRoom(a, room);
    await aliceRow.locator('.presence.online').waitFor();
    await b.getByRole('button', { name: 'Close the member list' }).click();
  });

  test('the message list is one Tab stop; arrow keys move between messages', { timeout: STEP_TIMEOUT_MS }, async () => {
    const b = people.bob.page;
    await openRoom(b, room);
    const isNewest = () => b.evaluate(() => [...document.querySelectorAll('#messages li.msg[data-seq]')].pop() === document.activeElement);
    await b.getByLabel('Message', { exact: true }).focus();
    let presses = 0;
    while (!(await b.evaluate(() => document.activeElement?.matches('li.msg[data-seq]'))) && presses < 8) {
      await b.keyboard.press('Shift+Tab');
      presses += 1;
    }
    assert.ok(presses <= 4, `Shift+Tab from the composer reached a message after ${presses} presses`);
    assert.equal(await isNewest(), true, 'the newest message is the current one');
    await b.keyboard.press('Shift+Tab');
    assert.equal(await b.evaluate(() => Boolean(document.activeElement?.closest('#messages'))), false,
      `one more Shift+Tab leaves the list, not the next message: ${await focused(b)}`);

    await b.locator('#messages li.msg[tabindex="0"]').focus();
    await b.keyboard.press('ArrowUp');
    const previous = await b.evaluate(() => {
      const all = [...document.querySelectorAll('#messages li.msg[data-seq]')];
      return all.indexOf(document.activeElement) === all.length - 2;
    });
    assert.equal(previous, true, `ArrowUp moved to the message before: ${await focused(b)}`);
    await b.keyboard.press('Tab');
    assert.equal(await b.evaluate(() => document.activeElement?.closest('li.msg')
      === [...document.querySelectorAll('#messages li.msg[data-seq]')].at(-2)), true,
    `Tab goes into the current message's controls: ${await focused(b)}`);
    await b.keyboard.press('Shift+Tab');
    await b.keyboard.press('End');
    assert.equal(await isNewest(), true, 'End goes to the newest');
  });

  test('unread counts in the room list; a "New messages" line where bob stopped reading', { timeout: STEP_TIMEOUT_MS }, async () => {
    const alice = people.alice;
    const b = people.bob.page;
    await openRoom(b, room);
    await sleep(1500); // the read marker is saved after a second in view
    await b.goto('/#/account'); // bob is elsewhere: nothing more is read
    await post(alice.context, room, 'Unread one');
    await post(alice.context, room, 'Unread two');
    await b.getByRole('button', { name: 'Refresh the room list' }).click();
    const item = b.locator('li.room').filter({ hasText: 'features' });
    await item.locator('.unread').filter({ hasText: /^2$/ }).waitFor();
    assert.match(await item.locator('.room-open').textContent(), /2 unread/);
    await item.locator('.room-open').click();
    await b.locator('#conn').waitFor({ state: 'hidden' });
    const order = await b.locator('#messages > li').evaluateAll((els) => els.slice(-3).map((e) => e.textContent.trim()
      .replace(/\s+/g, ' ')));
    assert.equal(order[0], 'New messages');
    assert.match(order[1], /Unread one/);
    assert.match(order[2], /Unread two/);
    await item.locator('.unread').waitFor({ state: 'hidden' });
    await sleep(1500);
    const listed = await (await people.bob.context.request.get('/api/rooms')).json();
    assert.equal(listed.rooms.find((r) => r.id === room).unread, 0, 'read once seen');
  });

  test('the room list updates live: a room joined in another tab, its unread count, its deletion', { timeout: STEP_TIMEOUT_MS }, async () => {
    const alice = people.alice;
    const bob = people.bob;
    const b = bob.page;
    await b.goto('/#/account');
    await b.locator('#account-view').waitFor();
    const other = await (await alice.context.request.post('/api/rooms', { data: { name: 'live-list', capacity: 5 } })).json();
    await sleep(500);
    // Another tab of bob's joins: this page hears it at once (the list's own refresh is every 10 s).
    assert.equal((await bob.context.request.put(`/api/rooms/${other.id}/members/me`)).status(), 201);
    const item = b.locator('li.room').filter({ has: b.locator('.room-name', { hasText: /^live-list$/ }) });
    await item.locator('.room-info').filter({ hasText: 'joined' }).waitFor({ timeout: 4_000 });
    // A message there: its unread count comes without a refresh.
    await post(alice.context, other.id, 'Something new in live-list');
    await item.locator('.unread').filter({ hasText: /^1$/ }).waitFor({ timeout: 4_000 });
    // Removed elsewhere (alice deletes the room): gone here too.
    assert.equal((await alice.context.request.delete(`/api/rooms/${other.id}`)).status(), 204);
    await item.waitFor({ state: 'detached', timeout: 4_000 });
  });

  test('nothing tripped the content security policy, threw or opened a dialog', () => {
    for (const [name, user] of Object.entries(people)) {
      assert.deepEqual(user.problems, [], `${name}: ${user.problems.join('\n')}`);
      assert.deepEqual(user.dialogs, [], `${name} saw a dialog`);
    }
  });
});
