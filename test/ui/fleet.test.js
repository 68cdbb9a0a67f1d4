// SPDX-License-Identifier: Apache-2.0
//
// The web viewer in front of a fleet, in headless chromium: run.sh starts a second replica
// with --peers the agent of viewer.test.js (which holds every exchange) and a port nothing
// listens on. The table shows the peer's exchanges, a notice names the replica that did not
// answer, and the live tail relays the peer's new exchanges while saying that one replica is
// not streaming. Never silently partial.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const common = require('./common.js');

const BASE = process.env.HEP_URL;        // the replica the viewer is served by
const PEER = process.env.HEP_PEER_URL;   // its peer, which holds the exchanges
const DOWN = process.env.HEP_DOWN_PEER;  // host:port of a peer that is down
const TOKEN = process.env.HEP_TOKEN;
const ARTIFACTS = process.env.HEP_ARTIFACTS;

let browser;
let page;
const problems = [];
const rows = '#rows tbody tr';

before(async () => {
  let context, watch;
  ({ browser, context, watch } = await common.openBrowser(problems));
  page = watch(await context.newPage());
});

after(async () => {
  if (browser) await browser.close();
});

test('the table shows the peers\' exchanges and a notice names the replica that did not answer', async () => {
  await page.goto(BASE + '/');
  await page.locator('#token-dialog').waitFor({ state: 'visible' });
  await page.fill('#token-dialog input[name=token]', TOKEN);
  await page.click('#token-dialog button[value=save]');
  // This replica stores nothing: every row came from its peer.
  await page.waitForFunction((sel) => document.querySelectorAll(sel).length >= 25, rows, { timeout: 10000 });
  const n = page.locator('#notice');
  await n.waitFor({ state: 'visible' });
  const text = await n.textContent();
  assert.match(text, /^Partial: 1 replica did not answer: /);
  assert.ok(text.includes(`${DOWN} (connection refused)`), text);
  // The overview is per replica: it says so rather than showing the fleet's traffic as none.
  await page.waitForFunction(() => / · this replica only$/.test(document.getElementById('stats-meta').textContent),
                             null, { timeout: 5000 });
  await page.screenshot({ path: path.join(ARTIFACTS, 'fleet-partial-1280.png') });
});

test('the live tail relays a peer\'s new exchange and says one replica is not streaming', async () => {
  await page.waitForFunction(() => / · 1 replica not streaming$/.test(document.getElementById('live-state').textContent),
                             null, { timeout: 5000 });
  assert.equal(await page.getAttribute('#live-state', 'title'), `Not streaming: ${DOWN} (connection refused)`);
  const id = 'fleet-live-' + Date.now();
  const now = Date.now() / 1000;
  await common.ingest(PEER, [
    { type: 'request', timestamp: now, data: { id, method: 'GET', path: '/fleet/live', headers: { Host: 'shop.local' } } },
    { type: 'response', timestamp: now + 0.004, data: { id, status: 200, headers: {} } },
  ]);
  await page.locator(`${rows}:has(a[href="#x=${encodeURIComponent(id)}"])`).waitFor({ timeout: 3000 });
});

test('no script error in front of the fleet', () => {
  assert.deepEqual(problems, []);
});
