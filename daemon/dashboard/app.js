// nexusd dashboard: polls /status and /api every 2 s; every value is shown as text (never
// parsed as HTML). Actions send the bearer token kept in sessionStorage.
'use strict';

var POLL_MS = 2000;
var WINDOW_S = 300;       // throughput chart: last 5 minutes
var LIST_LIMIT = 50;      // retry, scheduled and dead jobs shown
var ARGS_SHOWN = 120;     // characters of a job's args in a cell (more on hover)
var ARGS_TITLE = 2000;    // characters of them on hover
var TOKEN_KEY = 'nexusd.token';

var state = {
  readOnly: true,         // the server has no token configured
  tokenOk: false,         // the token given was accepted
  samples: [],            // {t, processed, failed} from each poll
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

// ---- throughput ----

function sample(s) {
  var c = s.counts || {};
  if (typeof c.processed !== 'number') return;
  state.samples.push({ t: Date.now() / 1000, processed: c.processed, failed: c.failed || 0 });
  var cut = Date.now() / 1000 - WINDOW_S - POLL_MS / 1000;
  while (state.samples.length > 2 && state.samples[0].t < cut) state.samples.shift();
}

function svg(tag, attrs) {
  var e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
  return e;
}

function renderChart() {
  var W = 600, H = 140, PAD = 28;
  var pts = [];
  for (var i = 1; i < state.samples.length; i++) {
    var a = state.samples[i - 1], b = state.samples[i], dt = b.t - a.t;
    if (dt <= 0) continue;
    pts.push({ t: b.t, p: Math.max(0, (b.processed - a.processed) / dt),
               f: Math.max(0, (b.failed - a.failed) / dt) });
  }
  var max = 1;
  pts.forEach(function (x) { max = Math.max(max, x.p, x.f); });
  var now = Date.now() / 1000;
  var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, preserveAspectRatio: 'xMinYMid meet',
                          role: 'img', 'aria-label': 'jobs per second' });
  [0, 0.5, 1].forEach(function (f) {
    var y = PAD / 2 + (H - PAD) * (1 - f);
    root.appendChild(svg('line', { x1: PAD, x2: W, y1: y, y2: y, 'class': 'grid' }));
    var label = svg('text', { x: 2, y: y + 3 });
    label.textContent = (max * f).toFixed(max * f < 10 ? 1 : 0);
    root.appendChild(label);
  });
  function line(key, cls) {
    if (pts.length < 1) return;
    var d = pts.map(function (x, j) {
      var px = PAD + (W - PAD) * (1 - (now - x.t) / WINDOW_S);
      var py = PAD / 2 + (H - PAD) * (1 - x[key] / max);
      return (j ? 'L' : 'M') + px.toFixed(1) + ' ' + py.toFixed(1);
    }).join(' ');
    root.appendChild(svg('path', { d: d, 'class': cls }));
  }
  line('p', 'processed');
  line('f', 'failed');
  var legend = svg('text', { x: W - 170, y: 12 });
  var last = pts.length ? pts[pts.length - 1] : { p: 0, f: 0 };
  legend.textContent = 'processed ' + last.p.toFixed(1) + '/s   failed ' + last.f.toFixed(1) + '/s';
  root.appendChild(legend);
  $('chart').replaceChildren(root);
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
    sample(s);
    renderSummary(s);
    renderChart();
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
  checkAuth().then(refresh);
  setInterval(refresh, POLL_MS);
});
