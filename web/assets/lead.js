// lead.js: the shift lead's console. Coverage by hour in the lead's zone
// (at-risk and overdue calls highlighted, live through GET /v1/events),
// handoffs (pick calls or an agent, preview the dry run, write the note,
// apply, annotate, the audit trail), shifts and time off, calendar import
// with its per-event report, and the callback report (per day and agent,
// with a CSV download).
import { api, el, explain, fmtTime, rfc3339 } from './api.js';
import { requireSession } from './session.js';

const $ = (id) => document.getElementById(id);
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
let agents = [];
let reloadTimer = null;

function say(msg, kind = 'problem') {
  $('problem').replaceChildren(msg ? el('p', { class: kind }, msg) : '');
}
const agentName = (id) => (agents.find((a) => a.id === id) || { display_name: `#${id}` }).display_name;
const fmtHour = (iso) => new Intl.DateTimeFormat(undefined, { weekday: 'short', hour: '2-digit', minute: '2-digit', timeZone: zone }).format(new Date(iso));

async function loadAgents() {
  const page = await api('GET', '/v1/agents?limit=200');
  agents = page.items || page;
}

async function loadCoverage() {
  try {
    const c = await api('GET', '/v1/coverage');
    const now = Date.now();
    const rows = c.hours.map((hr) => {
      const risk = hr.at_risk.length > 0;
      const isNow = Date.parse(hr.hour) <= now && now < Date.parse(hr.hour) + 3600e3;
      return el('tr', {},
        el('th', { scope: 'row' }, fmtHour(hr.hour), isNow ? ' (now)' : ''),
        el('td', { class: hr.on_duty ? 'on' : (hr.unstaffed ? 'risk' : '') }, String(hr.on_duty), hr.unstaffed ? ' — nobody on duty' : ''),
        el('td', {}, `${hr.booked} / ${hr.capacity}`),
        el('td', { class: risk ? 'risk' : '' }, risk ? hr.at_risk.map((r) => `call ${r.callback_id} (${agentName(r.owner_id)})`).join(', ') : '—'),
        el('td', { class: hr.over_capacity.length ? 'risk' : '' }, hr.over_capacity.map((o) => `${agentName(o.agent_id)}: ${o.booked}`).join(', ') || '—'));
    });
    $('coverage').replaceChildren(
      el('p', {}, el('span', { class: c.at_risk_total ? 'badge bad' : 'badge good' }, `${c.at_risk_total} at risk`), ' ',
        el('span', { class: c.overdue_total ? 'badge bad' : 'badge good' }, `${c.overdue_total} overdue`), ` · times in ${zone}`),
      el('div', { class: 'scroll' }, el('table', {},
        el('caption', { class: 'visually-hidden' }, 'Coverage by hour'),
        el('thead', {}, el('tr', {}, ['Hour', 'On duty', 'Booked / capacity', 'At risk', 'Over capacity'].map((t) => el('th', { scope: 'col' }, t)))),
        el('tbody', {}, rows))),
      c.overdue.length ? el('div', {}, el('h3', {}, 'Overdue now'), el('ul', {}, c.overdue.map((o) => el('li', { class: 'card overdue' },
        el('label', { class: 'inline' }, el('input', { type: 'checkbox', name: 'pick', value: String(o.callback_id) }), ` Call ${o.callback_id}`),
        ` — ${o.owner.display_name}${o.owner.on_duty ? '' : ' (off duty)'}, ${o.minutes_late} min late`)))) : '');
  } catch (e) {
    say(explain(e, zone).message);
  }
}

// Agents x the next 24 hours, from each agent's worked spans (GET
// /v1/agents/{id}/shifts, time off cut out): who is on now, who leaves
// within the hour. An agent without shift rules is always on duty.
async function loadBoard() {
  const start = new Date();
  start.setMinutes(0, 0, 0);
  const hours = [...Array(24).keys()].map((i) => start.getTime() + i * 3600e3);
  const end = hours[23] + 3600e3;
  const now = Date.now();
  try {
    const rosters = await Promise.all(agents.filter((a) => a.active !== false).slice(0, 50).map(async (a) => ({
      a, r: await api('GET', `/v1/agents/${a.id}/shifts?from=${encodeURIComponent(rfc3339(new Date(start)))}&to=${encodeURIComponent(rfc3339(new Date(end)))}`),
    })));
    const rows = rosters.map(({ a, r }) => {
      const always = r.shifts.length === 0;
      const spans = r.upcoming.map((x) => [Date.parse(x.start), Date.parse(x.end)]);
      const onAt = (t) => always || spans.some(([s0, e0]) => s0 <= t && t < e0);
      const cur = spans.find(([s0, e0]) => s0 <= now && now < e0);
      const leaving = !always && cur && cur[1] - now <= 3600e3;
      const state = !onAt(now) ? 'off duty now' : leaving ? `leaves at ${fmtTime(new Date(cur[1]).toISOString(), zone, false)}` : 'on duty now';
      return el('tr', {},
        el('th', { scope: 'row' }, a.display_name, ' ', el('span', { class: `badge ${leaving ? 'warn' : onAt(now) ? 'good' : ''}` }, state)),
        hours.map((t) => {
          const on = onAt(t + 1);
          return el('td', { class: on ? 'on' : '' }, on ? el('span', { 'aria-hidden': 'true' }, '●') : '', el('span', { class: 'visually-hidden' }, on ? 'on duty' : 'off'));
        }));
    });
    $('board').replaceChildren(el('div', { class: 'scroll' }, el('table', {},
      el('caption', { class: 'visually-hidden' }, 'Agents on duty by hour'),
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Agent'), hours.map((t) => el('th', { scope: 'col' }, new Intl.DateTimeFormat(undefined, { hour: '2-digit', timeZone: zone }).format(new Date(t)))))),
      el('tbody', {}, rows))));
  } catch (e) {
    $('board').replaceChildren(el('p', {}, explain(e, zone).message));
  }
}

async function saveShift(ev) {
  ev.preventDefault();
  const days = [...document.querySelectorAll('input[name=sh-day]:checked')].map((i) => i.value);
  if (!days.length) return say('Pick at least one day.');
  const [hh, mm] = ($('sh-start').value || '09:00').split(':');
  const shift = { start: `2026-01-05T${hh}:${mm}:00`, duration: `PT${Number($('sh-hours').value) || 8}H`, rrule: `FREQ=WEEKLY;BYDAY=${days.join(',')}`, tz: zone };
  try {
    await api('PUT', `/v1/agents/${$('sh-agent').value}/shifts`, { body: { shifts: [shift] } });
    say(`Shift saved: ${days.join(', ')} from ${hh}:${mm} for ${$('sh-hours').value} hours (${zone}).`, 'ok');
    loadBoard();
    loadCoverage();
  } catch (e) {
    say(explain(e, zone).message);
  }
}

function handoffRequest(dryRun) {
  const body = { note: { summary: $('ho-summary').value.trim(), next_step: $('ho-next').value.trim(), reason: $('ho-reason').value.trim() }, dry_run: dryRun };
  const ids = $('ho-ids').value.split(/[\s,]+/).filter(Boolean).map(Number);
  const picked = [...document.querySelectorAll('input[name=pick]:checked')].map((i) => Number(i.value));
  const all = [...new Set([...ids, ...picked])];
  if (all.length) body.callback_ids = all;
  else if ($('ho-from').value) body.from_agent = Number($('ho-from').value);
  if ($('ho-to').value) body.to_agent = Number($('ho-to').value);
  return body;
}

function planTable(plan) {
  const row = (m, moves) => el('tr', { class: m.at_risk ? 'risk' : '' },
    el('td', {}, String(m.callback_id)), el('td', {}, m.due_at ? fmtTime(m.due_at, zone) : ''),
    el('td', {}, m.from_agent ? agentName(m.from_agent) : ''), el('td', {}, moves ? agentName(m.to_agent) : 'stays'),
    el('td', {}, m.why, m.at_risk ? ' (at risk)' : ''));
  return el('div', { class: 'scroll' },
    el('p', {}, `${plan.counts.moves} move, ${plan.counts.stays} stay, ${plan.counts.at_risk} at risk${plan.dry_run ? ' — preview, nothing changed yet' : ' — done'}.`),
    el('table', {}, el('caption', { class: 'visually-hidden' }, 'Handoff plan'),
      el('thead', {}, el('tr', {}, ['Call', 'Due', 'From', 'To', 'Why'].map((t) => el('th', { scope: 'col' }, t)))),
      el('tbody', {}, plan.moves.map((m) => row(m, true)), plan.stays.map((m) => row(m, false)))));
}

async function handoff(dryRun) {
  const body = handoffRequest(dryRun);
  if (!body.callback_ids && !body.from_agent) return say('Pick calls or an agent to hand over.');
  try {
    const plan = await api('POST', '/v1/handoffs', { body });
    $('ho-plan').replaceChildren(planTable(plan));
    $('ho-apply').disabled = !dryRun ? true : false;
    if (!dryRun) { say('Handoff applied. The new owners see your note first.', 'ok'); loadCoverage(); loadAudit(); }
  } catch (e) {
    say(explain(e, zone).message);
  }
}

async function loadAudit() {
  try {
    const page = await api('GET', '/v1/audit?limit=20');
    $('audit').replaceChildren(...(page.items.length ? page.items.map((x) => {
      const id = `lann-${x.id}`;
      const f = el('form', { class: 'card', 'aria-label': `Handoff ${x.id}` },
        el('p', {}, `${fmtTime(x.at, zone)} · call ${x.callback_id}: ${x.from.display_name} → ${x.to.display_name} by ${x.author} (${x.kind})`),
        el('p', {}, `Note: ${x.note.summary}${x.note.annotation ? ` — ${x.note.annotation}` : ''}`),
        el('label', { for: id }, 'Add to the note'), el('input', { type: 'text', id }),
        el('button', { type: 'submit', class: 'secondary' }, 'Annotate'));
      f.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        try { await api('PATCH', `/v1/handoffs/${x.id}`, { body: { annotation: $(id).value.trim() } }); say('Annotation saved.', 'ok'); loadAudit(); } catch (e) { say(explain(e, zone).message); }
      });
      return f;
    }) : [el('p', {}, 'No handoffs yet.')]));
  } catch (e) {
    $('audit').replaceChildren(el('p', {}, explain(e, zone).message));
  }
}

function agentOptions(withNone) {
  return [withNone ? el('option', { value: '' }, withNone) : null, ...agents.map((a) => el('option', { value: String(a.id) }, a.display_name))];
}

async function timeOff(ev) {
  ev.preventDefault();
  try {
    await api('POST', `/v1/agents/${$('to-agent').value}/time-off`, { body: { from: rfc3339(new Date($('to-from').value)), to: rfc3339(new Date($('to-to').value)), reason: $('to-reason').value.trim() || 'time off' } });
    say('Time off saved. Calls due then show as at risk until handed over.', 'ok');
    loadCoverage();
  } catch (e) {
    say(explain(e, zone).message);
  }
}

async function importIcs(ev) {
  ev.preventDefault();
  const file = $('imp-file').files[0];
  if (!file) return say('Choose an .ics file.');
  try {
    const rep = await api('POST', `/v1/shifts/import?dry_run=${$('imp-dry').checked ? 'true' : 'false'}`, { raw: await file.text(), rawType: 'text/calendar' });
    $('imp-report').replaceChildren(el('p', {}, `${rep.imported} imported, ${rep.rejected} rejected${rep.dry_run ? ' (preview)' : ''}.`),
      el('div', { class: 'scroll' }, el('table', {}, el('caption', { class: 'visually-hidden' }, 'Import report'),
        el('thead', {}, el('tr', {}, ['#', 'Event', 'Agent', 'Result'].map((t) => el('th', { scope: 'col' }, t)))),
        el('tbody', {}, rep.events.map((e) => el('tr', { class: e.status === 'rejected' ? 'risk' : '' },
          el('td', {}, String(e.index + 1)), el('td', {}, e.uid || ''), el('td', {}, e.agent || ''), el('td', {}, e.status, e.error ? `: ${e.error}` : '')))))));
    loadCoverage();
  } catch (e) {
    say(explain(e, zone).message);
  }
}

async function loadMessages() {
  try {
    // Dead ones first (they wait for someone), then those still failing.
    const dead = await api('GET', '/v1/messages?status=dead&limit=50');
    const failed = await api('GET', '/v1/messages?status=failed&limit=50');
    const page = { items: dead.items.concat(failed.items) };
    $('messages').replaceChildren(...(page.items.length ? [el('div', { class: 'scroll' }, el('table', {},
      el('caption', { class: 'visually-hidden' }, 'Failed and dead messages'),
      el('thead', {}, el('tr', {}, ['Call', 'Message', 'State', 'Last error', ''].map((t) => el('th', { scope: 'col' }, t)))),
      el('tbody', {}, page.items.map((m) => el('tr', {},
        el('td', {}, m.callback_id == null ? '' : String(m.callback_id)), el('td', {}, `${m.channel} ${m.kind}`),
        el('td', {}, m.status === 'dead' ? el('span', { class: 'badge bad' }, 'dead') : el('span', { class: 'badge warn' }, `failing, ${m.attempts} tries`)),
        el('td', {}, m.last_error || ''),
        el('td', {}, m.status === 'dead' ? el('button', { type: 'button', class: 'secondary', 'aria-label': `Send again: ${m.kind} for call ${m.callback_id}`, onclick: async () => {
          try { await api('POST', `/v1/messages/${m.outbox_id}/requeue`); say('Queued to be sent again.', 'ok'); loadMessages(); } catch (e) { say(explain(e, zone).message); }
        } }, 'Send again') : ''))))))]
      : [el('p', {}, 'No failed or dead messages.')]));
  } catch (e) {
    $('messages').replaceChildren(el('p', {}, explain(e, zone).message));
  }
}

// The callback report (GET /v1/reports/callbacks) for a range of days in
// the lead's zone: a table per day and one per agent, and the same rows as
// a CSV file through a plain link (the session cookie goes with it).
const localDay = (d) => new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(d);
const pct = (x) => (x === null || x === undefined ? '—' : `${Math.round(x * 100)}%`);
const REPORT_COLS = [
  ['Booked', (f) => String(f.booked)],
  ['Kept on time', (f) => `${f.kept_on_time} (${pct(f.on_time_rate)})`],
  ['Overdue', (f) => String(f.overdue)],
  ['Completed', (f) => String(f.completed)],
  ['Same owner', (f) => `${f.same_owner} (${pct(f.same_owner_rate)})`],
  ['Reached on first attempt', (f) => `${f.first_attempt_reached} of ${f.attempted} (${pct(f.first_attempt_reach_rate)})`],
  ['Handoffs with a note', (f) => `${f.handoffs_with_note} of ${f.handoffs} (${pct(f.handoffs_with_note_rate)})`],
];

function reportQuery(format) {
  const q = new URLSearchParams({ from: $('rep-from').value, to: $('rep-to').value, tz: zone, on_time_minutes: $('rep-grace').value || '5' });
  if (format) q.set('format', format);
  return `/v1/reports/callbacks?${q}`;
}

function reportTable(caption, first, items, label) {
  return el('div', { class: 'scroll' }, el('table', {},
    el('caption', {}, caption),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, first), REPORT_COLS.map(([t]) => el('th', { scope: 'col' }, t)))),
    el('tbody', {}, items.map((x) => el('tr', {}, el('th', { scope: 'row' }, label(x)), REPORT_COLS.map(([, f]) => el('td', {}, f(x))))))));
}

async function loadReport(ev) {
  if (ev) ev.preventDefault();
  $('rep-csv').href = reportQuery('csv');
  try {
    const rep = await api('GET', reportQuery());
    $('report').replaceChildren(
      el('p', {}, `${rep.from} to ${rep.to}, days in ${rep.tz}; on time means called within ${rep.on_time_minutes} minutes of the promised time${rep.team ? `; team ${rep.team}` : ''}.`),
      reportTable('Callbacks by day', 'Day', rep.days.concat([Object.assign({ day: 'All days' }, rep.total)]), (x) => x.day),
      rep.agents.length ? reportTable('Callbacks by agent', 'Agent', rep.agents, (x) => x.agent.display_name) : el('p', {}, 'Nothing booked or handed off in these days.'));
  } catch (e) {
    $('report').replaceChildren(el('p', { class: 'problem' }, explain(e, zone).message));
  }
}

function field(id, label, input) {
  return [el('label', { for: id }, label), input];
}

function build() {
  $('app').replaceChildren(
    el('nav', { class: 'tabs', 'aria-label': 'Sections' }, ['coverage', 'handoff', 'audit', 'shifts', 'messages', 'report'].map((s) => el('a', { href: `#sec-${s}`, class: 'button secondary' }, s[0].toUpperCase() + s.slice(1)))),
    el('section', { id: 'sec-coverage', 'aria-labelledby': 'h-coverage' }, el('h2', { id: 'h-coverage' }, 'Coverage'), el('span', { class: 'badge', id: 'live', role: 'status' }, 'Connecting…'), el('div', { id: 'coverage' })),
    el('section', { 'aria-labelledby': 'h-board' }, el('h3', { id: 'h-board' }, 'Who is on duty'), el('div', { id: 'board' })),
    el('section', { id: 'sec-handoff', 'aria-labelledby': 'h-handoff' }, el('h2', { id: 'h-handoff' }, 'Hand off'),
      el('form', { id: 'ho-form' },
        field('ho-ids', 'Calls to hand over (ids; or tick overdue calls above)', el('input', { type: 'text', id: 'ho-ids', inputmode: 'numeric' })),
        field('ho-from', 'Or all open calls of agent', el('select', { id: 'ho-from' }, agentOptions('—'))),
        field('ho-to', 'To agent', el('select', { id: 'ho-to' }, agentOptions('The best agent on duty'))),
        field('ho-summary', 'Summary for the next agent', el('textarea', { id: 'ho-summary', required: true })),
        field('ho-next', 'Next step', el('input', { type: 'text', id: 'ho-next', required: true })),
        field('ho-reason', 'Reason for the handoff', el('input', { type: 'text', id: 'ho-reason', required: true })),
        el('button', { type: 'button', id: 'ho-preview', onclick: () => handoff(true) }, 'Preview'),
        el('button', { type: 'button', id: 'ho-apply', disabled: true, onclick: () => handoff(false) }, 'Apply')),
      el('div', { id: 'ho-plan', 'aria-live': 'polite' })),
    el('section', { id: 'sec-audit', 'aria-labelledby': 'h-audit' }, el('h2', { id: 'h-audit' }, 'Audit trail'), el('div', { id: 'audit' })),
    el('section', { id: 'sec-shifts', 'aria-labelledby': 'h-shifts' }, el('h2', { id: 'h-shifts' }, 'Shifts and time off'),
      el('form', { id: 'sh-form', 'aria-labelledby': 'h-shift' }, el('h3', { id: 'h-shift' }, 'Weekly shift (replaces the agent\'s shifts)'),
        field('sh-agent', 'Agent for the shift', el('select', { id: 'sh-agent' }, agentOptions(null))),
        field('sh-start', 'Starts at', el('input', { type: 'time', id: 'sh-start', value: '09:00' })),
        field('sh-hours', 'Hours', el('input', { type: 'number', id: 'sh-hours', value: '8', min: '1', max: '24' })),
        el('fieldset', {}, el('legend', {}, 'Days'), ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'].map((d) => el('span', { class: 'choice' },
          el('input', { type: 'checkbox', id: `sh-${d}`, name: 'sh-day', value: d, checked: !['SA', 'SU'].includes(d) }), el('label', { for: `sh-${d}` }, d)))),
        el('button', { type: 'submit' }, 'Save shift')),
      el('h3', {}, 'Time off'),
      el('form', { id: 'to-form' },
        field('to-agent', 'Agent', el('select', { id: 'to-agent' }, agentOptions(null))),
        field('to-from', 'Away from', el('input', { type: 'datetime-local', id: 'to-from', required: true })),
        field('to-to', 'Back at', el('input', { type: 'datetime-local', id: 'to-to', required: true })),
        field('to-reason', 'Reason for the time off', el('input', { type: 'text', id: 'to-reason' })),
        el('button', { type: 'submit' }, 'Save time off')),
      el('h3', {}, 'Import shifts from a calendar'),
      el('form', { id: 'imp-form' },
        field('imp-file', 'Calendar file (.ics)', el('input', { type: 'file', id: 'imp-file', accept: '.ics,text/calendar' })),
        el('div', { class: 'choice' }, el('input', { type: 'checkbox', id: 'imp-dry', checked: true }), el('label', { for: 'imp-dry' }, 'Preview only')),
        el('button', { type: 'submit' }, 'Import')),
      el('div', { id: 'imp-report', 'aria-live': 'polite' })),
    el('section', { id: 'sec-messages', 'aria-labelledby': 'h-messages' }, el('h2', { id: 'h-messages' }, 'Messages'),
      el('div', { id: 'messages' })),
    el('section', { id: 'sec-report', 'aria-labelledby': 'h-report' }, el('h2', { id: 'h-report' }, 'Report'),
      el('form', { id: 'rep-form' },
        field('rep-from', 'First day', el('input', { type: 'date', id: 'rep-from', required: true, value: localDay(new Date(Date.now() - 6 * 86400e3)) })),
        field('rep-to', 'Last day', el('input', { type: 'date', id: 'rep-to', required: true, value: localDay(new Date()) })),
        field('rep-grace', 'On time: called within (minutes of the promise)', el('input', { type: 'number', id: 'rep-grace', value: '5', min: '0', max: '1440' })),
        el('button', { type: 'submit' }, 'Show report'), ' ',
        el('a', { id: 'rep-csv', class: 'button secondary', href: '#', download: '' }, 'Download CSV')),
      el('div', { id: 'report', 'aria-live': 'polite' })));
  $('rep-form').addEventListener('submit', loadReport);
  $('to-form').addEventListener('submit', timeOff);
  $('sh-form').addEventListener('submit', saveShift);
  $('imp-form').addEventListener('submit', importIcs);
}

function soon() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => { loadCoverage(); loadAudit(); loadMessages(); }, 200);
}

async function start() {
  const s = await requireSession(['lead', 'admin']);
  if (!s) {
    $('app').replaceChildren(el('p', {}, 'This page is for shift leads. ', el('a', { href: '/signin' }, 'Sign in')));
    return;
  }
  await loadAgents();
  build();
  await loadCoverage();
  await loadBoard();
  await loadAudit();
  await loadMessages();
  await loadReport();
  const es = new EventSource('/v1/events');
  es.addEventListener('callback', soon);
  es.addEventListener('open', () => { $('live').textContent = 'Live'; });
  es.addEventListener('error', () => { $('live').textContent = 'Reconnecting…'; });
}

start();
