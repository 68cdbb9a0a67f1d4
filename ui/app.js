// SPDX-License-Identifier: Apache-2.0
//
// The web viewer of http-event-processor: plain JavaScript, no framework, nothing fetched from
// elsewhere. It reads GET /events (pages), GET /events/stream (live tail, Server-Sent Events
// read with fetch() so that the API token can go in a header), GET /events/{id} and
// GET /events.har, and GET /events/stats for the overview above the table (an SVG chart made
// here, no library). The filters are the /events query parameters, one to one, and live in
// the page's own query string (with the overview's `bucket`); the open exchange lives in the
// fragment (#x=<id>).
// Every piece of captured data reaches the page through textContent, never as markup.
'use strict';

(() => {
  const PAGE = 100;              // rows per /events page
  const MAX_ROWS = 500;          // rows kept in the page
  const HAR_LIMIT = 10000;       // entries in a HAR download
  const HEX_LIMIT = 64 * 1024;   // bytes shown by the hex view
  const TOKEN_KEY = 'hep.api-token';
  const FILTERS = ['method', 'status', 'host', 'path', 'route', 'since', 'until', 'complete'];
  const STATS_EVERY = 5000;      // ms between two overview refreshes while tailing
  const STATS_TOP = 10;          // routes in the overview
  const CLASSES = ['2xx', '3xx', '4xx', '5xx', 'other', 'incomplete'];
  const SVG = 'http://www.w3.org/2000/svg';
  const REASONS = {
    100: 'Continue', 101: 'Switching Protocols', 200: 'OK', 201: 'Created', 202: 'Accepted',
    204: 'No Content', 206: 'Partial Content', 301: 'Moved Permanently', 302: 'Found',
    303: 'See Other', 304: 'Not Modified', 307: 'Temporary Redirect', 308: 'Permanent Redirect',
    400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found',
    405: 'Method Not Allowed', 408: 'Request Timeout', 409: 'Conflict', 413: 'Content Too Large',
    415: 'Unsupported Media Type', 422: 'Unprocessable Content', 429: 'Too Many Requests',
    500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable',
    504: 'Gateway Timeout',
  };

  const $ = (id) => document.getElementById(id);
  const form = $('filters');
  const tbody = document.querySelector('#rows tbody');
  const recordOf = new WeakMap();  // <tr> -> its record

  const state = {
    filters: {},
    generation: 0,       // bumped when the filters change: late answers are ignored
    keys: new Set(),     // records in the table
    next: null,          // cursor of the next older page
    trimmed: false,      // live rows pushed older ones out: the cursor no longer follows on
    atHead: true,        // the table starts at the newest exchange
    live: true,          // the user wants the live tail
    waiting: [],         // live exchanges not shown yet (paused, or not at the head)
    missed: 0,           // live exchanges not kept while waiting
    stream: null,        // AbortController of the open stream
    retry: 3000,
    reconnect: null,
    connected: false,
    peersFailed: [],     // fleet stream: the replicas whose exchanges are not streamed now
    open: null,          // the record in the detail pane
    opener: null,        // what to focus when the pane closes
    stats: {
      sort: 'count',     // of the routes table: count, p99 or errors
      bucket: '',        // '' lets the agent choose from the range
      generation: 0,     // late answers are ignored
      last: 0,           // when the last refresh started (ms)
      timer: null,       // a refresh waiting for STATS_EVERY to pass
      shown: true,
      data: null,        // the last answer, redrawn when the window is resized
    },
  };

  // ---- small helpers -------------------------------------------------------------------------

  function h(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children) {
      if (c === undefined || c === null || c === false) continue;
      e.append(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return e;
  }

  function headerValue(half, name) {
    if (!half || !Array.isArray(half.headers)) return '';
    const pair = half.headers.find((p) => p[0] === name);
    return pair ? pair[1] : '';
  }

  function recordKey(r) {
    return r.id + '\u0000' + ((r.request && r.request.time) || (r.response && r.response.time) || '');
  }

  function recordTime(r) {
    return (r.request && r.request.time) || (r.response && r.response.time) || '';
  }

  function fmtBytes(n) {
    if (n === null || n === undefined) return '—';
    if (n < 1024) return n + ' B';
    if (n < 1024 * 1024) return (n / 1024).toFixed(n < 10240 ? 1 : 0) + ' KiB';
    return (n / 1048576).toFixed(1) + ' MiB';
  }

  function fmtDuration(us) {
    if (us === null || us === undefined) return '—';
    if (us < 1000) return us + ' µs';
    if (us < 1e6) return (us / 1000).toFixed(us < 10000 ? 1 : 0) + ' ms';
    return (us / 1e6).toFixed(2) + ' s';
  }

  function pad(n, w = 2) { return String(n).padStart(w, '0'); }

  // [the part a narrow table keeps, the rest]: ["12:04:05", ".123"] or ["11-27 ", "12:04:05"].
  function timeParts(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return [iso || '—', ''];
    const now = new Date();
    const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    // Today: to the millisecond; other days: the date instead (the title has it all).
    if (d.toDateString() === now.toDateString()) return [hms, `.${pad(d.getMilliseconds(), 3)}`];
    return [`${pad(d.getMonth() + 1)}-${pad(d.getDate())} `, hms];
  }

  function timeCell(iso) {
    const [keep, more] = timeParts(iso);
    const today = /^\./.test(more);
    return h('time', { datetime: iso, title: iso },
      today ? keep : h('span', { class: 't-more', text: more }),
      today ? h('span', { class: 't-more', text: more }) : keep);
  }

  // datetime-local (local time) <-> RFC 3339 (UTC) as /events takes it.
  function localToIso(v) {
    if (!v) return '';
    const d = new Date(v);
    return Number.isNaN(d.getTime()) ? '' : d.toISOString();
  }
  function isoToLocal(v) {
    const d = new Date(v);
    if (!v || Number.isNaN(d.getTime())) return '';
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T` +
           `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  function statusClass(status) {
    return status >= 100 && status < 600 ? 's' + Math.floor(status / 100) : 's0';
  }

  function download(blob, name) {
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  function notice(text, action) {
    const n = $('notice');
    n.replaceChildren();
    if (!text) { n.hidden = true; return; }
    n.append(text);
    if (action) {
      n.append(' ', h('button', { type: 'button', class: 'quiet', text: action.label, onclick: action.run }));
    }
    n.hidden = false;
  }

  // ---- the API and its token -------------------------------------------------------------------

  let token = sessionStorage.getItem(TOKEN_KEY) || '';
  let tokenPrompt = null;

  // Opens the token dialog once for every caller; resolves to true when a token was given.
  function askToken() {
    if (tokenPrompt) return tokenPrompt;
    const dialog = $('token-dialog');
    const input = dialog.querySelector('input[name=token]');
    input.value = token;
    tokenPrompt = new Promise((resolve) => {
      dialog.addEventListener('close', () => {
        tokenPrompt = null;
        if (dialog.returnValue === 'save' && input.value) {
          token = input.value;
          sessionStorage.setItem(TOKEN_KEY, token);
          resolve(true);
        } else {
          if (dialog.returnValue === 'forget') {
            token = '';
            sessionStorage.removeItem(TOKEN_KEY);
          }
          resolve(false);
        }
      }, { once: true });
      dialog.returnValue = '';
      dialog.showModal();
      input.focus();
    });
    return tokenPrompt;
  }

  async function api(path, options = {}) {
    for (;;) {
      const headers = Object.assign({}, options.headers);
      if (token) headers.Authorization = 'Bearer ' + token;
      const res = await fetch(path, Object.assign({}, options, { headers, cache: 'no-store' }));
      if (res.status !== 401) return res;
      if (!(await askToken())) return res;
    }
  }

  async function errorOf(res) {
    try {
      const body = await res.json();
      if (body && body.error) return `${res.status}: ${body.error}`;
    } catch (e) { /* not JSON */ }
    return `${res.status} ${res.statusText}`;
  }

  function query(filters, extra) {
    const q = new URLSearchParams();
    for (const k of FILTERS) if (filters[k]) q.set(k, filters[k]);
    for (const [k, v] of Object.entries(extra || {})) if (v !== null && v !== undefined) q.set(k, v);
    return q.toString();
  }

  // ---- filters <-> form <-> URL ----------------------------------------------------------------

  function filtersFromUrl() {
    const q = new URLSearchParams(location.search);
    const f = {};
    for (const k of FILTERS) if (q.get(k)) f[k] = q.get(k);
    return f;
  }

  function fillForm(f) {
    form.method.value = f.method || '';
    form.status.value = f.status || '';
    form.host.value = f.host || '';
    form.path.value = f.path || '';
    form.route.value = f.route || '';
    form.since.value = isoToLocal(f.since);
    form.until.value = isoToLocal(f.until);
    form.incomplete.checked = f.complete === 'false';
  }

  function filtersFromForm() {
    const f = {};
    const method = form.method.value.trim().toUpperCase();
    if (method) f.method = method;
    const status = form.status.value.trim().toLowerCase();
    if (status) f.status = status;
    if (form.host.value.trim()) f.host = form.host.value.trim();
    if (form.path.value.trim()) f.path = form.path.value.trim();
    if (form.route.value.trim()) f.route = form.route.value.trim();
    const since = localToIso(form.since.value);
    if (since) f.since = since;
    const until = localToIso(form.until.value);
    if (until) f.until = until;
    if (form.incomplete.checked) f.complete = 'false';
    else if (state.filters.complete === 'true') f.complete = 'true';  // only settable by URL
    return f;
  }

  function applyFilters(f, push) {
    state.filters = f;
    if (push) {
      const q = query(f, { bucket: state.stats.bucket || null });
      history.pushState(null, '', location.pathname + (q ? '?' + q : ''));
    }
    closeDetail(false);
    reload();
  }

  // ---- the table ---------------------------------------------------------------------------------

  function rowFor(r) {
    const rq = r.request;
    const rs = r.response;
    const host = headerValue(rq, 'host');
    const path = rq ? rq.path + (rq.query ? '?' + rq.query : '') : '(no request)';
    const status = rs ? rs.status : null;
    const truncated = (rq && rq.truncated) || (rs && rs.truncated);
    const sizes = `${fmtBytes(rq ? rq.body_size : null)} / ${fmtBytes(rs ? rs.body_size : null)}`;
    const time = recordTime(r);
    const link = h('a', { href: '#x=' + encodeURIComponent(r.id), class: 'open', title: path, text: path });
    const marks = () => [
      r.complete ? null : h('span', { class: 'mark incomplete', title: 'One half never arrived', text: 'incomplete' }),
      truncated ? h('span', { class: 'mark truncated', title: 'A body was cut by HAProxy', text: 'truncated' }) : null,
    ];
    // The second line of the path cell stands in for the columns a compact table hides.
    const sub = h('span', { class: 'sub' },
      h('span', { class: 'sub-marks' }, ...marks()),
      h('span', { text: [host, fmtDuration(r.duration_us), sizes].filter(Boolean).join(' · ') }));
    const tr = h('tr', {},
      h('td', { class: 'c-time' }, timeCell(time)),
      h('td', { class: 'c-method', text: rq ? rq.method : '—' }),
      h('td', { class: 'c-host', title: host, text: host || '—' }),
      h('td', { class: 'c-path' }, link, sub),
      h('td', { class: 'c-status' },
        h('span', { class: 'status ' + statusClass(status), text: status === null ? '—' : String(status) })),
      h('td', { class: 'c-dur', text: fmtDuration(r.duration_us) }),
      h('td', { class: 'c-size', text: sizes }),
      h('td', { class: 'c-flags' }, ...marks(),
        r.complete && !truncated ? h('span', { class: 'mark complete', text: 'complete' }) : null));
    recordOf.set(tr, r);
    if (state.open && recordKey(state.open) === recordKey(r)) tr.setAttribute('aria-current', 'true');
    return tr;
  }

  function clearRows() {
    tbody.replaceChildren();
    state.keys.clear();
    state.trimmed = false;
    state.atHead = true;
    state.waiting = [];
    state.missed = 0;
  }

  // Newest first, below what is there (a page).
  function appendRecords(records) {
    const frag = document.createDocumentFragment();
    for (const r of records) {
      const k = recordKey(r);
      if (state.keys.has(k)) continue;
      state.keys.add(k);
      frag.append(rowFor(r));
    }
    tbody.append(frag);
    // Past the bound the newest go: the table then no longer starts at the head.
    while (tbody.rows.length > MAX_ROWS) {
      dropRow(tbody.rows[0]);
      state.atHead = false;
    }
  }

  // Oldest first, each above what is there (live exchanges, catch-up).
  function prependRecords(records) {
    for (const r of records) {
      const k = recordKey(r);
      if (state.keys.has(k)) continue;
      state.keys.add(k);
      const tr = rowFor(r);
      tr.classList.add('fresh');
      tbody.prepend(tr);
    }
    while (tbody.rows.length > MAX_ROWS) {
      dropRow(tbody.rows[tbody.rows.length - 1]);
      state.trimmed = true;
    }
  }

  function dropRow(tr) {
    const r = recordOf.get(tr);
    if (r) state.keys.delete(recordKey(r));
    tr.remove();
  }

  function updateCounts() {
    const n = tbody.rows.length;
    $('empty').hidden = n !== 0;
    const older = $('older');
    let text = n === 1 ? '1 exchange' : `${n} exchanges`;
    if (!state.atHead) {
      older.hidden = false;
      older.textContent = 'Back to the newest';
      older.dataset.action = 'head';
    } else if (state.trimmed) {
      text += ` (the page keeps the newest ${MAX_ROWS})`;
      older.hidden = false;
      older.textContent = 'Reload to page back';
      older.dataset.action = 'head';
    } else {
      older.hidden = !state.next;
      older.textContent = 'Load older';
      older.dataset.action = 'older';
    }
    $('count').textContent = text;
    updateLiveState();
  }

  // A fleet answer names the replicas that did not answer (never silently partial).
  function peersText(failed) {
    return failed.map((f) => `${f.peer} (${f.error})`).join(', ');
  }

  async function loadPage(reset) {
    const generation = state.generation;
    const res = await api('/events?' + query(state.filters, { limit: PAGE, cursor: reset ? null : state.next }));
    if (generation !== state.generation) return;
    if (!res.ok) {
      notice(`The exchanges could not be read (${await errorOf(res)}).`);
      if (reset) { clearRows(); updateCounts(); }
      return;
    }
    const data = await res.json();
    if (generation !== state.generation) return;
    if (reset) clearRows();
    appendRecords(data.events);
    state.next = data.next;
    updateCounts();
    if (data.partial) {
      const n = data.peers_failed.length;
      notice(`Partial: ${n} ${n === 1 ? 'replica' : 'replicas'} did not answer: ${peersText(data.peers_failed)}.`,
             { label: 'Retry', run: reload });
    }
  }

  // After (re)subscribing: what was stored meanwhile is in the newest page; put the unseen on top.
  async function catchUp() {
    const generation = state.generation;
    const res = await api('/events?' + query(state.filters, { limit: PAGE }));
    if (!res.ok || generation !== state.generation) return;
    const data = await res.json();
    if (generation !== state.generation) return;
    const fresh = [];
    for (const r of data.events) {
      if (state.keys.has(recordKey(r))) break;
      fresh.push(r);
    }
    if (fresh.length === 0) return;
    if (fresh.length === data.events.length && tbody.rows.length > 0) {
      // More arrived than a page holds: start again from the newest.
      reload();
      return;
    }
    showLive(fresh.reverse());
  }

  function reload() {
    state.generation++;
    notice('');
    loadStats();
    loadPage(true).then(() => startStream());
  }

  // ---- live tail -----------------------------------------------------------------------------------

  function showLive(records) {
    if (!state.live || !state.atHead) {
      for (const r of records) {
        if (state.waiting.length < MAX_ROWS) state.waiting.push(r);
        else state.missed++;
      }
    } else {
      prependRecords(records);
    }
    updateCounts();
  }

  function updateLiveState() {
    $('live').setAttribute('aria-pressed', String(state.live));
    let text;
    if (!state.connected) text = state.stream ? 'Connecting…' : 'Not connected';
    else if (!state.live) text = 'Paused';
    else if (!state.atHead) text = 'Live (showing older rows)';
    else text = 'Live';
    const waiting = state.waiting.length + state.missed;
    if (waiting) text += ` · ${waiting} new`;
    const failed = state.connected ? state.peersFailed : [];
    if (failed.length) text += ` · ${failed.length} ${failed.length === 1 ? 'replica' : 'replicas'} not streaming`;
    const el = $('live-state');
    if (el.textContent !== text) el.textContent = text;
    el.title = failed.length ? 'Not streaming: ' + peersText(failed) : '';
    el.dataset.state = !state.connected ? 'off' : state.live ? 'on' : 'paused';
  }

  function toggleLive() {
    state.live = !state.live;
    if (state.live && state.atHead) {
      const waiting = state.waiting;
      const missed = state.missed;
      state.waiting = [];
      state.missed = 0;
      if (missed) reload();
      else prependRecords(waiting);
    }
    updateCounts();
  }

  function stopStream() {
    clearTimeout(state.reconnect);
    state.reconnect = null;
    if (state.stream) state.stream.abort();
    state.stream = null;
    state.connected = false;
    state.peersFailed = [];
  }

  function handleEvent(type, data) {
    if (type === 'ready') {
      state.connected = true;
      updateLiveState();
      catchUp();
    } else if (type === 'exchange') {
      let r;
      try { r = JSON.parse(data); } catch (e) { return; }
      showLive([r]);
      if (state.live) scheduleStats();
    } else if (type === 'dropped') {
      let n = '';
      try { n = JSON.parse(data).dropped; } catch (e) { /* keep the text plain */ }
      notice(`The live tail fell behind: ${n} exchanges were skipped.`, { label: 'Reload', run: reload });
    } else if (type === 'peers') {
      // A fleet stream: who is relayed now (docs/api.md, "Fleet read").
      let p;
      try { p = JSON.parse(data); } catch (e) { return; }
      state.peersFailed = p.partial ? p.peers_failed : [];
      updateLiveState();
    }
  }

  async function startStream() {
    stopStream();
    const controller = new AbortController();
    state.stream = controller;
    updateLiveState();
    try {
      const res = await api('/events/stream?' + query(state.filters),
                            { signal: controller.signal, headers: { Accept: 'text/event-stream' } });
      if (!res.ok || !res.body) throw new Error(await errorOf(res));
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          let type = 'message';
          const data = [];
          for (const line of block.split('\n')) {
            if (line === '' || line.startsWith(':')) continue;
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'event') type = value;
            else if (field === 'data') data.push(value);
            else if (field === 'retry' && /^\d+$/.test(value)) state.retry = Number(value);
          }
          if (data.length || type !== 'message') handleEvent(type, data.join('\n'));
        }
      }
    } catch (e) {
      if (controller.signal.aborted) return;
    }
    if (controller.signal.aborted || state.stream !== controller) return;
    state.connected = false;
    updateLiveState();
    state.reconnect = setTimeout(startStream, state.retry);
  }

  // ---- the detail pane -------------------------------------------------------------------------------

  function bodyView(half) {
    const wrap = h('div', { class: 'body' });
    const ct = headerValue(half, 'content-type');
    const size = half.body_size;
    const facts = [];
    if (half.body === null || half.body === undefined) {
      wrap.append(h('p', { class: 'meta', text: size ? `Body of ${fmtBytes(size)} not captured.` : 'No body.' }));
      return wrap;
    }
    facts.push(fmtBytes(size));
    if (half.body_bytes !== size) facts.push(`${fmtBytes(half.body_bytes)} stored`);
    if (ct) facts.push(ct);
    if (half.body_encoding === 'base64') facts.push('binary');
    const meta = h('p', { class: 'meta', text: facts.join(' · ') });
    if (half.truncated) {
      meta.append(' ', h('span', { class: 'mark truncated', text: 'truncated' }),
                  ` HAProxy cut the body: ${fmtBytes(half.body_bytes)} of ${fmtBytes(size)} shown.`);
    }
    wrap.append(meta);

    if (half.body_encoding === 'base64') {
      wrap.append(binaryView(half.body));
      return wrap;
    }
    const text = half.body;
    const looksJson = /json/i.test(ct) || /^\s*[[{]/.test(text);
    if (looksJson) {
      try {
        wrap.append(h('pre', { class: 'code json', tabindex: '0', 'aria-label': 'JSON body' },
                      highlightJson(JSON.stringify(JSON.parse(text), null, 2))));
        return wrap;
      } catch (e) {
        if (/json/i.test(ct)) wrap.append(h('p', { class: 'meta', text: 'Not valid JSON; shown as text.' }));
      }
    }
    wrap.append(h('pre', { class: 'code', tabindex: '0', 'aria-label': 'Body', text }));
    return wrap;
  }

  // Pretty JSON as spans: keys, strings, numbers, literals. Text nodes only.
  function highlightJson(pretty) {
    const frag = document.createDocumentFragment();
    const re = /("(?:[^"\\]|\\.)*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;
    let last = 0;
    let m;
    while ((m = re.exec(pretty)) !== null) {
      if (m.index > last) frag.append(pretty.slice(last, m.index));
      if (m[1]) {
        frag.append(h('span', { class: m[2] ? 'j-key' : 'j-str', text: m[1] }));
        if (m[2]) frag.append(m[2]);
      } else if (m[3]) {
        frag.append(h('span', { class: 'j-lit', text: m[3] }));
      } else {
        frag.append(h('span', { class: 'j-num', text: m[4] }));
      }
      last = re.lastIndex;
    }
    frag.append(pretty.slice(last));
    return frag;
  }

  function hexDump(bytes) {
    const lines = [];
    const n = Math.min(bytes.length, HEX_LIMIT);
    for (let off = 0; off < n; off += 16) {
      const row = bytes.subarray(off, Math.min(off + 16, n));
      let hex = '';
      let ascii = '';
      for (let i = 0; i < 16; i++) {
        if (i < row.length) {
          hex += row[i].toString(16).padStart(2, '0') + ' ';
          ascii += row[i] >= 0x20 && row[i] < 0x7f ? String.fromCharCode(row[i]) : '.';
        } else {
          hex += '   ';
        }
        if (i === 7) hex += ' ';
      }
      lines.push(`${off.toString(16).padStart(8, '0')}  ${hex} |${ascii}|`);
    }
    if (bytes.length > n) lines.push(`… ${bytes.length - n} more bytes (download the exchange for all of them)`);
    return lines.join('\n');
  }

  function binaryView(b64) {
    let bytes;
    try {
      bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    } catch (e) {
      return h('pre', { class: 'code', text: b64 });
    }
    const pre = h('pre', { class: 'code hex', tabindex: '0', 'aria-label': 'Body, hex dump', text: hexDump(bytes) });
    const hexButton = h('button', { type: 'button', 'aria-pressed': 'true', text: 'Hex' });
    const b64Button = h('button', { type: 'button', 'aria-pressed': 'false', text: 'Base64' });
    const show = (hex) => {
      hexButton.setAttribute('aria-pressed', String(hex));
      b64Button.setAttribute('aria-pressed', String(!hex));
      pre.textContent = hex ? hexDump(bytes) : b64;
      pre.setAttribute('aria-label', hex ? 'Body, hex dump' : 'Body, base64');
      pre.classList.toggle('hex', hex);
    };
    hexButton.addEventListener('click', () => show(true));
    b64Button.addEventListener('click', () => show(false));
    return h('div', {}, h('div', { class: 'toggle', role: 'group', 'aria-label': 'Binary body view' }, hexButton, b64Button), pre);
  }

  function headersView(half, redacted) {
    if (!half.headers || half.headers.length === 0) return h('p', { class: 'meta', text: 'No headers.' });
    const body = h('tbody');
    for (const [name, value] of half.headers) {
      const masked = redacted.has(name) && value === '[REDACTED]';
      body.append(h('tr', {},
        h('th', { scope: 'row', text: name }),
        h('td', {}, masked ? h('span', { class: 'mark redacted', text: 'redacted' }) : value)));
    }
    return h('table', { class: 'headers' },
      h('thead', { class: 'visually-hidden' }, h('tr', {}, h('th', { scope: 'col', text: 'Name' }), h('th', { scope: 'col', text: 'Value' }))),
      body);
  }

  function halfSection(title, line, half, redacted, extra) {
    const section = h('section', { class: 'half', 'aria-label': title });
    section.append(h('h3', { text: title }));
    if (!half) {
      section.append(h('p', { class: 'meta', text: `No ${title.toLowerCase()}: its half never arrived.` }));
      return section;
    }
    section.append(h('p', { class: 'start-line' }, h('code', { text: line })));
    if (extra) section.append(h('p', { class: 'meta', text: extra }));
    section.append(h('h4', { text: 'Headers' }), headersView(half, redacted),
                   h('h4', { text: 'Body' }), bodyView(half));
    return section;
  }

  function openDetail(r, opener) {
    state.open = r;
    if (opener) state.opener = opener;
    for (const tr of tbody.querySelectorAll('tr[aria-current]')) tr.removeAttribute('aria-current');
    for (const tr of tbody.rows) {
      if (recordOf.get(tr) && recordKey(recordOf.get(tr)) === recordKey(r)) tr.setAttribute('aria-current', 'true');
    }
    const rq = r.request;
    const rs = r.response;
    const redacted = new Set((r.redacted || []).filter((n) => !n.startsWith('body:')));
    const host = headerValue(rq, 'host');
    const target = rq ? rq.path + (rq.query ? '?' + rq.query : '') : '';
    $('detail-title').textContent = rq ? `${rq.method} ${host}${target}` : `Response ${rs ? rs.status : ''}`;
    const meta = [recordTime(r), fmtDuration(r.duration_us), r.complete ? 'complete' : 'incomplete',
                  `source ${r.source}`, `id ${r.id}`];
    if (r.redacted && r.redacted.length) meta.push('redacted: ' + r.redacted.join(', '));
    $('detail-meta').textContent = meta.join(' · ');
    $('copy-state').textContent = '';
    $('copy-curl').disabled = !rq;
    const reqExtra = rq && rq.client && rq.client.ip ? `from ${rq.client.ip}:${rq.client.port}` +
                     (rq.frontend ? ` via ${rq.frontend}` : '') : (rq && rq.frontend ? `via ${rq.frontend}` : '');
    const resExtra = rs && (rs.backend || rs.server) ? `from ${[rs.backend, rs.server].filter(Boolean).join('/')}` : '';
    $('detail-body').replaceChildren(
      halfSection('Request', rq ? `${rq.method} ${target} HTTP/${rq.version}` : '', rq, redacted, reqExtra),
      halfSection('Response', rs ? `HTTP/${rs.version} ${rs.status} ${REASONS[rs.status] || ''}`.trim() : '', rs, redacted, resExtra));
    const pane = $('detail');
    pane.hidden = false;
    document.body.classList.add('detail-open');
    history.replaceState(null, '', location.pathname + location.search + '#x=' + encodeURIComponent(r.id));
    pane.scrollTop = 0;
    pane.focus({ preventScroll: true });
  }

  function closeDetail(restoreFocus = true) {
    if (!state.open) return;
    state.open = null;
    $('detail').hidden = true;
    document.body.classList.remove('detail-open');
    for (const tr of tbody.querySelectorAll('tr[aria-current]')) tr.removeAttribute('aria-current');
    history.replaceState(null, '', location.pathname + location.search);
    if (restoreFocus && state.opener && document.contains(state.opener)) state.opener.focus();
  }

  async function openFromHash() {
    const m = /^#x=(.+)$/.exec(location.hash);
    if (!m) return;
    const id = decodeURIComponent(m[1]);
    for (const tr of tbody.rows) {
      const r = recordOf.get(tr);
      if (r && r.id === id) { openDetail(r, tr.querySelector('a.open')); return; }
    }
    // "/events/stream" is the live route: that one id is asked for with an escaped letter.
    const segment = id === 'stream' ? '%73tream' : encodeURIComponent(id);
    const res = await api('/events/' + segment);
    if (res.ok) openDetail(await res.json(), null);
    else notice(`Exchange ${id} could not be read (${await errorOf(res)}).`);
  }

  // ---- the overview: GET /events/stats as a chart and a routes table ----------------------------

  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c) e.append(c);
    return e;
  }

  function fmtCount(n) {
    if (n < 1000) return String(n);
    if (n < 1e6) return (n / 1000).toFixed(n < 10000 ? 1 : 0) + 'k';
    return (n / 1e6).toFixed(1) + 'M';
  }

  function fmtShare(x) {
    if (!x) return '0%';
    return (x * 100).toFixed(x < 0.1 ? 1 : 0) + '%';
  }

  // "12:04" (or "12:04:05" for buckets under a minute), with the date when it is not today.
  function fmtBucketTime(iso, seconds) {
    const d = new Date(iso);
    const t = `${pad(d.getHours())}:${pad(d.getMinutes())}` + (seconds < 60 ? `:${pad(d.getSeconds())}` : '');
    return d.toDateString() === new Date().toDateString() ? t : `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${t}`;
  }

  // Refreshes soon: at once if the last refresh is STATS_EVERY old, else when it will be.
  function scheduleStats() {
    if (state.stats.timer || !state.stats.shown) return;
    const wait = Math.max(0, state.stats.last + STATS_EVERY - Date.now());
    state.stats.timer = setTimeout(() => { state.stats.timer = null; loadStats(); }, wait);
  }

  async function loadStats() {
    clearTimeout(state.stats.timer);
    state.stats.timer = null;
    if (!state.stats.shown) return;
    const generation = ++state.stats.generation;
    state.stats.last = Date.now();
    const meta = $('stats-meta');
    let res;
    try {
      res = await api('/events/stats?' + query(state.filters, {
        bucket: state.stats.bucket || null, sort: state.stats.sort, top: STATS_TOP }));
    } catch (e) {
      if (generation === state.stats.generation) meta.textContent = 'The overview could not be loaded.';
      return;
    }
    if (generation !== state.stats.generation) return;
    if (res.status === 400 && state.stats.bucket) {
      // A bucket too fine for this range (the agent makes at most 2000): let it choose.
      state.stats.bucket = '';
      $('bucket').value = '';
      loadStats();
      return;
    }
    if (!res.ok) {
      meta.textContent = `The overview could not be loaded (${await errorOf(res)}).`;
      return;
    }
    const data = await res.json();
    if (generation !== state.stats.generation) return;
    const t = data.totals;
    const facts = [`${fmtCount(t.count)} exchanges`, `${data.bucket} buckets`];
    if (t.p50_us !== null) facts.push(`p50 ${fmtDuration(t.p50_us)}`, `p99 ${fmtDuration(t.p99_us)}`);
    if (t['5xx'] + t.incomplete) facts.push(`${fmtShare((t['5xx'] + t.incomplete) / t.count)} errors`);
    if (data.partial) facts.push(`partial: the newest ${fmtCount(data.scanned)} stored exchanges only`);
    if (data.replica_only) facts.push('this replica only');
    meta.textContent = facts.join(' · ');
    meta.dataset.partial = String(data.partial);
    meta.dataset.total = String(t.count);
    drawChart(data);
    drawRoutes(data);
  }

  function drawChart(data) {
    // As wide as its box, so that the labels keep their size on a narrow screen.
    const W = Math.max(300, Math.round($('chart').clientWidth) || 800);
    const H = 180, L = 44, R = 52, T = 10, B = 22;
    state.stats.data = data;
    const buckets = data.buckets;
    const n = Math.max(buckets.length, 1);
    const step = (W - L - R) / n;
    const maxCount = Math.max(1, ...buckets.map((b) => b.count));
    const maxLat = Math.max(1, ...buckets.map((b) => b.p99_us || 0));
    const yl = (v) => T + (H - T - B) * (1 - v / maxLat);
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart-svg', role: 'group',
                              'aria-label': `Requests per ${data.bucket} by status class, and latency` });
    // Axes: the count on the left, the latency on the right, the first and last bucket below.
    root.append(
      svg('line', { x1: L, x2: W - R, y1: H - B, y2: H - B, class: 'axis' }),
      svg('text', { x: L - 6, y: T + 8, class: 'tick end', text: fmtCount(maxCount) }),
      svg('text', { x: L - 6, y: H - B, class: 'tick end', text: '0' }),
      svg('text', { x: W - R + 6, y: T + 8, class: 'tick lat', text: fmtDuration(maxLat) }));
    if (buckets.length) {
      root.append(
        svg('text', { x: L, y: H - 6, class: 'tick', text: fmtBucketTime(buckets[0].start, data.bucket_seconds) }),
        svg('text', { x: W - R, y: H - 6, class: 'tick end', text: fmtBucketTime(data.to, data.bucket_seconds) }));
    }
    buckets.forEach((b, i) => {
      const x = L + i * step;
      const g = svg('g', { class: 'chart-bar', tabindex: '0', role: 'button', 'data-start': b.start,
                           'data-count': b.count });
      const parts = CLASSES.filter((c) => b[c]).map((c) => `${b[c]} ${c === 'incomplete' ? 'without response' : c}`);
      const label = `${fmtBucketTime(b.start, data.bucket_seconds)}: ${b.count} exchanges` +
                    (parts.length ? ` (${parts.join(', ')})` : '') +
                    (b.p50_us !== null ? `, p50 ${fmtDuration(b.p50_us)}, p99 ${fmtDuration(b.p99_us)}` : '');
      g.setAttribute('aria-label', label);
      g.append(svg('title', { text: label }),
               svg('rect', { x, y: T, width: step, height: H - T - B, class: 'hit' }));
      let top = H - B;
      for (const c of CLASSES) {
        if (!b[c]) continue;
        const h = (H - T - B) * b[c] / maxCount;
        top -= h;
        g.append(svg('rect', { x: x + step * 0.1, y: top, width: Math.max(step * 0.8, 1), height: h, class: 'seg c-' + c }));
      }
      root.append(g);
    });
    // The latency lines, broken where a bucket has nothing timed.
    for (const p of ['p50_us', 'p99_us']) {
      let d = '';
      let pen = 'M';
      buckets.forEach((b, i) => {
        if (b[p] === null) { pen = 'M'; return; }
        d += `${pen}${(L + (i + 0.5) * step).toFixed(1)},${yl(b[p]).toFixed(1)} `;
        pen = 'L';
      });
      if (d) root.append(svg('path', { d, class: 'lat ' + p.slice(0, 3) }));
      // A lone point draws no line: mark each point too.
      buckets.forEach((b, i) => {
        if (b[p] !== null) root.append(svg('circle', { cx: L + (i + 0.5) * step, cy: yl(b[p]), r: 2.5, class: 'lat-dot ' + p.slice(0, 3) }));
      });
    }
    $('chart').replaceChildren(root);
    $('chart').dataset.bucketSeconds = data.bucket_seconds;
  }

  function drawRoutes(data) {
    const body = document.querySelector('#routes tbody');
    const rowsOut = data.routes.map((r) => {
      const name = r.route || (data.group === 'path' ? '(no request)' : '(none)');
      // Records without a request have no route, host or method to filter by.
      const link = !r.route ? h('span', { class: 'meta', text: name }) :
        h('a', { href: '#', class: 'route', text: name, title: `Show only ${name}`, onclick: (e) => {
          e.preventDefault();
          const f = Object.assign({}, state.filters);
          f[data.group === 'path' ? 'route' : data.group] = r.route;
          fillForm(f);
          applyFilters(f, true);
        } });
      return h('tr', {},
        h('td', { class: 'r-route' }, link),
        h('td', { class: 'r-num', text: fmtCount(r.count) }),
        h('td', { class: 'r-num' + (r.errors ? ' bad' : ''), text: fmtShare(r.error_share) }),
        h('td', { class: 'r-num', text: fmtDuration(r.p50_us) }),
        h('td', { class: 'r-num', text: fmtDuration(r.p99_us) }),
        h('td', { class: 'r-num r-bytes', text: fmtBytes(r.bytes) }));
    });
    if (rowsOut.length === 0) rowsOut.push(h('tr', {}, h('td', { colspan: '6', class: 'meta', text: 'Nothing in this selection.' })));
    body.replaceChildren(...rowsOut);
    for (const th of document.querySelectorAll('#routes th[data-sort]')) {
      th.setAttribute('aria-sort', th.dataset.sort === state.stats.sort ? 'descending' : 'none');
    }
  }

  // A bar narrows the filters to its bucket: since its start, until just before the next one.
  function zoomTo(bar) {
    const start = new Date(bar.dataset.start);
    const seconds = Number($('chart').dataset.bucketSeconds) || 60;
    const f = Object.assign({}, state.filters);
    f.since = start.toISOString();
    f.until = new Date(start.getTime() + seconds * 1000 - 1).toISOString();
    fillForm(f);
    applyFilters(f, true);
  }

  // ---- copy as curl, downloads ------------------------------------------------------------------

  function shellQuote(s) {
    return /^[A-Za-z0-9_\/.:=@%+,-]+$/.test(s) ? s : "'" + s.replace(/'/g, "'\\''") + "'";
  }

  function curlFor(r) {
    const rq = r.request;
    const host = headerValue(rq, 'host') || 'localhost';
    const url = `http://${host}${rq.path}${rq.query ? '?' + rq.query : ''}`;
    const hasBody = rq.body !== null && rq.body !== undefined && rq.body !== '';
    // The command and URL on the first line, then one header (or the body) a line.
    let first = 'curl';
    if (rq.method === 'HEAD') first += ' --head';
    else if (rq.method !== 'GET' || hasBody) first += ' -X ' + shellQuote(rq.method);
    const pieces = [first + ' ' + shellQuote(url)];
    const skip = new Set(['host', 'content-length', 'transfer-encoding', 'connection']);
    for (const [name, value] of rq.headers || []) {
      if (!skip.has(name)) pieces.push('-H ' + shellQuote(`${name}: ${value}`));
    }
    let prefix = '';
    if (hasBody && rq.body_encoding === 'base64') {
      prefix = `printf %s ${shellQuote(rq.body)} | base64 -d | `;
      pieces.push('--data-binary @-');
    } else if (hasBody) {
      pieces.push('--data-binary ' + shellQuote(rq.body));
    }
    const notes = [];
    if ((r.redacted || []).length) notes.push(`# redacted when captured: ${r.redacted.join(', ')}`);
    if (rq.truncated) notes.push('# the request body was truncated by the capture');
    return notes.concat(prefix + pieces.join(' \\\n  ')).join('\n');
  }

  async function copyText(text) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (e) {
      const area = h('textarea', { class: 'visually-hidden', readonly: true });
      area.value = text;
      document.body.append(area);
      area.select();
      let ok = false;
      try { ok = document.execCommand('copy'); } catch (err) { ok = false; }
      area.remove();
      return ok;
    }
  }

  async function downloadHar() {
    const button = $('har');
    button.disabled = true;
    try {
      const res = await api('/events.har?' + query(state.filters, { limit: HAR_LIMIT }));
      if (!res.ok) { notice(`The HAR export failed (${await errorOf(res)}).`); return; }
      download(await res.blob(), 'events.har');
    } finally {
      button.disabled = false;
    }
  }

  // ---- wiring ----------------------------------------------------------------------------------------

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!form.reportValidity()) return;
    applyFilters(filtersFromForm(), true);
  });
  $('clear').addEventListener('click', () => {
    fillForm({});
    state.stats.bucket = '';
    $('bucket').value = '';
    state.filters = {};
    applyFilters({}, true);
  });
  $('har').addEventListener('click', downloadHar);
  $('live').addEventListener('click', toggleLive);
  $('token-button').addEventListener('click', () => { askToken().then((got) => { if (got) reload(); }); });
  $('older').addEventListener('click', () => {
    if ($('older').dataset.action === 'head') reload();
    else loadPage(false);
  });
  $('close-detail').addEventListener('click', () => closeDetail());
  $('download-json').addEventListener('click', () => {
    const r = state.open;
    if (!r) return;
    const name = 'exchange-' + r.id.replace(/[^A-Za-z0-9._-]+/g, '_') + '.json';
    download(new Blob([JSON.stringify(r, null, 2) + '\n'], { type: 'application/json' }), name);
  });
  $('copy-curl').addEventListener('click', async () => {
    if (!state.open || !state.open.request) return;
    const text = curlFor(state.open);
    $('copy-curl').dataset.curl = text;
    $('copy-state').textContent = (await copyText(text)) ? 'curl command copied.' : 'Copying was refused by the browser.';
  });

  tbody.addEventListener('click', (e) => {
    const tr = e.target.closest('tr');
    if (!tr || !recordOf.get(tr)) return;
    if (e.target.closest('a')) e.preventDefault();
    if (e.ctrlKey || e.metaKey || e.shiftKey) return;
    openDetail(recordOf.get(tr), tr.querySelector('a.open'));
  });
  // Arrow keys move between rows (their links); Enter on a link opens it (a click).
  tbody.addEventListener('keydown', (e) => {
    const tr = e.target.closest('tr');
    if (!tr) return;
    let to = null;
    if (e.key === 'ArrowDown') to = tr.nextElementSibling;
    else if (e.key === 'ArrowUp') to = tr.previousElementSibling;
    else if (e.key === 'Home') to = tbody.rows[0];
    else if (e.key === 'End') to = tbody.rows[tbody.rows.length - 1];
    if (!to) return;
    e.preventDefault();
    to.querySelector('a.open').focus();
    if (state.open) openDetail(recordOf.get(to), to.querySelector('a.open'));
    to.querySelector('a.open').focus();
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && state.open && !$('token-dialog').open) {
      closeDetail();
    } else if (e.key === '/' && !/^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName)) {
      e.preventDefault();
      form.path.focus();
    }
  });
  $('chart').addEventListener('click', (e) => {
    const bar = e.target.closest('.chart-bar');
    if (bar) zoomTo(bar);
  });
  $('chart').addEventListener('keydown', (e) => {
    const bar = e.target.closest('.chart-bar');
    if (bar && (e.key === 'Enter' || e.key === ' ')) { e.preventDefault(); zoomTo(bar); }
  });
  for (const th of document.querySelectorAll('#routes th[data-sort]')) {
    th.querySelector('button').addEventListener('click', () => {
      state.stats.sort = th.dataset.sort;
      loadStats();
    });
  }
  let resizing = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => { if (state.stats.data) drawChart(state.stats.data); }, 150);
  });
  $('bucket').addEventListener('change', () => {
    state.stats.bucket = $('bucket').value;
    applyFilters(state.filters, true);
  });
  $('stats-toggle').addEventListener('click', () => {
    const shown = !state.stats.shown;
    state.stats.shown = shown;
    $('overview-body').hidden = !shown;
    $('stats-toggle').setAttribute('aria-expanded', String(shown));
    $('stats-toggle').textContent = shown ? 'Hide' : 'Show';
    if (shown) loadStats();
    else $('stats-meta').textContent = '';
  });

  function bucketFromUrl() {
    const b = new URLSearchParams(location.search).get('bucket') || '';
    state.stats.bucket = /^[0-9]+[smhd]$/.test(b) ? b : '';
    const select = $('bucket');
    if (state.stats.bucket && ![...select.options].some((o) => o.value === state.stats.bucket)) {
      select.append(h('option', { text: state.stats.bucket }));
    }
    select.value = state.stats.bucket;
  }

  window.addEventListener('popstate', () => {
    bucketFromUrl();
    state.filters = filtersFromUrl();
    fillForm(state.filters);
    closeDetail(false);
    reload();
  });

  bucketFromUrl();
  state.filters = filtersFromUrl();
  fillForm(state.filters);
  state.generation++;
  loadStats();
  loadPage(true).then(() => {
    openFromHash();
    startStream();
  });
})();
