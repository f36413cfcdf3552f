// The customer's pages in a real browser on a phone-sized screen: book
// ASAP and at a chosen time, the problems the API can answer, and the
// manage page (reschedule with "the same person", .ics, messages, cancel).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { startHarness } from './harness.mjs';

let h;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.stop();
});

let phoneSeq = 0;
const phone = () => `+44 7400 ${String(100000 + phoneSeq++)}`;

async function fillContact(page, { topic = 'My router keeps dropping' } = {}) {
  await page.getByLabel('Your name').fill('Ada Lovelace');
  await page.getByLabel('Phone number').fill(phone());
  await page.getByLabel('What is it about?').fill(topic);
}

async function noSeriousA11yProblems(page, what) {
  const v = await h.axe(page);
  assert.deepEqual(v, [], `${what}: axe found serious or critical violations`);
}

test('a customer books ASAP on a phone-sized page', async () => {
  const alice = await h.agent('alice');
  const page = await h.page();
  await page.goto(`${h.url}/book`);
  await noSeriousA11yProblems(page, 'book page');
  await fillContact(page);
  await page.getByRole('button', { name: 'Book the callback' }).click();
  const done = page.getByRole('heading', { name: 'Your callback is booked' });
  await done.waitFor();
  const text = await page.locator('#done').innerText();
  assert.match(text, /Alice will call you as soon as possible: you are number 1 in line/);
  await h.screenshot(page, 'book-asap-done');
  await noSeriousA11yProblems(page, 'book page, booked');
  // Committed: the owner's queue holds it.
  const q = await h.api('GET', '/v1/me/queue', undefined, alice.key);
  assert.equal(q.items.length, 1);
  assert.equal(q.items[0].topic, 'My router keeps dropping');
  assert.equal(q.items[0].customer.phone, '+447400100000');
  // Booked in the browser's own language.
  const lang = await page.evaluate(() => navigator.language);
  assert.equal((await h.api('GET', `/v1/callbacks/${q.items[0].id}`)).language.toLowerCase(), lang.toLowerCase());
  assert.deepEqual(h.pageErrors, []);
  await page.context().close();
});

test('a customer picks a free time shown in their own zone', async () => {
  const page = await h.page({ timezoneId: 'America/New_York' });
  await page.goto(`${h.url}/book`);
  await page.getByLabel('At a time I choose').check();
  assert.equal(await page.getByLabel('Your time zone').inputValue(), 'America/New_York');
  const slot = page.getByLabel('Time', { exact: true });
  await page.waitForFunction(() => document.querySelectorAll('#slot option[value^="20"]').length > 0);
  const first = await slot.locator('option').first().getAttribute('value');
  assert.match(first, /-0[45]:00$/, 'slots come in the browser zone');
  await slot.selectOption(first);
  await fillContact(page, { topic: 'Contract renewal' });
  await page.getByRole('button', { name: 'Book the callback' }).click();
  await page.getByRole('heading', { name: 'Your callback is booked' }).waitFor();
  const shown = await page.locator('#done').innerText();
  const expected = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', timeZone: 'America/New_York' }).format(new Date(first));
  assert.ok(shown.includes(expected), `${shown} shows ${expected}`);
  await h.screenshot(page, 'book-slot-done');
  await page.context().close();
});

test('a slot taken while the customer chose says so', async () => {
  // One agent who takes one call per slot: the slot the page shows is
  // filled through the API before this customer presses the button.
  const h2 = await startHarness();
  try {
    await h2.agent('bob', { capacity: 1 });
    const page = await h2.page();
    await page.goto(`${h2.url}/book`);
    await page.getByLabel('At a time I choose').check();
    await page.waitForFunction(() => document.querySelectorAll('#slot option[value^="20"]').length > 0);
    const slot = page.getByLabel('Time', { exact: true });
    const first = await slot.locator('option').first().getAttribute('value');
    await slot.selectOption(first);
    await fillContact(page);
    let filled = 0;
    for (let i = 0; i < 20; i++) {
      const r = await fetch(`${h2.url}/v1/callbacks`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ customer: { name: 'Other', phone: `+442079460${String(500 + i)}`, timezone: 'Europe/London' }, topic: 'x', when: first }) });
      if (r.status !== 201) break;
      filled++;
    }
    assert.ok(filled >= 1, 'the API booked the slot until it was full');
    await page.getByRole('button', { name: 'Book the callback' }).click();
    await page.getByRole('alert').getByText('That time was just taken').waitFor();
    assert.equal(await page.getByLabel('Time', { exact: true }).getAttribute('aria-invalid'), 'true');
    await h2.screenshot(page, 'book-slot-taken');
    await page.context().close();
  } finally {
    await h2.stop();
  }
});

test('too many bookings from one place are told to wait', async () => {
  const h3 = await startHarness({ config: { rate_ip_per_10min: 1 } });
  try {
    await h3.agent('carol');
    const page = await h3.page();
    await page.goto(`${h3.url}/book`);
    await fillContact(page);
    await page.getByRole('button', { name: 'Book the callback' }).click();
    await page.getByRole('heading', { name: 'Your callback is booked' }).waitFor();
    await page.goto(`${h3.url}/book`);
    await fillContact(page);
    await page.getByRole('button', { name: 'Book the callback' }).click();
    await page.getByRole('alert').getByText('Too many requests from here').waitFor();
    await h3.screenshot(page, 'book-rate-limited');
    await page.context().close();
  } finally {
    await h3.stop();
  }
});

test('the manage page reschedules with "the same person", offers the invite and lists the messages', async () => {
  const dan = await h.agent('dan');
  // Dan takes the next call; book one for him through the API.
  const when = new Date(Date.now() + 2 * 86400 * 1000);
  when.setUTCHours(10, 0, 0, 0);
  const slots = await h.api('GET', `/v1/slots?from=${encodeURIComponent(when.toISOString().replace(/\.\d+Z/, 'Z'))}&tz=UTC`);
  const r = await fetch(`${h.url}/v1/callbacks`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ customer: { name: 'Grace', phone: '+447400123456', timezone: 'Europe/London' }, topic: 'Invoice', when: slots[0].start, notify: ['sms'] }) });
  const cb = await r.json();
  assert.equal(r.status, 201, JSON.stringify(cb));
  const owner = cb.owner.display_name;
  const page = await h.page();
  // The link as sent in every message: the browser gets the page.
  await page.goto(cb.links.manage);
  await page.getByText(`${owner} will call you`).first().waitFor();
  await page.getByRole('link', { name: 'Add to my calendar (.ics)' }).waitFor();
  await noSeriousA11yProblems(page, 'manage page');
  await h.screenshot(page, 'manage-before');
  await page.getByLabel(`The same person (${owner})`).check();
  const slot = page.getByLabel('New time');
  await page.waitForFunction(() => document.querySelectorAll('#slot option[value^="20"]').length > 1);
  const later = await slot.locator('option[value^="20"]').nth(3).getAttribute('value');
  await slot.selectOption(later);
  await page.getByRole('button', { name: 'Change the time' }).click();
  await page.locator('#move-problem .ok').waitFor();
  const after = await h.api('GET', `/v1/callbacks/${cb.id}`);
  assert.equal(Date.parse(after.scheduled_at), Date.parse(later), 'moved to the time chosen');
  assert.equal(after.owner.display_name, owner, 'the same person');
  await h.screenshot(page, 'manage-rescheduled');
  // Cancel, after a confirmation.
  await page.getByRole('button', { name: 'Cancel the callback' }).click();
  await page.getByRole('button', { name: 'Yes, cancel it' }).click();
  await page.getByText('Your callback is cancelled.').first().waitFor();
  assert.equal((await h.api('GET', `/v1/callbacks/${cb.id}`)).state, 'cancelled');
  assert.ok(dan.id > 0);
  assert.deepEqual(h.pageErrors, []);
  await page.context().close();
});
