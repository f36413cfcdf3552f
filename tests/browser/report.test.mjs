// The lead's callback report in a real browser: a call booked and reached
// today shows in the table of days and the table of agents, and "Download
// CSV" saves the same rows as a CSV file.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, test } from 'node:test';

import { startHarness } from './harness.mjs';

let h;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.stop();
});

test('a lead reads the callback report and downloads it as CSV', async () => {
  const gwen = await h.agent('gwen', { display_name: 'Gwen, "G" Jones' });
  const r = await fetch(`${h.url}/v1/callbacks`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ customer: { name: 'Ada Lovelace', phone: '+44 7400 100777', timezone: 'Europe/London' }, topic: 'Router lights', when: 'asap' }),
  });
  assert.equal(r.status, 201, await r.clone().text());
  const booked = await r.json();
  await h.api('POST', `/v1/callbacks/${booked.id}/claim`, undefined, gwen.key);
  await h.api('POST', `/v1/callbacks/${booked.id}/outcome`, { result: 'reached' }, gwen.key);

  const leadKey = (await h.api('POST', '/v1/keys', { role: 'lead', name: 'rhea' })).key;
  const lead = await h.page({ wide: true });
  await lead.goto(`${h.url}/signin`);
  await lead.getByLabel('Or sign in with an API key').fill(leadKey);
  await lead.getByRole('button', { name: 'Sign in' }).click();
  await lead.waitForURL(`${h.url}/lead`);
  await lead.getByRole('link', { name: 'Report' }).click();

  const byAgent = lead.getByRole('table', { name: 'Callbacks by agent' });
  const row = byAgent.getByRole('row', { name: /Gwen, "G" Jones/ });
  await row.waitFor();
  // Booked 1, kept on time 1 (100%), overdue 0, completed 1.
  const cells = await row.getByRole('cell').allInnerTexts();
  assert.deepEqual(cells.slice(0, 4), ['1', '1 (100%)', '0', '1']);
  const byDay = lead.getByRole('table', { name: 'Callbacks by day' });
  const all = await byDay.getByRole('row', { name: /All days/ }).getByRole('cell').allInnerTexts();
  assert.equal(all[0], '1');
  assert.equal(all[5], '1 of 1 (100%)');
  await noSeriousA11yProblems(lead, 'lead page, report');
  await h.screenshot(lead, 'lead-report');

  // A range the API refuses is said in words, not thrown.
  await lead.getByLabel('First day').fill('2020-01-01');
  await lead.getByRole('button', { name: 'Show report' }).click();
  await lead.locator('#report').getByText('at most 92 days').waitFor();
  await lead.getByLabel('First day').fill(await lead.getByLabel('Last day').inputValue());
  await lead.getByRole('button', { name: 'Show report' }).click();
  await row.waitFor();

  const [download] = await Promise.all([
    lead.waitForEvent('download'),
    lead.getByRole('link', { name: 'Download CSV' }).click(),
  ]);
  assert.match(download.suggestedFilename(), /^callbacks-\d{4}-\d{2}-\d{2}-to-\d{4}-\d{2}-\d{2}\.csv$/);
  const text = fs.readFileSync(await download.path(), 'utf8');
  const lines = text.split('\r\n');
  assert.match(lines[0], /^day,agent_id,agent_name,agent_display_name,booked,/);
  const mine = lines.find((l) => l.includes(`,${gwen.id},gwen,`));
  assert.ok(mine, text);
  assert.ok(mine.includes(',"Gwen, ""G"" Jones",1,1,1,0,1.0000,'), mine);
  assert.deepEqual(h.pageErrors, []);
  await lead.context().close();
});

async function noSeriousA11yProblems(page, what) {
  assert.deepEqual(await h.axe(page), [], `${what}: axe found serious or critical violations`);
}
