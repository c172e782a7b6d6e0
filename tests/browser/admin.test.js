// Moderation and accounts in the browser (the real server, Debian's Chromium): the member
// list with its ban action for the owner, the password change form, and the admin page
// (accounts disabled and enabled, registration invites made, listed and revoked), which only
// admins see. The steps build on each other.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, request } from 'playwright-core';

import { RoomcastServer, freePort, serverBinary } from './support/server.js';
import { CHROMIUM_ARGS, focused, openRoom, person } from './support/users.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const STEP_TIMEOUT_MS = 45_000;
const WHOLE_RUN_MS = 170_000;

let server;
let browser;
let workdir;
let room;
const people = {};

const watchdog = setTimeout(() => {
  console.error('admin test: whole run exceeded its time limit');
  server?.child?.kill('SIGKILL');
  process.exit(1);
}, WHOLE_RUN_MS);
watchdog.unref();

const member = (page, name) => page.locator('#members-list li')
  .filter({ has: page.locator('.member-name', { hasText: new RegExp(`^${name}$`) }) });

describe('members, bans, passwords and the admin page in the browser', { timeout: WHOLE_RUN_MS }, () => {
  test('the server and the browser start; alice (the first account: an admin) and bob', { timeout: STEP_TIMEOUT_MS }, async () => {
    workdir = mkdtempSync(path.join(tmpdir(), 'roomcast-admin-'));
    server = new RoomcastServer({
      bin: serverBinary(REPO),
      port: await freePort(),
      dbPath: path.join(workdir, 'rc.db'),
      env: { ROOMCAST_RATE_LOGIN_USER_BURST: '100' },
    });
    await server.start();
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, timeout: 30_000 });
    people.alice = await person(browser, server.url, { username: 'alice', password: 'alice password 1' });
    people.bob = await person(browser, server.url, { username: 'bob', password: 'bob password 12' });
    const res = await people.alice.context.request.post('/api/rooms', { data: { name: 'moderated', capacity: 10 } });
    room = (await res.json()).id;
    assert.equal((await people.bob.context.request.put(`/api/rooms/${room}/members/me`)).status(), 201);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await server?.stop().catch((e) => console.error(e.message));
    if (workdir) rmSync(workdir, { recursive: true, force: true });
    clearTimeout(watchdog);
  });

  test('the member list: the owner can ban (two clicks), a member cannot; a ban can be lifted', { timeout: STEP_TIMEOUT_MS }, async () => {
    const a = people.alice.page;
    const b = people.bob.page;
    await openRoom(a, room);
    await openRoom(b, room);

    await b.getByRole('button', { name: 'Members' }).click();
    await member(b, 'alice').filter({ hasText: 'owner' }).waitFor();
    await member(b, 'bob').filter({ hasText: 'you' }).waitFor();
    // Names are buttons (they open a DM); no ban or lift action is offered to a member.
    assert.equal(await b.locator('#members-list').getByRole('button', { name: /^(Ban|Lift)/ }).count(), 0, 'bob may not ban');
    assert.equal(await b.locator('#members-list').getByRole('button', { name: 'Message alice directly' }).count(), 1);
    await b.getByRole('button', { name: 'Close the member list' }).click();
    await b.locator('#members-panel').waitFor({ state: 'hidden' });
    assert.equal(await b.getByRole('button', { name: 'Members' }).evaluate((e) => e === document.activeElement), true);

    const toggle = a.getByRole('button', { name: 'Members' });
    await toggle.focus();
    await a.keyboard.press('Enter');
    assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
    const ban = member(a, 'bob').getByRole('button', { name: 'Ban bob' });
    await ban.waitFor();
    assert.equal(await member(a, 'alice').getByRole('button').count(), 0, 'the owner cannot be banned');
    await ban.focus();
    await a.keyboard.press('Enter');
    await ban.filter({ hasText: 'Click again to ban' }).waitFor();
    await a.keyboard.press('Enter');
    await a.locator('#members-status').filter({ hasText: 'bob is banned from this room.' }).waitFor();
    await member(a, 'bob').waitFor({ state: 'detached' });
    // Bob's socket closed 4003: he is sent back to the list, and may not join again.
    await b.locator('#notice').filter({ hasText: 'You are no longer a member of “moderated”.' }).waitFor();
    const join = await people.bob.context.request.put(`/api/rooms/${room}/members/me`);
    assert.equal(join.status(), 403);
    assert.equal((await join.json()).type, 'banned');
    await a.locator('#messages .notice-item').filter({ hasText: 'bob left the room' }).waitFor();

    const lift = a.getByRole('button', { name: 'Lift the ban' });
    assert.equal(await lift.evaluate((e) => e === document.activeElement), true, `focus on ${await focused(a)}`);
    await lift.click();
    await a.locator('#members-status').filter({ hasText: 'The ban on bob is lifted' }).waitFor();
    assert.equal((await people.bob.context.request.put(`/api/rooms/${room}/members/me`)).status(), 201);
    await member(a, 'bob').waitFor();
  });

  test('the password form: wrong current password, a mismatch, then a change that works', { timeout: STEP_TIMEOUT_MS }, async () => {
    const bob = people.bob;
    const b = bob.page;
    await b.getByRole('link', { name: 'Account' }).click();
    await b.getByRole('heading', { name: 'Account' }).waitFor();
    assert.equal(await b.getByRole('link', { name: 'Admin' }).count(), 0, 'bob is not an admin: no Admin link');
    const current = b.getByLabel('Current password', { exact: true });
    const fresh = b.getByLabel('New password', { exact: true });
    const repeat = b.getByLabel('Repeat the new password', { exact: true });
    const submit = b.getByRole('button', { name: 'Change password' });

    await current.fill('not my password');
    await fresh.fill('bob password 34');
    await repeat.fill('bob password 34');
    await submit.click();
    await b.locator('#pw-error').filter({ hasText: 'The current password is wrong.' }).waitFor();

    await current.fill(bob.password);
    await repeat.fill('bob password 35');
    await submit.click();
    await b.locator('#pw-error').filter({ hasText: 'The new passwords do not match.' }).waitFor();

    await repeat.fill('bob password 34');
    await repeat.press('Enter');
    await b.locator('#pw-done').filter({ hasText: 'Password changed.' }).waitFor();
    assert.equal(await current.inputValue(), '', 'the form is cleared');
    await b.locator('#me-name').filter({ hasText: 'bob' }).waitFor(); // this session stays
    const api = await request.newContext({ baseURL: server.url });
    assert.equal((await api.post('/api/session', { data: { username: 'bob', password: 'bob password 12' } })).status(), 401);
    assert.equal((await api.post('/api/session', { data: { username: 'bob', password: 'bob password 34' } })).status(), 200);
    await api.dispose();
    bob.password = 'bob password 34';

    // #/admin is only for admins: bob gets the placeholder.
    await b.goto('/#/admin');
    await b.locator('#chat-placeholder').waitFor();
    assert.equal(await b.locator('#admin-view').isHidden(), true);
  });

  test('the admin page: disable and enable an account; invites made, listed and revoked', { timeout: STEP_TIMEOUT_MS }, async () => {
    const a = people.alice.page;
    const b = people.bob.page;
    await openRoom(b, room);
    await a.getByRole('link', { name: 'Admin' }).click();
    await a.getByRole('heading', { name: 'Admin' }).waitFor();
    const row = (name) => a.locator('#users-list li')
      .filter({ has: a.locator('.member-name', { hasText: new RegExp(`^${name}$`) }) });
    await row('alice').filter({ hasText: 'admin' }).waitFor();
    assert.equal(await row('alice').getByRole('button').count(), 0, 'no disabling yourself');

    await row('bob').getByRole('button', { name: 'Disable bob' }).click();
    await row('bob').filter({ hasText: 'disabled' }).waitFor();
    // Bob's sessions end: his page goes back to the login form.
    await b.locator('#auth-error').filter({ hasText: 'Your session ended' }).waitFor();
    const enable = row('bob').getByRole('button', { name: 'Enable bob' });
    assert.equal(await enable.evaluate((e) => e === document.activeElement), true, `focus on ${await focused(a)}`);
    await enable.click();
    await row('bob').getByRole('button', { name: 'Disable bob' }).waitFor();
    await b.getByLabel('Username', { exact: true }).fill('bob');
    await b.getByLabel('Password', { exact: true }).fill(people.bob.password);
    await b.locator('#auth-submit').click();
    await b.locator('#me-name').filter({ hasText: 'bob' }).waitFor();

    await a.getByLabel('Uses', { exact: true }).fill('3');
    await a.getByLabel('Expires in (days)', { exact: true }).fill('2');
    await a.getByRole('button', { name: 'Create invite' }).click();
    const code = a.getByLabel('New invite code (shown only now)');
    await code.waitFor();
    const value = await code.inputValue();
    assert.ok(value.length >= 8, `an invite code: ${value}`);
    const invites = a.locator('#invites-list li');
    await invites.filter({ hasText: '3 uses left' }).filter({ hasText: 'by alice' }).waitFor();
    await a.getByLabel('Uses', { exact: true }).fill('1001');
    await a.getByRole('button', { name: 'Create invite' }).click();
    await a.locator('#invite-error').filter({ hasText: 'Uses must be a whole number from 1 to 1,000.' }).waitFor();
    assert.equal(await invites.count(), 1);

    await invites.first().getByRole('button', { name: /^Revoke invite \d+$/ }).click();
    await a.locator('#invites-empty').waitFor();
    assert.equal(await invites.count(), 0);
    const listed = await (await people.alice.context.request.get('/api/invites')).json();
    assert.deepEqual(listed.invites, []);
  });

  test('a private room: made with the checkbox, marked private, invisible to others', { timeout: STEP_TIMEOUT_MS }, async () => {
    const a = people.alice.page;
    const b = people.bob.page;
    await openRoom(a, room);
    await a.getByLabel('Name', { exact: true }).fill('secret-plans');
    const check = a.getByRole('checkbox', { name: 'Private' });
    await check.focus();
    await a.keyboard.press('Space');
    assert.equal(await check.isChecked(), true);
    await a.getByRole('button', { name: 'Create room' }).click();
    await a.locator('#chat-title').filter({ hasText: 'secret-plans' }).waitFor();
    await a.locator('#chat-meta').filter({ hasText: /^private · 1\/50 seats · your room$/ }).waitFor();
    const item = a.locator('li.room').filter({ hasText: 'secret-plans' });
    await item.locator('.room-info').filter({ hasText: 'private · your room' }).waitFor();
    assert.equal(await check.isChecked(), false, 'the form is reset');
    const id = Number(new URL(a.url()).hash.split('/').pop());
    const shown = await people.alice.context.request.get(`/api/rooms/${id}`);
    assert.equal((await shown.json()).visibility, 'private');

    await b.getByRole('button', { name: 'Refresh the room list' }).click();
    await b.locator('li.room').filter({ hasText: 'moderated' }).waitFor();
    assert.equal(await b.locator('li.room').filter({ hasText: 'secret-plans' }).count(), 0);
    // A public room says nothing about its kind.
    await b.locator('li.room').filter({ hasText: 'moderated' }).locator('.room-info')
      .filter({ hasText: /^by alice · joined$/ }).waitFor();
  });

  test('an invite link to a private room lets bob in', { timeout: STEP_TIMEOUT_MS }, async () => {
    const a = people.alice.page;
    const b = people.bob.page;
    await a.locator('#chat-title').filter({ hasText: 'secret-plans' }).waitFor();
    const id = Number(new URL(a.url()).hash.split('/').pop());
    await a.getByRole('button', { name: 'Members' }).click();
    await a.getByRole('button', { name: 'Invite link' }).click();
    const link = a.getByLabel('Invite link (anyone with it can join)');
    await link.waitFor();
    const url = await link.inputValue();
    assert.match(url, new RegExp(`^${server.url}/#/invite/[^/]+$`));
    assert.equal(await link.evaluate((e) => e === document.activeElement), true, 'the link is focused, selected');

    await b.goto(url);
    await b.locator('#chat-title').filter({ hasText: 'secret-plans' }).waitFor();
    await b.locator('#conn').waitFor({ state: 'hidden' });
    assert.ok(b.url().endsWith(`#/rooms/${id}`), b.url());
    await a.locator('#messages .notice-item').filter({ hasText: 'bob joined the room' }).waitFor();
    await b.goto(url); // again: already a member, still fine
    await b.locator('#chat-title').filter({ hasText: 'secret-plans' }).waitFor();
    await b.goto(`${server.url}/#/invite/not-a-real-code`);
    await b.getByRole('alert').filter({ hasText: 'Could not accept the invite' }).waitFor();

    // Bob is not the owner: no invite links for him.
    await b.goto(`/#/rooms/${id}`);
    await b.locator('#conn').waitFor({ state: 'hidden' });
    await b.getByRole('button', { name: 'Members' }).click();
    await b.locator('#members-list li').nth(1).waitFor();
    assert.equal(await b.getByRole('button', { name: 'Invite link' }).isHidden(), true);
  });

  test('a member\'s name opens a direct message with them', { timeout: STEP_TIMEOUT_MS }, async () => {
    const a = people.alice.page;
    const b = people.bob.page;
    await b.locator('#members-list li').nth(1).waitFor();
    await b.getByRole('button', { name: 'Message alice directly' }).click();
    await b.locator('#chat-title').filter({ hasText: /^alice$/ }).waitFor();
    await b.locator('#chat-meta').filter({ hasText: /^direct message$/ }).waitFor();
    assert.equal(await b.locator('#chat-leave').isHidden(), true, 'nobody leaves a DM');
    await b.locator('li.room .room-info').filter({ hasText: 'direct message' }).waitFor();
    await b.locator('#conn').waitFor({ state: 'hidden' });
    await b.getByLabel('Message', { exact: true }).fill('Just between us.');
    await b.getByLabel('Message', { exact: true }).press('Enter');
    await a.getByRole('button', { name: 'Refresh the room list' }).click();
    await a.locator('li.room').filter({ has: a.locator('.room-name', { hasText: /^bob$/ }) }).locator('.room-open').click();
    await a.locator('#messages li.msg[data-seq]').filter({ hasText: 'Just between us.' }).waitFor();
  });


  test('nothing tripped the content security policy, threw or opened a dialog', () => {
    for (const [name, user] of Object.entries(people)) {
      assert.deepEqual(user.problems, [], `${name}: ${user.problems.join('\n')}`);
      assert.deepEqual(user.dialogs, [], `${name} saw a dialog`);
    }
  });
});
