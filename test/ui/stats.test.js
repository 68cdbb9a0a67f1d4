// SPDX-License-Identifier: Apache-2.0
//
// The viewer's overview (GET /events/stats drawn as an SVG chart and a routes table) in
// headless chromium, after viewer.test.js, against the same agent. A known set of exchanges
// goes in through POST /http-events with timestamps on 2026-01-15 (long before the rest of
// the data), so that a since/until filter selects exactly them: five one-minute buckets.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const common = require('./common.js');

const BASE = process.env.HEP_URL;
const TOKEN = process.env.HEP_TOKEN;
const ARTIFACTS = process.env.HEP_ARTIFACTS;

const T0 = Date.UTC(2026, 0, 15, 10, 0, 0);  // a whole minute
const SINCE = new Date(T0).toISOString();
const UNTIL = new Date(T0 + 5 * 60000 - 1).toISOString();
// [minute, path, status, latency ms]: minute 2 is empty.
const SET = [
  [0, '/api/items/1', 200, 10], [0, '/api/items/2', 200, 12], [0, '/api/items/3', 201, 14],
  [1, '/api/slow', 200, 800], [1, '/api/slow', 200, 900],
  [3, '/api/items/4', 500, 20], [3, '/api/items/5', 503, 20],
  [4, '/api/orders', 404, 5],
];

let browser;
let page;
const problems = [];
const rows = '#rows tbody tr';
const bars = '#chart .chart-bar';

const ingest = (envelopes) => common.ingest(BASE, envelopes);

function pair(id, at, urlPath, status, latencyMs) {
  return [
    { type: 'request', timestamp: at / 1000, data: { id, method: 'GET', path: urlPath, headers: { Host: 'shop.local' } } },
    { type: 'response', timestamp: (at + latencyMs) / 1000, data: { id, status, headers: {}, body: 'x'.repeat(10) } },
  ];
}

async function routeNames() {
  return page.locator('#routes tbody .r-route a').allTextContents();
}

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const envelopes = [];
  SET.forEach(([minute, p, status, ms], i) => {
    envelopes.push(...pair(`stats-${i}`, T0 + minute * 60000 + i * 1000, p, status, ms));
  });
  await ingest(envelopes);
  const { context, watch, browser: b } = await common.openBrowser(problems);
  browser = b;
  page = watch(await context.newPage());
});

after(async () => {
  if (browser) await browser.close();
});

test('the chart has one bar per bucket of a known set, stacked by status class', async () => {
  const q = new URLSearchParams({ since: SINCE, until: UNTIL, bucket: '1m' });
  await page.goto(`${BASE}/?${q}`);
  await page.fill('#token-dialog input[name=token]', TOKEN);
  await page.click('#token-dialog button[value=save]');
  await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 8, rows);
  await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 5, bars);
  const counts = await page.locator(bars).evaluateAll((gs) => gs.map((g) => Number(g.dataset.count)));
  assert.deepEqual(counts, [3, 2, 0, 2, 1]);
  // The 5xx bucket has one red segment of two requests' height; the empty one has none.
  assert.equal(await page.locator(`${bars} >> nth=3`).locator('rect.seg.c-5xx').count(), 1);
  assert.equal(await page.locator(`${bars} >> nth=2`).locator('rect.seg').count(), 0);
  // Latency lines: p50 and p99 over the four timed buckets.
  assert.equal(await page.locator('#chart path.lat.p50').count(), 1);
  assert.equal(await page.locator('#chart circle.lat-dot.p99').count(), 4);
  assert.match(await page.textContent('#stats-meta'), /^8 exchanges · 1m buckets/);
  assert.equal(await page.inputValue('#bucket'), '1m');
});

test('the routes table folds ids and orders by p99, error share or count', async () => {
  await page.waitForFunction(() => document.querySelectorAll('#routes tbody .r-route a').length === 3);
  assert.deepEqual(await routeNames(), ['/api/items/{id}', '/api/slow', '/api/orders']);
  await page.click('#routes th[data-sort=p99] button');
  await page.waitForFunction(() => document.querySelector('#routes tbody .r-route a').textContent === '/api/slow');
  assert.deepEqual(await routeNames(), ['/api/slow', '/api/items/{id}', '/api/orders']);
  assert.equal(await page.getAttribute('#routes th[data-sort=p99]', 'aria-sort'), 'descending');
  const p99 = await page.locator('#routes tbody tr >> nth=0').locator('td >> nth=4').textContent();
  assert.equal(p99, '900 ms');
  await page.screenshot({ path: path.join(ARTIFACTS, 'stats-1280.png') });

  await page.click('#routes th[data-sort=errors] button');
  await page.waitForFunction(() => document.querySelector('#routes tbody .r-route a').textContent === '/api/items/{id}');
  const share = await page.locator('#routes tbody tr >> nth=0').locator('td >> nth=2').textContent();
  assert.equal(share, '40%');
  await page.click('#routes th[data-sort=p99] button');
  await page.waitForFunction(() => document.querySelector('#routes tbody .r-route a').textContent === '/api/slow');
});

test('a click on a bar narrows since/until and the table to its bucket', async () => {
  await page.click(`${bars} >> nth=1`);
  await page.waitForURL((u) => u.searchParams.get('since') === new Date(T0 + 60000).toISOString());
  assert.equal(new URL(page.url()).searchParams.get('until'), new Date(T0 + 120000 - 1).toISOString());
  await page.waitForFunction((sel) => {
    const r = [...document.querySelectorAll(`${sel} .c-path a`)];
    return r.length === 2 && r.every((a) => a.textContent.startsWith('/api/slow'));
  }, rows);
  await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 1, bars);
  assert.equal(await page.getAttribute(bars, 'data-count'), '2');
  // Back: the five buckets again.
  await page.goBack();
  await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 5, bars);
  await page.waitForFunction((sel) => document.querySelectorAll(sel).length === 8, rows);
});

test('a click on a route filters by it', async () => {
  await page.click('#routes tbody a:text-is("/api/items/{id}")');
  await page.waitForURL((u) => u.searchParams.get('route') === '/api/items/{id}');
  assert.equal(await page.inputValue('input[name=route]'), '/api/items/{id}');
  await page.waitForFunction((sel) => {
    const r = [...document.querySelectorAll(`${sel} .c-path a`)];
    return r.length === 5 && r.every((a) => /^\/api\/items\/\d$/.test(a.textContent));
  }, rows);
  await page.waitForFunction(() => /^5 exchanges/.test(document.getElementById('stats-meta').textContent));
});

test('while tailing, the chart follows new exchanges within seconds', async () => {
  await page.click('#clear');
  await page.waitForURL((u) => !u.searchParams.get('since'));
  await page.waitForFunction(() => document.getElementById('live-state').dataset.state === 'on');
  await page.waitForFunction(() => document.getElementById('stats-meta').dataset.total);
  const before = Number(await page.getAttribute('#stats-meta', 'data-total'));
  const now = Date.now();
  await ingest([...pair(`stats-live-${now}`, now, '/api/live/1', 200, 3),
                ...pair(`stats-live-${now + 1}`, now, '/api/live/2', 200, 4)]);
  await page.waitForFunction((n) => Number(document.getElementById('stats-meta').dataset.total) === n,
                             before + 2, { timeout: 10000 });
});

test('the overview hides and shows, and the page is still 400 px wide at 400 px', async () => {
  await page.click('#stats-toggle');
  assert.equal(await page.isVisible('#chart'), false);
  await page.click('#stats-toggle');
  await page.waitForFunction((sel) => document.querySelectorAll(sel).length > 0, bars);
  await page.setViewportSize({ width: 400, height: 800 });
  // The chart is redrawn as wide as its box, so that its labels keep their size.
  await page.waitForFunction(() => document.querySelector('#chart svg').viewBox.baseVal.width <= 400);
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 400));
  await page.screenshot({ path: path.join(ARTIFACTS, 'stats-400.png') });
});

test('no script error and no Content-Security-Policy violation', () => {
  assert.deepEqual(problems, []);
});
