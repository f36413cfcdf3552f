// The staff consoles in a real browser: an agent signed in with a link
// sees a new booking arrive without reloading, claims it and records the
// outcome; a lead previews and applies a handoff, and the agent who gets
// the call sees the lead's note first.
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

async function noSeriousA11yProblems(page, what) {
  assert.deepEqual(await h.axe(page), [], `${what}: axe found serious or critical violations`);
}

async function signInWithLink(agent, opts = {}) {
  const link = await h.api('POST', `/v1/agents/${agent.id}/sign-in-links`, {});
  assert.match(link.url, /\/signin#/);
  const page = await h.page(opts);
  await page.goto(link.url);
  await page.waitForURL(`${h.url}/agent`);
  await page.getByRole('status').filter({ hasText: 'Live' }).waitFor();
  return page;
}

test("the owner's open console shows a booking without reload; the agent claims and records an outcome", async () => {
  const alice = await h.agent('alice');
  const console_ = await signInWithLink(alice);
  await console_.getByText('Nothing in your queue.').waitFor();
  await noSeriousA11yProblems(console_, 'agent page');
  // Marks this document: a reload would lose it.
  await console_.evaluate(() => { window.notReloaded = true; });

  const customer = await h.page();
  await customer.goto(`${h.url}/book`);
  await customer.getByLabel('Your name').fill('Ada Lovelace');
  await customer.getByLabel('Phone number').fill('+44 7400 100999');
  await customer.getByLabel('What is it about?').fill('Broadband down');
  await customer.getByRole('button', { name: 'Book the callback' }).click();
  await customer.getByRole('heading', { name: 'Your callback is booked' }).waitFor();
  const id = (await customer.locator('#done').innerText()).match(/#(\d+)/)[1];

  const card = console_.getByRole('listitem', { name: 'Call Ada Lovelace' });
  await card.waitFor();
  assert.equal(await console_.evaluate(() => window.notReloaded), true, 'shown without a reload');
  assert.equal(await card.getByRole('link', { name: '+447400100999' }).getAttribute('href'), 'tel:+447400100999');
  await h.screenshot(console_, 'agent-new-booking');

  await card.getByRole('button', { name: 'Claim the call with Ada Lovelace' }).click();
  await card.getByText('On the call').waitFor();
  await noSeriousA11yProblems(console_, 'agent page, on a call');
  await card.getByRole('button', { name: 'Reached' }).click();
  await console_.getByText('Nothing in your queue.').waitFor();
  const q = await h.api('GET', '/v1/me/queue', undefined, alice.key);
  assert.equal(q.items.length, 0);
  assert.equal((await h.api('GET', `/v1/callbacks/${id}`)).state, 'completed');
  assert.deepEqual(h.pageErrors, []);
  await console_.context().close();
  await customer.context().close();
});

test('a lead previews and applies a handoff; the next agent sees the note first', async () => {
  const bob = await h.agent('bob');
  const carol = await h.agent('carol');
  const booked = await (await fetch(`${h.url}/v1/callbacks`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ customer: { name: 'Grace Hopper', phone: '+442079460111', timezone: 'Europe/London' }, topic: 'Compiler licence', when: 'asap' }),
  })).json();
  const cb = await h.api('GET', `/v1/callbacks/${booked.id}`);
  // Whoever got it (the earlier test's agent too) hands it to one of these.
  const to = cb.owner.id === bob.id ? carol : bob;
  const from = { id: cb.owner.id, display_name: cb.owner.display_name };

  const leadKey = (await h.api('POST', '/v1/keys', { role: 'lead', name: 'lena' })).key;
  const lead = await h.page({ wide: true });
  await lead.goto(`${h.url}/signin`);
  await lead.getByLabel('Or sign in with an API key').fill(leadKey);
  await lead.getByRole('button', { name: 'Sign in' }).click();
  await lead.waitForURL(`${h.url}/lead`);
  await lead.getByRole('heading', { name: 'Coverage' }).waitFor();
  await noSeriousA11yProblems(lead, 'lead page');

  await lead.getByLabel('Calls to hand over').fill(String(cb.id));
  await lead.getByLabel('To agent').selectOption(String(to.id));
  await lead.getByLabel('Summary for the next agent').fill('Wants the licence moved to the new laptop');
  await lead.getByLabel('Next step').fill('Send the transfer form');
  await lead.getByLabel('Reason for the handoff').fill(`${from.display_name} is at training`);
  await lead.getByRole('button', { name: 'Preview' }).click();
  await lead.getByText('1 move, 0 stay').waitFor();
  assert.equal((await h.api('GET', `/v1/callbacks/${cb.id}`)).owner.id, from.id, 'a preview changes nothing');
  await h.screenshot(lead, 'lead-handoff-preview');
  await lead.getByRole('button', { name: 'Apply' }).click();
  await lead.getByText('Handoff applied').waitFor();
  assert.equal((await h.api('GET', `/v1/callbacks/${cb.id}`)).owner.id, to.id);
  await noSeriousA11yProblems(lead, 'lead page, applied');

  const next = await signInWithLink(to);
  const card = next.getByRole('listitem', { name: 'Call Grace Hopper' });
  await card.waitFor();
  // The note comes first: right after the name, before the call's facts.
  const order = await card.evaluate((li) => [...li.children].map((c) => c.getAttribute('aria-label') || c.tagName));
  assert.deepEqual(order.slice(0, 3), ['H3', 'Handoff note', 'DL']);
  assert.match(await card.getByRole('note').innerText(), /Wants the licence moved to the new laptop[\s\S]*Send the transfer form/);
  await h.screenshot(next, 'agent-handoff-note-first');
  assert.deepEqual(h.pageErrors, []);
  await lead.context().close();
  await next.context().close();
});

test('a follow-up booked during a call says at once whether I am on duty then', async () => {
  const erin = await h.agent('erin');
  await h.agent('felix'); // no shifts: on duty around the clock
  // Erin works 07:00-19:00 London time; the others have no shifts (always on).
  await h.api('PUT', `/v1/agents/${erin.id}/shifts`, { shifts: [{ start: '2026-01-01T07:00:00', duration: 'PT12H', rrule: 'FREQ=DAILY', tz: 'Europe/London' }] });
  const booked = await (await fetch(`${h.url}/v1/callbacks`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ customer: { name: 'Alan Turing', phone: '+442079460333', timezone: 'Europe/London' }, topic: 'Enigma spares', when: 'asap' }),
  })).json();
  await h.api('POST', '/v1/handoffs', { callback_ids: [booked.id], to_agent: erin.id, note: { summary: 'Knows the product', next_step: 'Call', reason: 'expertise' } });
  const page = await signInWithLink(erin);
  const card = page.getByRole('listitem', { name: 'Call Alan Turing' });
  await card.getByRole('button', { name: 'Claim the call with Alan Turing' }).click();
  await card.getByText('On the call').waitFor();
  // Tomorrow in London, at 03:00 (off) and at 10:00 (on duty).
  const tomorrow = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/London' }).format(new Date(Date.now() + 86400e3));
  const when = card.getByLabel('Follow-up time (your zone)');
  await when.fill(`${tomorrow}T03:00`);
  await when.dispatchEvent('change');
  // Off duty then: the page names who will most likely call instead.
  await card.getByText(/You are not on duty then: \S.* will most likely call/).waitFor();
  await when.fill(`${tomorrow}T10:00`);
  await when.dispatchEvent('change');
  await card.getByText('You are on duty then').waitFor();
  // A push while the agent types (another call handed to Erin) redraws
  // the queue: what she typed and the answer shown stay.
  const note = card.getByLabel('Note for the follow-up');
  await note.fill('Thursday at 3, wants the spares list');
  const other = await (await fetch(`${h.url}/v1/callbacks`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ customer: { name: 'Joan Clarke', phone: '+442079460334', timezone: 'Europe/London' }, topic: 'Rotor order', when: 'asap' }),
  })).json();
  await h.api('POST', '/v1/handoffs', { callback_ids: [other.id], to_agent: erin.id, note: { summary: 'Rotor order', next_step: 'Call', reason: 'expertise' } });
  await page.getByRole('listitem', { name: 'Call Joan Clarke' }).waitFor();
  assert.equal(await note.inputValue(), 'Thursday at 3, wants the spares list');
  assert.equal(await when.inputValue(), `${tomorrow}T10:00`);
  await card.getByText('You are on duty then').waitFor({ timeout: 1000 });
  await noSeriousA11yProblems(page, 'agent page, follow-up');
  await h.screenshot(page, 'agent-follow-up');
  await card.getByRole('button', { name: 'Book the follow-up' }).click();
  await page.getByText('Follow-up booked for').waitFor();
  const cb = await h.api('GET', `/v1/callbacks/${booked.id}`);
  assert.equal(cb.state, 'scheduled');
  assert.equal(cb.owner.id, erin.id, 'on duty then: it stays mine');
  // A follow-up at a time she is off: who calls is named before booking,
  // and the handoff note for them is asked for there and then.
  const joan = page.getByRole('listitem', { name: 'Call Joan Clarke' });
  await joan.getByRole('button', { name: 'Claim the call with Joan Clarke' }).click();
  await joan.getByText('On the call').waitFor();
  const joanWhen = joan.getByLabel('Follow-up time (your zone)');
  await joanWhen.fill(`${tomorrow}T03:00`);
  await joanWhen.dispatchEvent('change');
  const named = await joan.getByText(/will most likely call/).innerText();
  const who = /then: (.+?) will most likely call/.exec(named)[1];
  await joan.getByRole('button', { name: 'Book the follow-up' }).click();
  await page.getByText(`${who} will call: write your handoff note for ${who} below, now.`).waitFor();
  const moved = await h.api('GET', `/v1/callbacks/${other.id}`);
  assert.equal(moved.owner.display_name, who, 'the agent named is the one who got it');
  const noteBox = page.getByLabel(`Handoff note for ${who}`);
  await assert.doesNotReject(async () => assert.ok(await noteBox.evaluate((e) => e === document.activeElement)));
  await noteBox.fill('Wants the rotor order confirmed in writing');
  await page.getByRole('button', { name: 'Save handoff note' }).click();
  await page.getByText('Handoff note saved.').waitFor();
  assert.deepEqual(h.pageErrors, []);
  await page.context().close();
});

test('a lead sets a weekly shift and sees who is on duty by hour', async () => {
  const fay = await h.agent('fay');
  const leadKey = (await h.api('POST', '/v1/keys', { role: 'lead', name: 'lars' })).key;
  const lead = await h.page({ wide: true });
  await lead.goto(`${h.url}/signin`);
  await lead.getByLabel('Or sign in with an API key').fill(leadKey);
  await lead.getByRole('button', { name: 'Sign in' }).click();
  await lead.waitForURL(`${h.url}/lead`);
  const board = lead.getByRole('table', { name: 'Agents on duty by hour' });
  await board.getByRole('rowheader', { name: /Fay/ }).waitFor();
  await lead.getByLabel('Agent for the shift').selectOption(String(fay.id));
  await lead.getByLabel('Starts at').fill('06:00');
  await lead.getByLabel('Hours').fill('4');
  await lead.getByRole('button', { name: 'Save shift' }).click();
  await lead.getByText('Shift saved').waitFor();
  const roster = await h.api('GET', `/v1/agents/${fay.id}/shifts`);
  assert.equal(roster.shifts.length, 1);
  assert.equal(roster.shifts[0].rrule, 'FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR');
  assert.equal(roster.shifts[0].duration, 4 * 3600);
  await noSeriousA11yProblems(lead, 'lead page, shifts');
  await h.screenshot(lead, 'lead-board');
  await lead.context().close();
});
