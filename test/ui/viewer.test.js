// SPDX-License-Identifier: Apache-2.0
//
// The web viewer in headless chromium (playwright-core), against the real agent that run.sh
// started and fed with the recorded HAProxy 2.6 SPOP frames. The tests share one page and run
// in order: token, table, filters and the URL, live tail, pause, detail pane, binary bodies,
// copy as curl, downloads, keyboard, incomplete exchanges, paging, 400 px. Screenshots of the main
// views go to $HEP_ARTIFACTS.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const common = require('./common.js');

const BASE = process.env.HEP_URL;
const TOKEN = process.env.HEP_TOKEN;
const ARTIFACTS = process.env.HEP_ARTIFACTS;

let browser;
let context;
let page;
const problems = [];
const rows = '#rows tbody tr';

function rowOf(id) {
  return page.locator(`${rows}:has(a[href="#x=${encodeURIComponent(id)}"])`);
}

async function shot(name) {
  await page.screenshot({ path: path.join(ARTIFACTS, name) });
}

const ingest = (envelopes) => common.ingest(BASE, envelopes);

function exchange(id, method, urlPath, status, { reqHeaders = {}, reqBody, resBody, resType } = {}) {
  const now = Date.now() / 1000;
  const request = { id, method, path: urlPath, headers: Object.assign({ Host: 'shop.local' }, reqHeaders) };
  if (reqBody !== undefined) request.body = reqBody;
  const response = { id, status, headers: resType ? { 'Content-Type': resType } : {} };
  if (resBody !== undefined) response.body = resBody;
  return [{ type: 'request', timestamp: now, data: request },
          { type: 'response', timestamp: now + 0.0123, data: response }];
}

async function waitRows(predicate, arg) {
  await page.waitForFunction(predicate, arg, { timeout: 10000 });
}

async function apply() {
  await page.click('#filters button[type=submit]');
}

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  let watch;
  ({ browser, context, watch } = await common.openBrowser(problems, { acceptDownloads: true }));
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
  page = watch(await context.newPage());
});

after(async () => {
  if (browser) await browser.close();
});

test('the page comes from the binary, asks for the token once, then the table fills', async () => {
  const res = await page.goto(BASE + '/');
  assert.equal(res.status(), 200);
  const headers = res.headers();
  assert.match(headers['content-security-policy'], /default-src 'none'/);
  assert.match(headers['content-type'], /^text\/html/);
  assert.ok(headers.etag);

  await page.locator('#token-dialog').waitFor({ state: 'visible' });
  await page.fill('#token-dialog input[name=token]', TOKEN);
  await page.click('#token-dialog button[value=save]');
  // 25 scenarios, 30 exchanges in the recording.
  await waitRows((sel) => document.querySelectorAll(sel).length >= 25, rows);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('hep.api-token')), TOKEN);

  // Newest first: the recording ends with /after-idle.
  assert.match(await page.locator(`${rows} .c-path a`).first().textContent(), /^\/after-idle/);
  // A reload in the same tab does not ask again.
  await page.reload();
  await waitRows((sel) => document.querySelectorAll(sel).length >= 25, rows);
  assert.equal(await page.locator('#token-dialog').isVisible(), false);
  await page.waitForFunction(() => document.getElementById('live-state').dataset.state === 'on');
  await shot('table-1280.png');
});

test('a filter narrows the table, shows in the URL, and the URL gives the same view', async () => {
  const all = await page.locator(rows).count();
  await page.fill('input[name=status]', '4xx');
  await apply();
  await page.waitForURL(/[?&]status=4xx/);
  await waitRows((sel) => {
    const s = [...document.querySelectorAll(`${sel} .status`)];
    return s.length > 0 && s.every((e) => e.textContent.startsWith('4'));
  }, rows);
  const fourxx = await page.locator(rows).count();
  assert.ok(fourxx < all, `${fourxx} of ${all}`);

  await page.fill('input[name=path]', '/notfound');
  await page.fill('input[name=method]', 'get');
  await apply();
  await page.waitForURL((u) => u.searchParams.get('path') === '/notfound' && u.searchParams.get('method') === 'GET');
  await waitRows((sel) => document.querySelectorAll(sel).length === 1, rows);
  assert.match(await page.locator(`${rows} .c-path a`).textContent(), /^\/notfound\/page\.html/);
  await shot('filtered-1280.png');

  // The same URL in another tab: the form is filled from it and the table is the same; the
  // API agrees.
  const other = await context.newPage();
  await other.goto(page.url());
  await other.fill('#token-dialog input[name=token]', TOKEN);
  await other.click('#token-dialog button[value=save]');
  await other.waitForFunction((sel) => document.querySelectorAll(sel).length === 1, rows);
  assert.equal(await other.inputValue('input[name=status]'), '4xx');
  assert.equal(await other.inputValue('input[name=path]'), '/notfound');
  await other.close();
  const api = await fetch(`${BASE}/events?${new URL(page.url()).searchParams}`,
                          { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal((await api.json()).events.length, 1);

  await page.click('#clear');
  await page.waitForURL((u) => u.search === '');
  await waitRows((n) => document.querySelectorAll('#rows tbody tr').length === n, all);
});

const live = 'live-order-' + Date.now();
const order = { order: { id: 7, items: [{ sku: 'pen', qty: 2 }, { sku: 'ink', qty: 1 }] }, paid: true, note: null };

test('the live tail shows a new exchange within a second', async () => {
  await page.waitForFunction(() => document.getElementById('live-state').dataset.state === 'on');
  const t0 = Date.now();
  await ingest(exchange(live, 'POST', '/api/orders', 201, {
    reqHeaders: { 'Content-Type': 'application/json', Authorization: 'Bearer abc', 'User-Agent': 'shop-app/2.1' },
    reqBody: JSON.stringify(order),
    resBody: JSON.stringify({ id: 7, status: 'created' }),
    resType: 'application/json',
  }));
  await rowOf(live).waitFor({ timeout: 1000 });
  const ms = Date.now() - t0;
  console.log(`# live row after ${ms} ms`);
  assert.ok(ms < 1000);
  assert.equal(await page.locator(rows).first().locator('a.open').getAttribute('href'), `#x=${live}`);
});

test('pause holds new exchanges back, resume shows them', async () => {
  await page.click('#live');
  assert.equal(await page.getAttribute('#live', 'aria-pressed'), 'false');
  const id = 'paused-' + Date.now();
  await ingest(exchange(id, 'GET', '/api/stock?sku=ink', 503));
  await page.waitForFunction(() => /1 new/.test(document.getElementById('live-state').textContent));
  assert.equal(await rowOf(id).count(), 0);
  await page.click('#live');
  assert.equal(await page.getAttribute('#live', 'aria-pressed'), 'true');
  await rowOf(id).waitFor({ timeout: 1000 });
});

test('the detail pane shows both halves, redacted headers and pretty JSON', async () => {
  await rowOf(live).locator('a.open').click();
  const detail = page.locator('#detail');
  await detail.waitFor({ state: 'visible' });
  assert.match(await page.textContent('#detail-title'), /^POST shop\.local\/api\/orders$/);
  assert.ok(page.url().endsWith('#x=' + live));
  const request = detail.locator('section.half').nth(0);
  const response = detail.locator('section.half').nth(1);
  assert.equal(await request.locator('.start-line').textContent(), 'POST /api/orders HTTP/1.1');
  assert.equal(await response.locator('.start-line').textContent(), 'HTTP/1.1 201 Created');
  const header = (name) => request.locator('table.headers tr', { has: page.locator(`th:text-is("${name}")`) });
  assert.equal(await header('content-type').locator('td').textContent(), 'application/json');
  assert.equal(await header('authorization').locator('td .mark.redacted').textContent(), 'redacted');
  assert.equal(await request.locator('pre.json').textContent(), JSON.stringify(order, null, 2));
  assert.ok(await request.locator('pre.json .j-key').count() > 3);
  assert.equal(await response.locator('pre.json').textContent(), JSON.stringify({ id: 7, status: 'created' }, null, 2));
  await shot('detail-1280.png');
});

test('binary bodies show as a hex dump, or base64', async () => {
  await page.locator(`${rows} .c-path a`, { hasText: /^\/upload\/bin$/ }).click();
  await page.waitForFunction(() => document.getElementById('detail-title').textContent.includes('/upload/bin'));
  const body = page.locator('#detail section.half').nth(0).locator('pre.code');
  assert.match(await body.textContent(), /^00000000 {2}[0-9a-f]{2} /);
  assert.match(await page.textContent('#detail section.half >> nth=0'), /binary/);
  await page.locator('#detail section.half').nth(0).getByRole('button', { name: 'Base64' }).click();
  assert.match(await body.textContent(), /^[A-Za-z0-9+/]+=*$/);
});

test('copy as curl, download the exchange as JSON and the filter as HAR', async () => {
  await rowOf(live).locator('a.open').click();
  await page.click('#copy-curl');
  await page.waitForFunction(() => document.getElementById('copy-state').textContent !== '');
  const curl = await page.getAttribute('#copy-curl', 'data-curl');
  assert.match(curl, /^# redacted when captured: authorization\ncurl -X POST http:\/\/shop\.local\/api\/orders/);
  assert.match(curl, /-H 'content-type: application\/json'/);
  assert.ok(curl.includes(`--data-binary '${JSON.stringify(order)}'`));
  fs.writeFileSync(path.join(ARTIFACTS, 'curl.txt'), curl + '\n');

  const [json] = await Promise.all([page.waitForEvent('download'), page.click('#download-json')]);
  const file = path.join(ARTIFACTS, json.suggestedFilename());
  await json.saveAs(file);
  const record = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.equal(record.id, live);
  assert.equal(record.response.status, 201);

  await page.fill('input[name=method]', 'POST');
  await apply();
  await page.waitForURL(/method=POST/);
  await waitRows((sel) => {
    const m = [...document.querySelectorAll(`${sel} .c-method`)];
    return m.length > 0 && m.every((e) => e.textContent === 'POST');
  }, rows);
  const shown = await page.locator(rows).count();
  const [har] = await Promise.all([page.waitForEvent('download'), page.click('#har')]);
  assert.equal(har.suggestedFilename(), 'events.har');
  await har.saveAs(path.join(ARTIFACTS, 'events.har'));
  const log = JSON.parse(fs.readFileSync(path.join(ARTIFACTS, 'events.har'), 'utf8')).log;
  assert.equal(log.version, '1.2');
  assert.equal(log.entries.length, shown);
  assert.ok(log.entries.every((e) => e.request.method === 'POST'));
  assert.ok(log.entries.some((e) => e._id === live));
  await page.click('#clear');
  await page.waitForURL((u) => u.search === '');
  // The unfiltered table is back and the tail subscribed again: no reload is left to replace
  // the rows under the next test.
  await waitRows((sel) => [...document.querySelectorAll(`${sel} .c-method`)].some((e) => e.textContent !== 'POST'), rows);
  await page.waitForFunction(() => document.getElementById('live-state').dataset.state === 'on');
});

test('keyboard: arrows move between rows, Enter opens, Escape closes', async () => {
  await page.keyboard.press('Escape');
  await page.locator('#detail').waitFor({ state: 'hidden' });
  await page.focus(`${rows}:nth-child(1) a.open`);
  await page.keyboard.press('ArrowDown');
  const second = await page.locator(`${rows}:nth-child(2) a.open`).getAttribute('href');
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute('href')), second);
  await page.keyboard.press('Enter');
  await page.locator('#detail').waitFor({ state: 'visible' });
  assert.equal(await page.evaluate(() => document.activeElement.id), 'detail');
  await page.keyboard.press('Escape');
  await page.locator('#detail').waitFor({ state: 'hidden' });
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute('href')), second);
  await page.keyboard.press('/');
  assert.equal(await page.evaluate(() => document.activeElement.name), 'path');
  // Every filter has a label.
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('#filters input')]
    .filter((i) => !i.labels || i.labels.length === 0).map((i) => i.name));
  assert.deepEqual(unlabelled, []);
});

test('incomplete only: a half whose partner never came appears once it expires', async () => {
  await page.check('input[name=incomplete]');
  await apply();
  await page.waitForURL(/complete=false/);
  const id = 'lonely-' + Date.now();
  await ingest([exchange(id, 'GET', '/lonely', 0)[0]]);
  // The agent stores it after --event-expiry-minutes 0.05 (3 s); the live tail brings it.
  await rowOf(id).waitFor({ timeout: 10000 });
  assert.equal(await rowOf(id).locator('.c-flags .mark.incomplete').textContent(), 'incomplete');
  assert.equal(await rowOf(id).locator('.status').textContent(), '—');
  await page.uncheck('input[name=incomplete]');
  await apply();
  await page.waitForURL((u) => u.search === '');
});

test('paging: older exchanges load by cursor, after the first 100', async () => {
  const envelopes = [];
  for (let i = 0; i < 120; i++) envelopes.push(...exchange(`bulk-${Date.now()}-${i}`, 'GET', `/bulk/${i}`, 200));
  await ingest(envelopes);
  // 202 means handed to the pipeline; the writer thread stores them a moment later.
  const auth = { headers: { Authorization: `Bearer ${TOKEN}` } };
  for (let tries = 0; tries < 100; tries++) {
    const bulk = await (await fetch(`${BASE}/events?path=/bulk/&limit=1000`, auth)).json();
    if (bulk.events.length === 120) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const res = await fetch(`${BASE}/events?limit=1000`, auth);
  const total = (await res.json()).events.length;
  assert.ok(total > 150);
  await page.reload();
  await waitRows((sel) => document.querySelectorAll(sel).length === 100, rows);
  assert.equal(await page.isVisible('#older'), true);
  await page.click('#older');
  await waitRows((n) => document.querySelectorAll('#rows tbody tr').length === n, total);
  assert.equal(await page.isVisible('#older'), false);
  assert.match(await page.textContent('#count'), new RegExp(`^${total} exchanges`));
});

test('at 400 px wide: no sideways scrolling, the detail over the table', async () => {
  await page.setViewportSize({ width: 400, height: 800 });
  await waitRows((sel) => document.querySelectorAll(sel).length >= 25, rows);
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 400));
  await shot('table-400.png');
  await rowOf(live).locator('a.open').click();
  const box = await page.locator('#detail').boundingBox();
  assert.ok(box.x === 0 && box.width === 400, JSON.stringify(box));
  await shot('detail-400.png');
  await page.click('#close-detail');
  await page.locator('#detail').waitFor({ state: 'hidden' });
  await page.setViewportSize({ width: 1280, height: 800 });
});

test('no script error and no Content-Security-Policy violation', () => {
  assert.deepEqual(problems, []);
});
