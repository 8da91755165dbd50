// nexusd dashboard: polls /status and /api every 2 s, /api/metrics every 10 s; every value is
// shown as text (never parsed as HTML). Actions send the bearer token kept in sessionStorage.
'use strict';

var POLL_MS = 2000;
var METRICS_MS = 10000;   // the metrics' history (the server keeps a read for 5 s)
var LIST_LIMIT = 50;      // retry, scheduled and dead jobs shown
var ARGS_SHOWN = 120;     // characters of a job's args in a cell (more on hover)
var ARGS_TITLE = 2000;    // characters of them on hover
var TOKEN_KEY = 'nexusd.token';

var state = {
  readOnly: true,         // the server has no token configured
  tokenOk: false,         // the token given was accepted
  window: 'hour',         // the metrics' window: 'hour' or 'day'
  metrics: null,          // the last /api/metrics answer
  busy: false,
};

function $(id) { return document.getElementById(id); }

function el(tag, cls, text) {
  var e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

function canAct() { return !state.readOnly && state.tokenOk; }

// Epoch seconds of a job time: Sidekiq 8 writes milliseconds.
function secs(t) {
  if (typeof t !== 'number' || !isFinite(t) || t <= 0) return null;
  return t > 1e11 ? t / 1000 : t;
}

function duration(s) {
  if (s === null || !isFinite(s)) return '-';
  s = Math.abs(s);
  if (s < 10) return s.toFixed(1) + 's';
  if (s < 60) return Math.round(s) + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm ' + Math.round(s % 60) + 's';
  if (s < 86400) return Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
  return Math.floor(s / 86400) + 'd ' + Math.floor((s % 86400) / 3600) + 'h';
}

function when(t) {
  t = secs(t);
  if (t === null) return '-';
  var d = t - Date.now() / 1000;
  return d >= 0 ? 'in ' + duration(d) : duration(-d) + ' ago';
}

function timeCell(t) {
  var td = el('td', null, when(t));
  var s = secs(t);
  if (s !== null) td.title = new Date(s * 1000).toISOString();
  return td;
}

function showError(msg) {
  var p = $('error');
  p.textContent = msg || '';
  p.hidden = !msg;
}

function notice(msg) {
  var p = $('notice');
  p.textContent = msg;
  p.hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(function () { p.hidden = true; }, 4000);
}

function fetchJSON(path, opts) {
  opts = opts || {};
  var headers = { 'Accept': 'application/json' };
  if (opts.auth && token()) headers['Authorization'] = 'Bearer ' + token();
  if (opts.method && opts.method !== 'GET') headers['Content-Type'] = 'application/json';
  return fetch(path, {
    method: opts.method || 'GET',
    headers: headers,
    body: opts.method && opts.method !== 'GET' ? '{}' : undefined,
    credentials: 'omit',
    cache: 'no-store',
  }).then(function (res) {
    return res.text().then(function (text) {
      var body = null;
      try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
      if (!res.ok) {
        var why = body && body.error ? body.error : res.status + ' ' + res.statusText;
        var err = new Error(path + ': ' + why);
        err.status = res.status;
        throw err;
      }
      return body;
    });
  });
}

// Rebuilds a table body from rows (arrays of cells); `empty` when there are none.
function fill(tableId, rows, empty) {
  var tbody = $(tableId).tBodies[0];
  var cols = $(tableId).tHead.rows[0].cells.length;
  var frag = document.createDocumentFragment();
  if (rows.length === 0) {
    var tr = el('tr');
    var td = el('td', 'empty', empty);
    td.colSpan = cols;
    tr.appendChild(td);
    frag.appendChild(tr);
  }
  rows.forEach(function (cells) {
    var tr = el('tr');
    cells.forEach(function (c) { tr.appendChild(c instanceof Node ? c : el('td', null, c)); });
    frag.appendChild(tr);
  });
  tbody.replaceChildren(frag);
}

function actionButton(label, title, cls, confirmText, run) {
  var b = el('button', cls, label);
  b.type = 'button';
  b.title = canAct() ? title : (state.readOnly ? 'read-only: no token is configured on the server'
                                               : 'enter the token to enable actions');
  b.disabled = !canAct();
  b.dataset.action = label.toLowerCase();
  b.addEventListener('click', function () {
    if (confirmText && !window.confirm(confirmText)) return;
    b.disabled = true;
    run().then(function (msg) {
      notice(msg);
      refresh();
    }).catch(function (e) {
      showError(e.message);
      if (e.status === 401) checkAuth();
      refresh();
    });
  });
  return b;
}

function act(method, path, msg) {
  return function () {
    return fetchJSON(path, { method: method, auth: true }).then(function () { return msg; });
  };
}

function enc(s) { return encodeURIComponent(s); }

// " … (N bytes)" after an excerpt the server cut from a text of `size` bytes.
function cutText(size) {
  return typeof size === 'number' ? ' … (' + size + ' bytes)' : '';
}

function errorCell(job) {
  var td = el('td', 'error');
  if (job.error_class) td.appendChild(el('span', 'cls', job.error_class));
  if (job.error_class && job.error_message) td.appendChild(document.createTextNode(': '));
  if (job.error_message)
    td.appendChild(el('span', null, job.error_message + cutText(job.error_message_size)));
  if (!job.error_class && !job.error_message && job.invalid)
    td.appendChild(el('span', null, 'invalid job: ' + job.invalid));
  if (!job.error_message && job.excerpt)
    td.appendChild(el('span', 'excerpt', ' ' + excerptText(job)));
  return td;
}

// A job shown in part (too large to read whole, or cut before it reached dead).
function excerptText(job) {
  var size = typeof job.original_size === 'number' ? job.original_size : job.size;
  return '(job of ' + size + ' bytes, shown in part) ' + job.excerpt + ' …';
}

function argsText(job) {
  if (job.args_excerpt) return job.args_excerpt + cutText(job.args_size);
  if (job.args === undefined || job.args === null) return '';
  try { return JSON.stringify(job.args); } catch (e) { return ''; }
}

function clip(s, max) { return s.length > max ? s.slice(0, max) + '…' : s; }

// "(n)", or "(shown of size)" when the list is longer than the page shows.
function countText(id, list) {
  $(id).textContent = list.size > list.jobs.length
    ? '(' + list.jobs.length + ' of ' + list.size + ')' : '(' + list.size + ')';
}

function jidCell(jid) {
  var td = el('td', 'mono', jid || '-');
  if (jid) td.dataset.jid = jid;
  return td;
}

// A job shown in part may show no jid: nothing to act on from here (nexusctl can).
function actionsFor(j, td) {
  if (!j.jid)
    Array.prototype.forEach.call(td.querySelectorAll('button'), function (b) {
      b.disabled = true;
      b.title = 'no jid in the part of the job read';
    });
  return td;
}

// ---- sections ----

function renderSummary(s) {
  var c = s.counts || {};
  var busy = 0, conc = 0;
  (s.processes || []).forEach(function (p) { busy += p.busy || 0; conc += p.concurrency || 0; });
  var cards = [
    ['Processed', c.processed], ['Failed', c.failed], ['Enqueued', c.enqueued],
    ['Busy', busy + ' / ' + conc], ['Scheduled', c.scheduled], ['Retries', c.retry],
    ['Dead', c.dead], ['Processes', (s.processes || []).length],
  ];
  var frag = document.createDocumentFragment();
  cards.forEach(function (kv) {
    var d = el('div', 'card');
    d.appendChild(el('div', 'label', kv[0]));
    var v = el('div', 'value', kv[1] === undefined ? '-' : kv[1]);
    v.id = 'count-' + kv[0].toLowerCase();
    d.appendChild(v);
    frag.appendChild(d);
  });
  $('summary').replaceChildren(frag);
}

function renderQueues(s, paused) {
  var seen = {};
  var queues = (s.queues || []).slice();
  queues.forEach(function (q) { seen[q.name] = true; });
  paused.forEach(function (name) {
    if (!seen[name]) queues.push({ name: name, size: 0, latency: 0 });
  });
  fill('queues', queues.map(function (q) {
    var isPaused = paused.indexOf(q.name) >= 0;
    var size = el('td', 'num', q.size);
    size.dataset.queue = q.name;
    size.className = 'num queue-size';
    var stateCell = el('td');
    stateCell.appendChild(el('span', 'badge ' + (isPaused ? 'paused' : 'active'),
                             isPaused ? 'paused' : 'active'));
    var actions = el('td', 'actions');
    actions.appendChild(isPaused
      ? actionButton('Resume', 'take jobs of this queue again', null, null,
                     act('POST', '/api/queues/' + enc(q.name) + '/resume', 'resumed ' + q.name))
      : actionButton('Pause', 'stop every process from taking jobs of this queue', null, null,
                     act('POST', '/api/queues/' + enc(q.name) + '/pause', 'paused ' + q.name)));
    return [el('td', 'mono', q.name), size, el('td', 'num', duration(q.latency || 0)), stateCell,
            actions];
  }), 'no queues');
}

function renderProcesses(s) {
  var now = Date.now() / 1000;
  fill('processes', (s.processes || []).map(function (p) {
    var b = secs(p.beat);
    return [el('td', 'mono', p.identity), p.hostname || '-', el('td', 'num', p.pid || '-'),
            el('td', 'num', (p.busy || 0) + ' / ' + (p.concurrency || '-')),
            (p.queues || []).join(', '), timeCell(p.started_at),
            b === null ? '-' : duration(now - b) + ' ago', p.quiet ? 'quiet' : 'running'];
  }), 'no live processes');
}

function renderJobs(s) {
  var now = Date.now() / 1000;
  $('jobs-note').textContent = s.jobs_truncated ? '(first ' + (s.jobs || []).length + ' shown)' : '';
  fill('jobs', (s.jobs || []).map(function (j) {
    var run = secs(j.run_at);
    // args cut to an excerpt (longer with the token), or not listed at all when too large
    var args = el('td', 'args mono', j.args_truncated && !j.args_excerpt
      ? '(too large to show)' : argsText(j));
    args.title = args.textContent;
    return [el('td', 'mono', j.jid || '-'), j['class'] || '-', j.queue || '-', args,
            run === null ? '-' : duration(now - run), el('td', 'mono', j.process || '-')];
  }), 'no jobs running');
}

function renderRetry(list) {
  countText('retry-count', list);
  fill('retry', list.jobs.map(function (j) {
    var actions = el('td', 'actions');
    actions.appendChild(actionButton('Run now', 'push it to its queue now', null, null,
      act('POST', '/api/retry/' + enc(j.jid) + '/run', 'job ' + j.jid + ' pushed to ' + j.queue)));
    actions.appendChild(document.createTextNode(' '));
    actions.appendChild(actionButton('Delete', 'delete the job', 'danger',
      'Delete job ' + j.jid + '?',
      act('DELETE', '/api/retry/' + enc(j.jid), 'job ' + j.jid + ' deleted')));
    var tr = [jidCell(j.jid), j['class'] || '-', j.queue || '-',
              el('td', 'num', j.retry_count === null ? '-' : j.retry_count), timeCell(j.score),
              errorCell(j), actionsFor(j, actions)];
    return tr;
  }), 'no jobs waiting for a retry');
}

// Jobs pushed to run later (perform_in / perform_at): the score is when they are due.
function renderScheduled(list) {
  countText('scheduled-count', list);
  fill('scheduled', list.jobs.map(function (j) {
    var actions = el('td', 'actions');
    actions.appendChild(actionButton('Run now', 'push it to its queue now', null, null,
      act('POST', '/api/scheduled/' + enc(j.jid) + '/run',
          'job ' + j.jid + ' pushed to ' + j.queue)));
    actions.appendChild(document.createTextNode(' '));
    actions.appendChild(actionButton('Delete', 'delete the job', 'danger',
      'Delete scheduled job ' + j.jid + '?',
      act('DELETE', '/api/scheduled/' + enc(j.jid), 'job ' + j.jid + ' deleted')));
    var text = j.invalid ? 'invalid job: ' + j.invalid
             : j.args_excerpt || j.args ? argsText(j) : j.excerpt ? excerptText(j) : '';
    var args = el('td', 'args mono', clip(text, ARGS_SHOWN));
    args.title = clip(text, ARGS_TITLE);
    return [jidCell(j.jid), j['class'] || '-', j.queue || '-', args, timeCell(j.score),
            actionsFor(j, actions)];
  }), 'no scheduled jobs');
}

function renderDead(list) {
  countText('dead-count', list);
  fill('dead', list.jobs.map(function (j) {
    var actions = el('td', 'actions');
    actions.appendChild(actionButton('Retry', 'push it to its queue for one more attempt', null,
      null, act('POST', '/api/dead/' + enc(j.jid) + '/retry',
                'job ' + j.jid + ' pushed to ' + j.queue)));
    actions.appendChild(document.createTextNode(' '));
    actions.appendChild(actionButton('Delete', 'delete the job', 'danger',
      'Delete dead job ' + j.jid + '?',
      act('DELETE', '/api/dead/' + enc(j.jid), 'job ' + j.jid + ' deleted')));
    return [jidCell(j.jid), j['class'] || '-', j.queue || '-',
            el('td', 'num', j.retry_count === null ? '-' : j.retry_count), timeCell(j.score),
            errorCell(j), actionsFor(j, actions)];
  }), 'no dead jobs');
}

function renderSchedules(s) {
  fill('schedules', (s.schedules || []).map(function (c) {
    var actions = el('td', 'actions');
    actions.appendChild(actionButton('Run now', 'push its job now (its ticks go on)', null, null,
      act('POST', '/api/schedules/' + enc(c.name) + '/run', 'schedule ' + c.name + ' run')));
    return [el('td', 'mono', c.name), el('td', 'mono', c.cron), c.tz, c['class'], c.queue,
            timeCell(c.last_fire), timeCell(c.next_fire), actions];
  }), 'no schedules in the configuration');
}

// ---- history: throughput, classes, queue latency (/api/metrics) ----

var PALETTE = ['#2563eb', '#d97706', '#059669', '#7c3aed', '#db2777', '#0891b2', '#65a30d',
               '#dc2626'];

function svg(tag, attrs) {
  var e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
  return e;
}

function svgText(x, y, text, anchor) {
  var t = svg('text', { x: x, y: y, 'text-anchor': anchor || 'start' });
  t.textContent = text;
  return t;
}

function ms(v) {
  if (v === null || v === undefined || !isFinite(v)) return '-';
  if (v < 0.3) return '<0.3ms'; // the first bucket: anything under 0.25 ms
  if (v < 1) return v.toFixed(2) + 'ms';
  if (v < 1000) return (v < 10 ? v.toFixed(1) : Math.round(v)) + 'ms';
  if (v < 60000) return (v / 1000).toFixed(v < 10000 ? 2 : 1) + 's';
  return duration(v / 1000);
}

function rate(v) { return v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v); }

function clock(t) {
  var d = new Date(t * 1000);
  return ('0' + d.getHours()).slice(-2) + ':' + ('0' + d.getMinutes()).slice(-2);
}

// A line chart as wide as its box: `lines` are {values (null: a gap), color, label}, one value
// per slot of `m` (the /api/metrics answer); `fmt` writes a value for the axis.
function lineChart(box, m, lines, fmt, label) {
  var W = Math.max(300, Math.floor(box.clientWidth - 14)), H = 170, L = 52, B = 20, T = 16;
  var max = 0;
  lines.forEach(function (l) {
    l.values.forEach(function (v) { if (v !== null && v > max) max = v; });
  });
  if (max <= 0) max = 1;
  var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, role: 'img',
                          'aria-label': label });
  var n = m.slots, step = (W - L - 4) / Math.max(1, n - 1);
  [0, 0.5, 1].forEach(function (f) {
    var y = T + (H - T - B) * (1 - f);
    root.appendChild(svg('line', { x1: L, x2: W, y1: y, y2: y, 'class': 'grid' }));
    root.appendChild(svgText(L - 4, y + 3, fmt(max * f), 'end'));
  });
  for (var i = 0; i < n; i += Math.max(1, Math.round(n / 6))) {
    root.appendChild(svgText(L + i * step, H - 5, clock(m.from + i * m.width_s), 'middle'));
  }
  lines.forEach(function (l, k) {
    var d = '', pen = 'M';
    var dots = [];
    l.values.forEach(function (v, j) {
      if (v === null) { pen = 'M'; return; }
      var x = L + j * step, y = T + (H - T - B) * (1 - v / max);
      d += pen + x.toFixed(1) + ' ' + y.toFixed(1) + ' ';
      pen = 'L';
      if (v > 0) dots.push(svg('circle', { cx: x, cy: y, r: 2.2, fill: l.color }));
    });
    if (d) root.appendChild(svg('path', { d: d, fill: 'none', stroke: l.color,
                                          'stroke-width': 1.8, 'class': 'series' }));
    dots.forEach(function (c) { root.appendChild(c); });
    var lx = W - 10 - (lines.length - k) * 130;
    root.appendChild(svg('rect', { x: lx, y: 3, width: 10, height: 3, fill: l.color }));
    root.appendChild(svgText(lx + 14, 9, clip(l.label, 18)));
  });
  box.replaceChildren(root);
}

// Jobs per second in each slot; the current slot counts only the seconds gone by.
function perSecond(m, counts) {
  var now = Date.now() / 1000;
  return counts.map(function (c, i) {
    var start = m.from + i * m.width_s;
    var span = Math.min(m.width_s, Math.max(1, now - start));
    return c / span;
  });
}

function renderThroughput(m) {
  var t = m.throughput || { processed: [], failed: [] };
  $('throughput-note').textContent = '(jobs per second, per ' +
    (m.width_s >= 60 ? m.width_s / 60 + ' min' : m.width_s + ' s') + ', all processes)';
  lineChart($('chart'), m, [
    { values: perSecond(m, t.processed), color: PALETTE[0], label: 'processed' },
    { values: perSecond(m, t.failed), color: '#b91c1c', label: 'failed' },
  ], rate, 'jobs per second');
}

function renderQueueLatency(m) {
  var queues = m.queues || [];
  if (queues.length === 0) {
    $('latency-chart').replaceChildren(el('p', 'muted', 'no jobs started in this window'));
    return;
  }
  lineChart($('latency-chart'), m, queues.slice(0, PALETTE.length).map(function (q, k) {
    return { values: q.latency_ms, color: PALETTE[k], label: q.queue };
  }), ms, 'queue latency');
}

function spark(values) {
  var W = 120, H = 24, max = 1;
  values.forEach(function (v) { if (v > max) max = v; });
  var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, 'class': 'spark' });
  var w = W / Math.max(1, values.length);
  values.forEach(function (v, i) {
    if (!v) return;
    var h = Math.max(1, (H - 1) * v / max);
    root.appendChild(svg('rect', { x: (i * w).toFixed(2), y: (H - h).toFixed(2),
                                   width: Math.max(1, w - 0.5).toFixed(2), height: h.toFixed(2) }));
  });
  return root;
}

// A p50 / p95 / p99 bar on a log scale from lo to hi (ms), with the values beside it.
function rangeCell(q, lo, hi) {
  var td = el('td', 'range');
  if (!q || q.p50 === null) { td.textContent = '-'; return td; }
  var W = 140, H = 14;
  function x(v) {
    var f = (Math.log(Math.max(v, lo)) - Math.log(lo)) / Math.max(1e-9, Math.log(hi) - Math.log(lo));
    return 3 + (W - 6) * Math.min(1, Math.max(0, f));
  }
  var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H });
  root.appendChild(svg('line', { x1: 0, x2: W, y1: H / 2, y2: H / 2, 'class': 'grid' }));
  root.appendChild(svg('line', { x1: x(q.p95), x2: x(q.p99), y1: H / 2, y2: H / 2,
                                 'class': 'whisker' }));
  root.appendChild(svg('rect', { x: x(q.p50), y: 3, width: Math.max(2, x(q.p95) - x(q.p50)),
                                 height: H - 6, 'class': 'box' }));
  root.appendChild(svg('circle', { cx: x(q.p50), cy: H / 2, r: 3.5, 'class': 'median' }));
  td.appendChild(root);
  td.appendChild(el('span', 'mono', ' ' + ms(q.p50) + ' · ' + ms(q.p95) + ' · ' + ms(q.p99)));
  return td;
}

// The log scale's ends over every class's percentiles of `key`.
function bounds(classes, key) {
  var lo = Infinity, hi = 0;
  classes.forEach(function (c) {
    var q = c[key];
    if (!q || q.p50 === null) return;
    lo = Math.min(lo, q.p50);
    hi = Math.max(hi, q.p99);
  });
  if (!isFinite(lo)) return [1, 10];
  lo = Math.pow(10, Math.floor(Math.log10(Math.max(lo, 0.01))));
  hi = Math.pow(10, Math.ceil(Math.log10(Math.max(hi, lo * 10))));
  return [lo, hi];
}

function failedCell(c) {
  var td = el('td', 'num failed');
  var W = 50, H = 8, root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H });
  root.appendChild(svg('rect', { x: 0, y: 0, width: W, height: H, 'class': 'track' }));
  if (c.failure_rate > 0)
    root.appendChild(svg('rect', { x: 0, y: 0, width: Math.max(1, W * c.failure_rate), height: H,
                                   'class': 'bad' }));
  td.appendChild(el('span', null, c.failed + ' (' + (100 * c.failure_rate).toFixed(1) + '%) '));
  td.appendChild(root);
  return td;
}

function renderClasses(m) {
  var classes = m.classes || [];
  $('classes-note').textContent = '(last ' + m.window + (m.classes_truncated
    ? ', the ' + classes.length + ' busiest of ' + m.classes_total : '') + ')';
  var d = bounds(classes, 'duration_ms'), l = bounds(classes, 'latency_ms');
  fill('classes', classes.map(function (c) {
    var name = el('td', 'mono', c['class']);
    name.dataset['class'] = c['class'];
    var jobs = el('td', 'num class-jobs', c.jobs);
    jobs.dataset['class'] = c['class'];
    var over = el('td');
    over.appendChild(spark(c.series || []));
    return [name, jobs, over, failedCell(c), rangeCell(c.duration_ms, d[0], d[1]),
            rangeCell(c.latency_ms, l[0], l[1])];
  }), 'no jobs finished in this window');
}

function renderMetrics() {
  var m = state.metrics;
  if (!m) return;
  renderThroughput(m);
  renderClasses(m);
  renderQueueLatency(m);
  Array.prototype.forEach.call(document.querySelectorAll('button.win'), function (b) {
    b.setAttribute('aria-pressed', String(b.dataset.window === state.window));
  });
  document.body.dataset.metrics = m.window;
}

function refreshMetrics() {
  var want = state.window;
  return fetchJSON('/api/metrics?window=' + want).then(function (m) {
    if (want !== state.window) return;
    state.metrics = m;
    renderMetrics();
  }).catch(function (e) { showError('metrics: ' + e.message); });
}

// ---- auth and polling ----

function renderMode() {
  var m = $('mode');
  if (state.readOnly) {
    m.textContent = 'read-only';
    m.className = 'badge ro';
    m.title = 'no token is configured on the server: actions are disabled';
  } else if (state.tokenOk) {
    m.textContent = 'actions enabled';
    m.className = 'badge rw';
    m.title = '';
  } else {
    m.textContent = token() ? 'token refused' : 'read-only until a token is given';
    m.className = 'badge ro';
    m.title = '';
  }
  $('token').disabled = state.readOnly;
  $('token-save').disabled = state.readOnly;
}

function checkAuth() {
  return fetchJSON('/api/auth', { auth: true }).then(function (a) {
    state.readOnly = !!a.read_only;
    state.tokenOk = a.token === 'ok';
    renderMode();
  }).catch(function (e) { showError(e.message); });
}

function refresh() {
  if (state.busy) return Promise.resolve();
  state.busy = true;
  var lists = Promise.all([
    fetchJSON('/api/paused'),
    // with the token, long texts come as longer excerpts
    fetchJSON('/api/retry?limit=' + LIST_LIMIT, { auth: true }),
    fetchJSON('/api/scheduled?limit=' + LIST_LIMIT, { auth: true }),
    fetchJSON('/api/dead?limit=' + LIST_LIMIT, { auth: true }),
  ]);
  return Promise.all([fetchJSON('/status', { auth: true }), lists]).then(function (r) {
    var s = r[0], paused = r[1][0].paused || [];
    renderSummary(s);
    renderQueues(s, paused);
    renderProcesses(s);
    renderJobs(s);
    renderRetry(r[1][1]);
    renderScheduled(r[1][2]);
    renderDead(r[1][3]);
    renderSchedules(s);
    $('refresh').textContent = 'updated ' + new Date().toLocaleTimeString();
    document.body.dataset.loaded = 'true';
    if ($('error').dataset.poll) { showError(''); delete $('error').dataset.poll; }
  }).catch(function (e) {
    showError('refresh failed: ' + e.message);
    $('error').dataset.poll = '1';
  }).then(function () { state.busy = false; });
}

document.addEventListener('DOMContentLoaded', function () {
  $('token').value = token();
  $('token-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
    showError('');
    checkAuth().then(refresh);
  });
  $('token-clear').addEventListener('click', function () {
    sessionStorage.removeItem(TOKEN_KEY);
    $('token').value = '';
    checkAuth().then(refresh);
  });
  Array.prototype.forEach.call(document.querySelectorAll('button.win'), function (b) {
    b.addEventListener('click', function () {
      state.window = b.dataset.window;
      refreshMetrics();
    });
  });
  window.addEventListener('resize', renderMetrics);
  checkAuth().then(refresh);
  refreshMetrics();
  setInterval(refresh, POLL_MS);
  setInterval(refreshMetrics, METRICS_MS);
});
