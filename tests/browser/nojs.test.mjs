// The customer's pages with JavaScript off, on a phone-sized screen: the
// book and manage pages are plain HTML forms the daemon answers itself
// (progressive enhancement). Book ASAP and at a time from the real free
// times in a zone picked from the list, see the result, open the manage
// link, reschedule with "the same person" and "the earliest anyone",
// cancel; axe-core on every page. And the script-tag embed: a company's
// page at another origin with <script src=".../embed.js"> shows /book.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';

import { startHarness } from './harness.mjs';

let h;
let host;
let hostUrl;

// A company's own site: one page with the embed tag, at its own origin.
function startHost(daemonUrl) {
  return new Promise((resolve) => {
    const srv = http.createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>
<body><main><h1>Our shop</h1><p>Questions? We call you back.</p>
<script src="${daemonUrl()}/embed.js" data-title="Book a callback with the shop"></script>
<p id="after">Thank you for shopping with us.</p></main></body></html>`);
    });
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

before(async () => {
  let daemonUrl = '';
  host = await startHost(() => daemonUrl);
  hostUrl = `http://127.0.0.1:${host.address().port}`;
  h = await startHarness({ config: { web_embed_origins: hostUrl, site_timezone: 'Europe/London' } });
  daemonUrl = h.url;
});
after(async () => {
  await h?.stop();
  host?.closeAllConnections();
  host?.close();
});

/** A phone-sized page that runs no scripts at all. */
async function noScriptPage() {
  const ctx = await h.browser.newContext({
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true,
    javaScriptEnabled: false, timezoneId: 'Europe/London', locale: 'en-GB',
  });
  return ctx.newPage();
}

// axe-core runs in the page and waits on timers, which a page without
// JavaScript never fires: so it checks the same HTML, as this page got it,
// in a page of the same origin whose own scripts are refused.
async function noSeriousA11yProblems(page, what) {
  const html = await page.content();
  const ctx = await h.browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'en-GB' });
  try {
    const p = await ctx.newPage();
    await p.route(/\.m?js(\?.*)?$/, (r) => r.abort());
    await p.goto(`${h.url}/signin`);
    await p.setContent(html, { waitUntil: 'load' });
    assert.deepEqual(await h.axe(p), [], `${what}: axe found serious or critical violations`);
  } finally {
    await ctx.close();
  }
}

let phoneSeq = 0;
const phone = () => `07400 ${String(200000 + phoneSeq++)}`;

async function fillContact(page, topic) {
  await page.getByLabel('Your name').fill('Ada Lovelace');
  await page.getByLabel('Phone number').fill(phone());
  await page.getByLabel('What is it about?').fill(topic);
}

test('without JavaScript a customer books ASAP and sees the result', async () => {
  const alice = await h.agent('alice');
  const page = await noScriptPage();
  await page.goto(`${h.url}/book`);
  await noSeriousA11yProblems(page, 'book page without JavaScript');
  await h.screenshot(page, 'nojs-book');
  // Nothing typed: told beside the field, the page stays.
  await page.getByRole('button', { name: 'Book the callback' }).click();
  await page.getByText('Please give your name.').first().waitFor();
  assert.equal(await page.getByLabel('Your name').getAttribute('aria-invalid'), 'true');
  await noSeriousA11yProblems(page, 'book page with a problem, without JavaScript');
  await h.screenshot(page, 'nojs-book-problem');
  await fillContact(page, 'Router <b>drops</b>');
  await page.getByRole('button', { name: 'Book the callback' }).click();
  await page.waitForURL(/\/v1\/callbacks\/\d+\?token=cbt_/);
  await page.getByText('Your callback is booked').waitFor();
  const summary = await page.locator('#summary').innerText();
  assert.match(summary, /Alice will call you as soon as possible: you are number 1 in line/);
  assert.equal(await page.locator('#facts dd').first().innerText(), 'Router <b>drops</b>');
  await noSeriousA11yProblems(page, 'manage page without JavaScript');
  await h.screenshot(page, 'nojs-booked-asap');
  const q = await h.api('GET', '/v1/me/queue', undefined, alice.key);
  assert.equal(q.items.length, 1);
  assert.match(q.items[0].customer.phone, /^\+447400/);
  await page.context().close();
});

test('without JavaScript a customer picks a zone and a free time, then reschedules and cancels', async () => {
  const page = await noScriptPage();
  await page.goto(`${h.url}/book`);
  // The company's zone first; the customer picks theirs and asks again.
  assert.equal(await page.getByLabel('Your time zone').inputValue(), 'Europe/London');
  await page.getByLabel('At a time I choose').check();
  await fillContact(page, 'Contract renewal');
  // Not a number of the new zone's country: written in full.
  await page.getByLabel('Phone number').fill(`+44 7400 ${String(300000 + phoneSeq++)}`);
  await page.getByLabel('Your time zone').selectOption('America/New_York');
  await page.getByRole('button', { name: 'Show free times in this zone' }).click();
  await page.waitForLoadState();
  assert.equal(await page.getByLabel('Your time zone').inputValue(), 'America/New_York');
  assert.equal(await page.getByLabel('Your name').inputValue(), 'Ada Lovelace', 'what was typed is kept');
  assert.ok(await page.getByLabel('At a time I choose').isChecked());
  const slot = page.getByLabel('Time', { exact: true });
  const values = await slot.locator('option').evaluateAll((os) => os.map((o) => o.value).filter(Boolean));
  assert.ok(values.length > 4, 'free times are listed');
  assert.match(values[0], /-0[45]:00$/, 'in the zone picked');
  await slot.selectOption(values[4]);
  await page.getByRole('button', { name: 'Book the callback' }).click();
  await page.getByText('Your callback is booked').waitFor();
  const id = Number(new URL(page.url()).pathname.split('/').pop());
  let cb = await h.api('GET', `/v1/callbacks/${id}`);
  assert.equal(Date.parse(cb.scheduled_at), Date.parse(values[4]));
  const owner = cb.owner.display_name;
  assert.match(await page.locator('#summary').innerText(), new RegExp(`${owner} will call you`));
  await page.getByRole('link', { name: 'Add to my calendar (.ics)' }).waitFor();
  await noSeriousA11yProblems(page, 'manage page of a slot without JavaScript');

  // Reschedule with the same person, to a time from the list.
  await page.getByLabel(`The same person (${owner})`).check();
  const times = await page.getByLabel('New time').locator('option').evaluateAll((os) => os.map((o) => o.value).filter(Boolean));
  await page.getByLabel('New time').selectOption(times[6]);
  await page.getByRole('button', { name: 'Change the time' }).click();
  await page.getByText('Done: the time is changed.').waitFor();
  cb = await h.api('GET', `/v1/callbacks/${id}`);
  assert.equal(Date.parse(cb.scheduled_at), Date.parse(times[6]));
  assert.equal(cb.owner.display_name, owner, 'the same person');
  await h.screenshot(page, 'nojs-rescheduled');

  // The earliest anyone can: no time picked.
  await page.getByLabel('The earliest anyone can').check();
  await page.getByRole('button', { name: 'Change the time' }).click();
  await page.getByText('Done: the time is changed.').waitFor();
  cb = await h.api('GET', `/v1/callbacks/${id}`);
  assert.ok(Date.parse(cb.scheduled_at) < Date.parse(times[6]), 'moved to an earlier time');

  // Cancel, after a question.
  await page.getByRole('button', { name: 'Cancel the callback' }).click();
  await page.getByRole('button', { name: 'Yes, cancel it' }).waitFor();
  await noSeriousA11yProblems(page, 'cancel question without JavaScript');
  await page.getByRole('button', { name: 'Yes, cancel it' }).click();
  await page.getByText('This callback is cancelled.').first().waitFor();
  assert.equal((await h.api('GET', `/v1/callbacks/${id}`)).state, 'cancelled');
  await h.screenshot(page, 'nojs-cancelled');
  await page.context().close();
});

test('a manage link with a wrong token shows nothing of the callback', async () => {
  const page = await noScriptPage();
  const r = await page.goto(`${h.url}/v1/callbacks/1?token=cbt_wrong`);
  assert.equal(r.status(), 404);
  await page.getByText('This link does not open a callback').waitFor();
  assert.equal(await page.locator('#change').isVisible(), false);
  await noSeriousA11yProblems(page, 'manage page, wrong token');
  await page.context().close();
});

test('a company page at another origin shows the book page through the script tag', async () => {
  const page = await h.page();
  await page.goto(`${hostUrl}/`);
  const frame = page.frameLocator('iframe.callbackd-book');
  await frame.getByRole('heading', { name: 'Book a callback' }).waitFor();
  assert.equal(await page.locator('iframe.callbackd-book').getAttribute('title'), 'Book a callback with the shop');
  // The frame takes the height the book page reports (not the 720 px it
  // starts with), so the whole form shows without a scroll bar inside.
  await page.waitForFunction(() => {
    const f = document.querySelector('iframe.callbackd-book');
    return f && f.style.height !== '720px';
  });
  const inner = await frame.locator('html').evaluate((e) => e.scrollHeight);
  const outer = await page.locator('iframe.callbackd-book').evaluate((f) => parseInt(f.style.height, 10));
  assert.ok(Math.abs(inner - outer) <= 2, `frame ${outer}px for a page of ${inner}px`);
  await h.screenshot(page, 'embed-host');
  // The frame is the real page: it books.
  await frame.getByLabel('Your name').fill('Ada Lovelace');
  await frame.getByLabel('Phone number').fill(phone());
  await frame.getByLabel('What is it about?').fill('From the shop');
  await frame.getByRole('button', { name: 'Book the callback' }).click();
  await frame.getByRole('heading', { name: 'Your callback is booked' }).waitFor();
  assert.deepEqual(h.pageErrors, []);
  await page.context().close();
});
