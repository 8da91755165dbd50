// The dashboard in a real headless chromium (Debian's), driven by playwright-core.
// Run by tests/integration/test_dashboard.py, which starts redis-server and nexusd and
// checks Redis before and after. Environment:
//   DASHBOARD_URL   the page, e.g. http://127.0.0.1:40123/
//   SCENARIO        "readonly", "retry", "scheduled", "bounds" or "metrics"
//   TOKEN           the bearer token (retry, scheduled)
//   QUEUE, QUEUE_SIZE   a queue and the size the page must show for it
//   DEAD_JID        a dead job to retry from the page (retry)
//   SCHEDULED_JID, SCHEDULED_ARGS   a scheduled job to run now from the page and the text
//                   its args cell must show (scheduled)
//   LONG_JID, LONG_SIZE   a dead job whose error message of LONG_SIZE bytes is cut (bounds)
//   PART_SIZE       the size of a dead job shown in part, without its jid (bounds)
//   METRICS_CLASS, METRICS_JOBS, METRICS_FAILED   a class and the attempts and failures the
//                   metrics must show for it over the last hour and day (metrics)
//   CHROMIUM        the browser (default /usr/bin/chromium); SCREENSHOT: a PNG path
// Prints one line "ok SCENARIO" on success; exits 1 with the reason otherwise.
import { chromium } from 'playwright-core';

const env = process.env;
const url = env.DASHBOARD_URL;
const timeout = 20000;
let expected403 = false;

function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
}

async function queueSize(page, queue) {
  const cell = page.locator('#queues td.queue-size[data-queue="' + queue + '"]');
  await cell.waitFor({ timeout });
  return Number(await cell.textContent());
}

async function waitQueueSize(page, queue, want) {
  const deadline = Date.now() + timeout;
  let got;
  while (Date.now() < deadline) {
    got = await queueSize(page, queue);
    if (got === want) return;
    await page.waitForTimeout(200);
  }
  throw new Error('queue ' + queue + ' shows ' + got + ', want ' + want);
}

async function readonly(page) {
  await page.locator('#mode', { hasText: 'read-only' }).waitFor({ timeout });
  const buttons = page.locator('main button[data-action]');
  await buttons.first().waitFor({ timeout });
  const n = await buttons.count();
  for (let i = 0; i < n; i++)
    check(await buttons.nth(i).isDisabled(), 'button ' + i + ' is disabled in read-only mode');
  check(await page.locator('#token').isDisabled(), 'the token field is disabled');
  // the API itself refuses, whatever the page shows (the browser logs that 403)
  expected403 = true;
  const status = await page.evaluate(async (q) => {
    const r = await fetch('/api/queues/' + q + '/pause', {
      method: 'POST', headers: { Authorization: 'Bearer whatever-token-0123456789' } });
    return r.status;
  }, env.QUEUE);
  check(status === 403, 'POST without a configured token is 403 (got ' + status + ')');
}

async function retry(page) {
  const jid = env.DEAD_JID;
  const row = page.locator('#dead tbody tr', { has: page.locator('td[data-jid="' + jid + '"]') });
  await row.waitFor({ timeout });
  const button = row.locator('button[data-action="retry"]');
  check(await button.isDisabled(), 'Retry is disabled before a token is given');
  await page.fill('#token', env.TOKEN);
  await page.click('#token-save');
  await page.locator('#mode', { hasText: 'actions enabled' }).waitFor({ timeout });
  await row.locator('button[data-action="retry"]:enabled').click({ timeout });
  await page.locator('#notice', { hasText: 'pushed to ' + env.QUEUE }).waitFor({ timeout });
  await row.waitFor({ state: 'detached', timeout });
  await waitQueueSize(page, env.QUEUE, Number(env.QUEUE_SIZE) + 1);
}

// A scheduled job is listed with its args as text (markup in them stays text), disabled
// buttons without a token, and run now from the page with it.
async function scheduled(page) {
  const jid = env.SCHEDULED_JID;
  const row = page.locator('#scheduled tbody tr',
                           { has: page.locator('td[data-jid="' + jid + '"]') });
  await row.waitFor({ timeout });
  const args = row.locator('td.args');
  check(await args.textContent() === env.SCHEDULED_ARGS,
        'the args cell shows ' + env.SCHEDULED_ARGS + ' (got ' + await args.textContent() + ')');
  check(await page.locator('#scheduled img, #scheduled b, #scheduled script').count() === 0,
        'markup in the args is not parsed');
  check(/^in \d+m/.test(await row.locator('td').nth(4).textContent()),
        'the run-at time is shown as "in ...m"');
  check(await page.locator('#scheduled-count').textContent() === '(1)', 'the count is (1)');
  const run = row.locator('button[data-action="run now"]');
  const del = row.locator('button[data-action="delete"]');
  check(await run.isDisabled() && await del.isDisabled(),
        'Run now and Delete are disabled before a token is given');
  await page.fill('#token', env.TOKEN);
  await page.click('#token-save');
  await page.locator('#mode', { hasText: 'actions enabled' }).waitFor({ timeout });
  await row.locator('button[data-action="delete"]:enabled').waitFor({ timeout }); // redrawn
  await row.locator('button[data-action="run now"]:enabled').click({ timeout });
  await page.locator('#notice', { hasText: 'job ' + jid + ' pushed to ' + env.QUEUE })
    .waitFor({ timeout });
  await row.waitFor({ state: 'detached', timeout });
  await page.locator('#scheduled-count', { hasText: '(0)' }).waitFor({ timeout });
  await page.locator('#scheduled td.empty', { hasText: 'no scheduled jobs' }).waitFor({ timeout });
  await waitQueueSize(page, env.QUEUE, Number(env.QUEUE_SIZE) + 1);
}

// Long texts show as excerpts with their size, longer once the token is given; a job read in
// part shows its excerpt and size, and no action can be taken on it (its jid is unknown).
async function bounds(page) {
  const row = page.locator('#dead tbody tr',
                           { has: page.locator('td[data-jid="' + env.LONG_JID + '"]') });
  await row.waitFor({ timeout });
  const suffix = ' … (' + env.LONG_SIZE + ' bytes)';
  const error = async () => row.locator('td.error').textContent();
  let text = await error();
  check(text.endsWith(suffix), 'the cut message ends with "' + suffix + '" (got ' +
        text.slice(-60) + ')');
  check(text.length < 300, 'without the token the message is a short excerpt');
  const part = page.locator('#dead tbody tr', { hasText: 'job of ' + env.PART_SIZE + ' bytes' });
  await part.waitFor({ timeout });
  check(await part.locator('td').first().textContent() === '-', 'no jid shown for it');
  await page.fill('#token', env.TOKEN);
  await page.click('#token-save');
  await page.locator('#mode', { hasText: 'actions enabled' }).waitFor({ timeout });
  const deadline = Date.now() + timeout;
  while ((text = await error()).length < 1000 && Date.now() < deadline)
    await page.waitForTimeout(200);
  check(text.length > 8000 && text.length < 8300 && text.endsWith(suffix),
        'with the token the excerpt is longer and still cut (got ' + text.length + ')');
  const buttons = part.locator('button');
  check(await buttons.count() === 2, 'the row has its two buttons');
  for (let i = 0; i < 2; i++)
    check(await buttons.nth(i).isDisabled(), 'button ' + i + ' of the row is disabled');
  check(await row.locator('button[data-action="retry"]').isEnabled(),
        'the other row can be retried');
}

async function classCounts(page, cls, jobs, failed) {
  const cell = page.locator('#classes td.class-jobs[data-class="' + cls + '"]');
  const deadline = Date.now() + timeout;
  let got = null;
  while (Date.now() < deadline) {
    if (await cell.count() === 1) {
      got = await cell.textContent();
      if (got === jobs) break;
    }
    await page.waitForTimeout(300);
  }
  check(got === jobs, 'class ' + cls + ' shows ' + jobs + ' jobs (got ' + got + ')');
  const row = page.locator('#classes tbody tr',
                           { has: page.locator('td.class-jobs[data-class="' + cls + '"]') });
  const failedText = await row.locator('td.failed').textContent();
  check(failedText.startsWith(failed + ' ('), 'it shows ' + failed + ' failed (got ' +
        failedText + ')');
  const duration = await row.locator('td.range').first().textContent();
  check(/ms|s/.test(duration), 'its duration percentiles are shown (got ' + duration + ')');
}

// The history: a class's counts over the last hour and day, the charts drawn.
async function metrics(page) {
  await page.waitForSelector('body[data-metrics="hour"]', { timeout });
  await classCounts(page, env.METRICS_CLASS, env.METRICS_JOBS, env.METRICS_FAILED);
  check(await page.locator('#chart svg path.series').count() >= 1, 'the throughput is drawn');
  check(await page.locator('#latency-chart svg path.series').count() >= 1,
        'the queue latency is drawn');
  const box = await page.locator('#chart').boundingBox();
  const drawn = await page.locator('#chart svg').boundingBox();
  check(drawn.width > box.width * 0.9, 'the throughput chart is as wide as its box');
  await page.click('button.win[data-window="day"]');
  await page.waitForSelector('body[data-metrics="day"]', { timeout });
  await classCounts(page, env.METRICS_CLASS, env.METRICS_JOBS, env.METRICS_FAILED);
  await page.click('button.win[data-window="hour"]');
  await page.waitForSelector('body[data-metrics="hour"]', { timeout });
}

async function main() {
  const browser = await chromium.launch({
    executablePath: env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !(expected403 && m.text().includes('status of 403')))
      problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));
  try {
    const res = await page.goto(url, { timeout });
    check(res.status() === 200, 'the page answers 200');
    check((res.headers()['content-security-policy'] || '').includes("script-src 'self'"),
          'the page carries its Content-Security-Policy');
    await page.waitForSelector('body[data-loaded="true"]', { timeout });
    check(await queueSize(page, env.QUEUE) === Number(env.QUEUE_SIZE),
          'queue ' + env.QUEUE + ' shows its size ' + env.QUEUE_SIZE);
    if (env.SCENARIO === 'readonly') await readonly(page);
    else if (env.SCENARIO === 'retry') await retry(page);
    else if (env.SCENARIO === 'scheduled') await scheduled(page);
    else if (env.SCENARIO === 'bounds') await bounds(page);
    else if (env.SCENARIO === 'metrics') await metrics(page);
    else throw new Error('unknown SCENARIO ' + env.SCENARIO);
    check(problems.length === 0, 'no errors in the page: ' + problems.join('; '));
    if (env.SCREENSHOT) await page.screenshot({ path: env.SCREENSHOT, fullPage: true });
    console.log('ok ' + env.SCENARIO);
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
