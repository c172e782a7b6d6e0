// WCAG AA for every text colour on the background it is drawn on: the real page, in the
// states a user sees (login error, room list, chat with avatars, notices, alerts, a failed
// send, the delete confirmation, the skip link), in the light and the dark scheme. Colours are
// read from the browser (computed styles, composited through translucent backgrounds and
// opacity), so what is measured is what is shown, not what the stylesheet meant.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { RoomcastServer, freePort, serverBinary } from './support/server.js';
import { CHROMIUM_ARGS, serveWebFromDisk } from './support/users.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const AA = 4.5;
const STEP_TIMEOUT_MS = 60_000;

let server;
let browser;
let workdir;

/**
 * Runs in the page: every visible element that draws text (a non-blank text node of its own,
 * or an input's value), its colour and the colour below it, and their contrast ratio.
 * Disabled controls are exempt (WCAG 1.4.3 excludes inactive components).
 */
function measure() {
  const parse = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) throw new Error(`unexpected colour ${c}`);
    const [r, g, b, a = 1] = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
    return { r, g, b, a };
  };
  const over = (top, below) => ({
    r: top.r * top.a + below.r * (1 - top.a),
    g: top.g * top.a + below.g * (1 - top.a),
    b: top.b * top.a + below.b * (1 - top.a),
    a: 1,
  });
  const luminance = ({ r, g, b }) => {
    const lin = (v) => { const c = v / 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  };
  const ratio = (x, y) => {
    const [hi, lo] = [luminance(x), luminance(y)].sort((p, q) => q - p);
    return (hi + 0.05) / (lo + 0.05);
  };
  const canvas = matchMedia('(prefers-color-scheme: dark)').matches
    ? { r: 18, g: 18, b: 18, a: 1 } : { r: 255, g: 255, b: 255, a: 1 };
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const bg = parse(getComputedStyle(e).backgroundColor);
      if (bg.a > 0) layers.push(bg);
      if (bg.a >= 1) break;
    }
    let colour = canvas;
    for (const layer of layers.reverse()) colour = over(layer, colour);
    return colour;
  };
  const opacity = (el) => {
    let o = 1;
    for (let e = el; e; e = e.parentElement) o *= Number(getComputedStyle(e).opacity);
    return o;
  };
  const drawsText = (el) => (el.matches('input:not([type=hidden]), textarea') && el.value)
    || [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (!drawsText(el) || el.closest(':disabled') || el.closest('template')) continue;
    const rect = el.getBoundingClientRect();
    if (!el.checkVisibility({ visibilityProperty: true }) || rect.width === 0 || rect.height === 0) continue;
    // Fully transparent text is not drawn (a message's actions until hover or focus): it is
    // measured in the states that show it.
    if (opacity(el) === 0) continue;
    const bg = background(el);
    const fg = parse(getComputedStyle(el).color);
    const shown = over({ ...fg, a: fg.a * opacity(el) }, bg);
    const text = (el.value || el.textContent).trim().slice(0, 40);
    const name = `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${[...el.classList].map((c) => `.${c}`).join('')}`;
    out.push({ name, text, ratio: Math.round(ratio(shown, bg) * 100) / 100 });
  }
  return out;
}

/** Runs in the page: the worst hue of the avatar palette (white initial on hsl(hue …)). */
function worstAvatar() {
  const avatar = document.querySelector('#messages .avatar');
  const saved = avatar.style.getPropertyValue('--hue');
  const lin = (v) => { const c = v / 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  const lum = (s) => {
    const [r, g, b] = s.match(/[\d.]+/g).map(Number);
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  };
  let worst = { hue: -1, ratio: Infinity };
  for (let hue = 0; hue < 360; hue += 1) {
    avatar.style.setProperty('--hue', hue);
    const style = getComputedStyle(avatar);
    const [a, b] = [lum(style.color), lum(style.backgroundColor)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    if (ratio < worst.ratio) worst = { hue, ratio: Math.round(ratio * 100) / 100 };
  }
  avatar.style.setProperty('--hue', saved);
  return worst;
}

const roomSeats = (page, name) => page.locator('li.room')
  .filter({ has: page.locator('.room-name', { hasText: new RegExp(`^${name}$`) }) }).locator('.seats');

describe('colour contrast', { timeout: 170_000 }, () => {
  test('the server and the browser start', { timeout: STEP_TIMEOUT_MS }, async () => {
    workdir = mkdtempSync(path.join(tmpdir(), 'roomcast-contrast-'));
    server = new RoomcastServer({
      bin: serverBinary(REPO),
      port: await freePort(),
      dbPath: path.join(workdir, 'rc.db'),
      env: { ROOMCAST_RATE_SEND_BURST: '1000' },
    });
    await server.start();
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, timeout: 30_000 });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await server?.stop().catch((e) => console.error(e.message));
    if (workdir) rmSync(workdir, { recursive: true, force: true });
  });

  for (const scheme of ['light', 'dark']) {
    test(`every text colour pair reaches ${AA}:1 (${scheme})`, { timeout: STEP_TIMEOUT_MS }, async () => {
      const context = await browser.newContext({ colorScheme: scheme, baseURL: server.url, viewport: { width: 1280, height: 800 } });
      context.setDefaultTimeout(10_000);
      await serveWebFromDisk(context);
      const page = await context.newPage();
      const seen = [];
      const check = async (state) => {
        // Buttons fade their colours in 0.12 s: measure what settles, not a frame mid-fade
        // (CI once caught "Click again to delete" half-way, at 4.2:1; settled it is 5.4:1).
        // A transition cut short (the element changed again) rejects its `finished`: that is settled too.
        await page.evaluate(() => Promise.all(document.getAnimations().map((a) => a.finished.catch(() => {}))));
        for (const m of await page.evaluate(measure)) seen.push({ ...m, state });
      };

      // Signed out, with an error under the form; the skip link, focused.
      const name = `contrast_${scheme}`;
      await page.goto('/');
      await page.getByRole('button', { name: 'Create an account' }).click();
      await page.getByLabel('Username', { exact: true }).fill(name);
      await page.getByLabel('Password', { exact: true }).fill('short');
      await page.locator('#auth-submit').click();
      await page.locator('#auth-error').filter({ hasText: 'at least 8' }).waitFor();
      await check('login error');
      await page.getByRole('link', { name: 'Skip to content' }).focus();
      await check('skip link');

      await page.getByLabel('Password', { exact: true }).fill('a long enough password');
      await page.locator('#auth-submit').click();
      await page.locator('#me-name').filter({ hasText: name }).waitFor();

      // Rooms: one joined and open, one full (another user's), one left behind with a notice.
      const other = await browser.newContext({ baseURL: server.url });
      const creds = { username: `${name}_other`, password: 'another long password' };
      await other.request.post('/api/accounts', { data: creds });
      await other.request.post('/api/session', { data: creds });
      await other.request.post('/api/rooms', { data: { name: `full-${scheme}`, capacity: 1 } });
      const shared = await (await other.request.post('/api/rooms', { data: { name: `shared-${scheme}`, capacity: 9 } })).json();
      await page.getByLabel('Name', { exact: true }).fill(`mine-${scheme}`);
      await page.getByLabel('Seats', { exact: true }).fill('5');
      await page.getByRole('button', { name: 'Create room' }).click();
      await page.locator('#chat-title').filter({ hasText: `mine-${scheme}` }).waitFor();
      await page.locator('#conn').waitFor({ state: 'hidden' });
      await page.getByLabel('Message', { exact: true }).fill('Hello from the owner.');
      await page.getByLabel('Message', { exact: true }).press('Enter');
      await page.locator('#messages li.msg[data-seq]').first().waitFor();
      // A refused send: the failed item and the alert.
      await page.route('**/api/rooms/*/messages', (route) => (route.request().method() === 'POST'
        ? route.fulfill({ status: 403, contentType: 'application/problem+json', body: JSON.stringify({ type: 'not-a-member', title: 'Not a member', status: 403, detail: 'no' }) })
        : route.fallback()));
      await page.getByLabel('Message', { exact: true }).fill('Refused.');
      await page.getByLabel('Message', { exact: true }).press('Enter');
      await page.getByRole('alert').filter({ hasText: 'not sent' }).waitFor();
      await page.unrouteAll();
      // The delete button asking for its second click.
      await page.locator('#chat-delete').click();
      await page.locator('#chat-delete').filter({ hasText: 'Click again' }).waitFor();
      await page.getByRole('button', { name: 'Refresh the room list' }).click();
      await roomSeats(page, `full-${scheme}`).filter({ hasText: '1/1' }).waitFor();
      await check('chat, alert, failed send, delete confirmation, full room');

      const avatar = await page.evaluate(worstAvatar);
      assert.ok(avatar.ratio >= AA, `avatar initial at hue ${avatar.hue}: ${avatar.ratio}:1`);

      // A notice (role=status), after joining and leaving the other user's room.
      await page.getByRole('button', { name: `Join shared-${scheme}` }).click();
      await page.locator('#chat-title').filter({ hasText: `shared-${scheme}` }).waitFor();
      await page.getByRole('button', { name: 'Leave' }).click();
      await page.locator('#notice').filter({ hasText: 'You left' }).waitFor();
      await check('notice');
      assert.ok(shared.id > 0);

      // The open room's message features: a link, reactions (one ours), "(edited)", a tombstone,
      // the delete confirmation, the message menu, the reaction picker, the pill, the members.
      await page.locator('li.room .room-open', { hasText: `mine-${scheme}` }).click();
      await page.locator('#conn').waitFor({ state: 'hidden' });
      const mineId = Number(new URL(page.url()).hash.split('/').pop());
      await other.request.put(`/api/rooms/${mineId}/members/me`);
      const say = async (content) => (await other.request.post(`/api/rooms/${mineId}/messages`, { data: { content } })).json();
      const theirs = await say('The notes are at https://example.com/notes.');
      for (let n = 1; n <= 25; n += 1) await say(`filler ${n}`);
      const last = await say('Last one.');
      await other.request.put(`/api/rooms/${mineId}/messages/${last.id}/reactions/${encodeURIComponent('👍')}`);
      const lastEl = page.locator('#messages li.msg[data-seq]').filter({ hasText: 'Last one.' });
      await lastEl.locator('.reaction').waitFor();
      await lastEl.getByRole('button', { name: 'Add a reaction' }).click();
      await page.getByRole('menuitem', { name: 'React with party' }).click();
      await lastEl.locator('.reaction.mine').waitFor();
      await page.getByLabel('Message', { exact: true }).fill('To be deleted.');
      await page.getByLabel('Message', { exact: true }).press('Enter');
      const doomed = page.locator('#messages li.msg[data-seq]').filter({ hasText: 'To be deleted.' });
      await doomed.getByRole('button', { name: 'Message actions' }).click();
      await page.getByRole('menuitem', { name: 'Delete' }).click();
      await page.getByRole('button', { name: 'Delete message' }).click();
      await page.locator('#messages li.msg.deleted').waitFor();
      await page.getByLabel('Message', { exact: true }).fill('Edit me.');
      await page.getByLabel('Message', { exact: true }).press('Enter');
      await page.locator('#messages li.msg[data-seq]').filter({ hasText: 'Edit me.' }).waitFor();
      await page.getByLabel('Message', { exact: true }).press('ArrowUp');
      await page.getByLabel('Edit message').fill('Edited.');
      await page.getByLabel('Edit message').press('Enter');
      await page.locator('#messages .edited').filter({ visible: true }).first().waitFor();
      await lastEl.getByRole('button', { name: 'Add a reaction' }).focus();
      await check('reactions, edited, tombstone, focused actions');
      await lastEl.getByRole('button', { name: 'Add a reaction' }).click();
      await check('reaction picker');
      await page.keyboard.press('Escape');
      const own = page.locator('#messages li.msg[data-seq]').filter({ hasText: 'Edited.' });
      await own.getByRole('button', { name: 'Message actions' }).click();
      await check('message menu');
      await page.getByRole('menuitem', { name: 'Delete' }).click();
      await own.getByRole('group', { name: 'Confirm deletion' }).waitFor();
      await check('delete confirmation');
      await own.getByRole('button', { name: 'Cancel' }).click();
      await page.locator('#scroller').evaluate((el) => { el.scrollTop = 0; });
      await say('A new one while scrolled up.');
      await page.getByRole('button', { name: 'New messages' }).waitFor();
      await page.getByRole('button', { name: 'Members' }).click();
      await page.locator('#members-list li').nth(1).waitFor();
      await check('pill, members with a ban button');
      await page.locator('#scroller').evaluate((el) => { el.scrollTop = el.scrollHeight; });
      const link = page.locator('#messages a', { hasText: 'https://example.com/notes' });
      await link.scrollIntoViewIfNeeded();
      await check('a link');
      assert.ok(theirs.id > 0);

      // The account page, with an error and with the notification switch.
      await page.getByRole('link', { name: 'Account' }).click();
      await page.getByLabel('Current password', { exact: true }).fill('wrong password');
      await page.getByLabel('New password', { exact: true }).fill('a new long password');
      await page.getByLabel('Repeat the new password', { exact: true }).fill('a new long password');
      await page.getByRole('button', { name: 'Change password' }).click();
      await page.locator('#pw-error').filter({ hasText: 'wrong' }).waitFor();
      await check('account page with an error');

      // The admin page, as the server's first account (contrast_light, an admin).
      const admin = await browser.newContext({ colorScheme: scheme, baseURL: server.url, viewport: { width: 1280, height: 800 } });
      admin.setDefaultTimeout(10_000);
      await serveWebFromDisk(admin);
      await admin.request.post('/api/session', { data: { username: 'contrast_light', password: 'a long enough password' } });
      const adminPage = await admin.newPage();
      await adminPage.goto('/#/admin');
      await adminPage.getByRole('button', { name: 'Disable contrast_light_other' }).click();
      await adminPage.getByRole('button', { name: 'Enable contrast_light_other' }).waitFor();
      await adminPage.getByRole('button', { name: 'Create invite' }).click();
      await adminPage.locator('#invites-list li').first().waitFor();
      for (const m of await adminPage.evaluate(measure)) seen.push({ ...m, state: 'admin page' });
      await adminPage.getByRole('button', { name: 'Enable contrast_light_other' }).click();
      await admin.close();

      const failing = seen.filter((m) => m.ratio < AA);
      assert.ok(seen.length > 30, `only ${seen.length} text elements measured`);
      for (const expected of ['avatar', 'alert-text', 'seats', 'skip-link', 'form-error', 'notice', 'reaction',
        'edited', 'pill', 'confirm-text', 'popup-item', 'tag', 'navlink', 'invite-text']) {
        assert.ok(seen.some((m) => m.name.includes(expected)), `${expected} was not measured`);
      }
      assert.deepEqual(failing, [], `below ${AA}:1 in the ${scheme} scheme`);
      await other.close();
      await context.close();
    });
  }
});
