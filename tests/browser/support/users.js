// Shared by the browser tests that came after chat.test.js: people made through the API (a
// browser context whose cookie jar the page shares), and the waits those tests use.

import assert from 'node:assert/strict';

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
  '--no-first-run', '--disable-component-update', '--disable-sync',
  // A page fulfilled by the test (ROOMCAST_WEB_FROM_DISK) has no address: Chromium would
  // refuse its socket to 127.0.0.1 as a public page reaching a local one.
  ...(process.env.ROOMCAST_WEB_FROM_DISK === '1' ? ['--disable-features=LocalNetworkAccessChecks,PrivateNetworkAccessRespectPreflightResults,BlockInsecurePrivateNetworkRequests'] : []),
];
export const LAPTOP = { width: 1280, height: 800 };
export const UI_TIMEOUT_MS = 10_000;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A browser context for one person, recording what must never happen (dialogs, CSP
 * refusals, page errors). `register`: make the account first; either way it logs in.
 */
export async function person(browser, baseURL, { username, password, register = true, viewport = LAPTOP, init }) {
  const context = await browser.newContext({ viewport, baseURL });
  context.setDefaultTimeout(UI_TIMEOUT_MS);
  if (init) await context.addInitScript(init);
  await serveWebFromDisk(context);
  if (register) {
    const res = await context.request.post('/api/accounts', { data: { username, password } });
    assert.equal(res.status(), 201, `register ${username}: ${await res.text()}`);
  }
  const login = await context.request.post('/api/session', { data: { username, password } });
  assert.equal(login.status(), 200, `log in ${username}: ${await login.text()}`);
  const page = await context.newPage();
  const user = { username, password, context, page, dialogs: [], problems: [] };
  page.on('dialog', (d) => {
    user.dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  page.on('pageerror', (e) => user.problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) user.problems.push(`console: ${m.text()}`);
  });
  return user;
}

/**
 * While working on web/: the page's three files from the working tree, with the server's own
 * headers (CSP included), so a change needs no rebuild of the binary. Never set in CI.
 */
export async function serveWebFromDisk(context) {
  if (process.env.ROOMCAST_WEB_FROM_DISK !== '1') return;
  const { readFileSync } = await import('node:fs');
  const web = new URL('../../../web/', import.meta.url);
  const files = { '/': 'index.html', '/app.js': 'app.js', '/style.css': 'style.css' };
  await context.route((url) => Object.hasOwn(files, url.pathname), async (route) => {
    const response = await route.fetch();
    const file = files[new URL(route.request().url()).pathname];
    await route.fulfill({ response, body: readFileSync(new URL(file, web), 'utf8') });
  });
}

/** Open a room by URL and wait until its socket is live. */
export async function openRoom(page, id) {
  await page.goto(`/#/rooms/${id}`);
  await page.locator('#chat-title').filter({ hasNotText: 'Loading…' }).waitFor();
  await page.locator('#conn').waitFor({ state: 'hidden' });
}

export async function send(page, text) {
  const input = page.getByLabel('Message', { exact: true });
  await input.fill(text);
  await input.press('Enter');
}

/** The confirmed message (it has a seq) whose text is exactly this. */
export function message(page, text) {
  return page.locator('#messages li.msg[data-seq]').filter({
    has: page.locator('.content', { hasText: new RegExp(`^${escapeRe(text)}$`) }),
  });
}

export async function waitForMessage(page, text) {
  await message(page, text).waitFor();
}

/** Send through the API, waiting out the send rate limit (429 + Retry-After) under one key. */
export async function post(context, room, content) {
  const key = crypto.randomUUID();
  for (let attempt = 0; attempt < 30; attempt += 1) {
    const res = await context.request.post(`/api/rooms/${room}/messages`, {
      data: { content },
      headers: { 'Idempotency-Key': key },
    });
    if (res.status() === 201) return res.json();
    assert.equal(res.status(), 429, `sending "${content}": ${await res.text()}`);
    await sleep(1000 * Math.max(1, Number(res.headers()['retry-after']) || 1));
  }
  return assert.fail(`sending "${content}": still rate limited`);
}

export const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Whichever element has the focus, described for an assertion message. */
export function focused(page) {
  return page.evaluate(() => {
    const e = document.activeElement;
    if (!e) return '';
    const label = e.getAttribute('aria-label') || e.labels?.[0]?.textContent || e.textContent;
    return `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''}: ${label.trim()}`;
  });
}
