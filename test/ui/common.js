// SPDX-License-Identifier: Apache-2.0
//
// What the browser tests share: Debian's chromium through playwright-core, a page that
// records script errors, and legacy ingestion into the agent run.sh started.
'use strict';

const assert = require('node:assert/strict');
const { chromium } = require('playwright-core');

// Launches headless chromium; `problems` collects page errors and console errors (but the
// 401 of the first data call, which asks for the token: expected).
async function openBrowser(problems, contextOptions) {
  const browser = await chromium.launch({
    executablePath: process.env.HEP_CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
  const context = await browser.newContext(Object.assign({
    viewport: { width: 1280, height: 800 },
    colorScheme: 'light',
    locale: 'en-GB',
  }, contextOptions));
  const watch = (page) => {
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/status of 401/.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    return page;
  };
  return { browser, context, watch };
}

// Legacy envelopes through POST /http-events (the agent has no ingest token here).
async function ingest(base, envelopes) {
  const res = await fetch(`${base}/http-events`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-ndjson' },
    body: envelopes.map((e) => JSON.stringify(e)).join('\n') + '\n',
  });
  assert.equal(res.status, 202, await res.text());
}

module.exports = { openBrowser, ingest };
