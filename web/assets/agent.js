// agent.js: the agent's console. My queue in due order, kept current by
// Server-Sent Events (GET /v1/me/events: a change made through any
// instance arrives within a second, and EventSource resumes by itself);
// each call shows the handoff note first, then the case timeline. Next /
// Claim, outcome buttons, notes, a follow-up booked during the call (am I
// on duty then? if not, a handoff note for whoever calls), my handoffs.
import { api, el, explain, fmtTime } from './api.js';
import { requireSession } from './session.js';

const $ = (id) => document.getElementById(id);
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
const OUTCOMES = [['reached', 'Reached'], ['no_answer', 'No answer'], ['busy', 'Busy'], ['wrong_number', 'Wrong number']];
const OVERDUE_GRACE_MS = 15 * 60 * 1000;
let me = null;
let reloadTimer = null;
const openTimelines = new Set();
// Cards drawn last, by callback id, with what they were drawn from: a
// reload keeps a card whose call has not changed, so what the agent is
// typing, a follow-up answer shown or the focus survive a push.
let drawn = new Map();

function say(msg, kind = 'problem') {
  $('problem').replaceChildren(msg ? el('p', { class: kind }, msg) : '');
}

async function act(fn, okMsg) {
  try {
    const r = await fn();
    if (okMsg) say(okMsg, 'ok');
    await loadQueue();
    return r;
  } catch (e) {
    say(explain(e, zone).message);
    return undefined; // told; null stays "nothing due" (204)
  }
}

function handoffNote(n) {
  if (!n || !n.summary) return null;
  return el('div', { class: 'note', role: 'note', 'aria-label': 'Handoff note' },
    el('strong', {}, 'Handoff note: '), n.summary,
    n.next_step ? el('div', {}, el('strong', {}, 'Next step: '), n.next_step) : null,
    n.reason ? el('div', { class: 'hint' }, `Why: ${n.reason}`) : null,
    n.annotation ? el('div', {}, el('strong', {}, 'Added: '), n.annotation) : null);
}

function timelineLine(t) {
  const d = t.data || {};
  const what = t.kind === 'note' ? `Note: ${d.text}`
    : t.kind === 'attempt' ? `Call: ${d.result || ''}${d.note ? ` — ${d.note}` : ''}`
      : t.kind === 'handoff' || t.kind === 'handoff_note' ? `Handoff${d.summary ? `: ${d.summary}` : ''}${d.annotation ? ` (${d.annotation})` : ''}`
        : t.kind === 'message' ? `Message ${d.type || d.kind || ''} by ${d.channel || ''}: ${d.status || ''}`
          : t.kind.replace(/_/g, ' ');
  return el('li', {}, el('span', { class: 'hint' }, `${fmtTime(t.at, zone)} · ${t.actor} · `), what);
}

async function loadTimeline(item, box) {
  try {
    const c = await api('GET', `/v1/cases/${item.case_id}`);
    box.replaceChildren(el('ul', { class: 'plain timeline' }, [...c.timeline].reverse().map(timelineLine)));
  } catch (e) {
    box.replaceChildren(el('p', {}, explain(e, zone).message));
  }
}

function followUpForm(item) {
  const f = el('form', { class: 'follow-up', 'aria-label': `Follow-up for ${item.customer.name}` });
  const id = `fu-${item.id}`;
  const result = el('div', { 'aria-live': 'polite', id: `${id}-result` });
  const input = el('input', { type: 'datetime-local', id: `${id}-when`, required: true });
  // Who would call at that time, by the rules the move itself follows:
  // me, or whoever most likely takes it (so I can tell the customer now).
  const check = async () => {
    if (!input.value) return null;
    const at = new Date(input.value).toISOString().replace(/\.\d+Z/, 'Z');
    try {
      const who = await api('GET', `/v1/callbacks/${item.id}/who-calls?at=${encodeURIComponent(at)}`);
      if (who.is_owner) {
        result.replaceChildren(el('p', { class: 'ok' }, 'You are on duty then: you will make this call yourself.'));
      } else {
        const name = who.agent.display_name;
        result.replaceChildren(el('p', { class: 'notice' }, `You are not on duty then: ${name} will most likely call. Tell the customer, book it, then write your handoff note for ${name} so they know everything.`));
      }
      return who;
    } catch (e) {
      result.replaceChildren(el('p', { class: 'problem' }, explain(e, zone).message));
      return null;
    }
  };
  input.addEventListener('change', check);
  f.append(el('label', { for: `${id}-when` }, 'Follow-up time (your zone)'), input,
    el('label', { for: `${id}-note` }, 'Note for the follow-up'), el('textarea', { id: `${id}-note` }),
    result, el('button', { type: 'submit' }, 'Book the follow-up'));
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const slot = await check();
    if (!slot) return;
    const body = { result: 'reschedule', when: new Date(input.value).toISOString().replace(/\.\d+Z/, 'Z') };
    const note = $(`${id}-note`).value.trim();
    if (note) body.note = note;
    try {
      const cb = await api('POST', `/v1/callbacks/${item.id}/outcome`, { body });
      input.value = '';
      $(`${id}-note`).value = '';
      const owner = cb.owner && cb.owner.display_name;
      const handedOn = cb.owner && cb.owner.id && cb.owner.id !== me.agent_id;
      if (handedOn) {
        say(`Follow-up booked for ${fmtTime(cb.scheduled_at, zone)}. ${owner} will call: write your handoff note for ${owner} below, now.`, 'ok');
      } else {
        say(`Follow-up booked for ${fmtTime(cb.scheduled_at || body.when, zone)}.`, 'ok');
      }
      await loadQueue();
      await loadHandoffs();
      // Straight to the note for whoever calls, while the call is fresh.
      if (handedOn) {
        const box = document.querySelector(`[data-callback="${item.id}"] textarea`);
        if (box) box.focus();
      }
    } catch (e) {
      result.replaceChildren(el('p', { class: 'problem' }, explain(e, zone).message));
    }
  });
  return f;
}

// Late by more than the service's default grace (overdue_grace_min).
function isOverdue(item, now) {
  return item.state !== 'in_progress' && Date.parse(item.due_at) < now - OVERDUE_GRACE_MS;
}

function card(item, overdue) {
  const onCall = item.state === 'in_progress';
  const name = item.customer.name;
  const box = el('div', { class: 'timeline-box' });
  const details = el('details', {}, el('summary', {}, 'Case timeline'), box);
  details.addEventListener('toggle', () => {
    if (details.open) { openTimelines.add(item.id); loadTimeline(item, box); } else openTimelines.delete(item.id);
  });
  if (openTimelines.has(item.id)) { details.open = true; loadTimeline(item, box); }
  const noteId = `note-${item.id}`;
  const noteForm = el('form', { 'aria-label': `Case note for ${name}` },
    el('label', { for: noteId }, 'Add a case note'), el('textarea', { id: noteId }),
    el('button', { type: 'submit', class: 'secondary' }, 'Save note'));
  noteForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = $(noteId).value.trim();
    if (text) {
      act(async () => {
        await api('POST', `/v1/cases/${item.case_id}/notes`, { body: { text } });
        $(noteId).value = ''; // saved: not to be typed back by the reload
      }, 'Note saved.');
    }
  });
  return el('li', { class: `card${overdue ? ' overdue' : ''}${onCall ? ' claimed' : ''}`, 'aria-label': `Call ${name}` },
    el('h3', {}, name, ' ',
      overdue ? el('span', { class: 'badge bad' }, 'Overdue') : null,
      onCall ? el('span', { class: 'badge good' }, 'On the call') : null),
    handoffNote(item.handoff_note),
    el('dl', { class: 'facts' },
      el('dt', {}, 'Due'), el('dd', {}, item.asap ? `As soon as possible (since ${fmtTime(item.due_at, zone)})` : fmtTime(item.due_at, zone)),
      el('dt', {}, 'Phone'), el('dd', {}, el('a', { href: `tel:${item.customer.phone}` }, item.customer.phone)),
      el('dt', {}, 'About'), el('dd', {}, item.topic),
      el('dt', {}, 'Attempts'), el('dd', {}, String(item.attempts)),
      item.case_summary && item.case_summary.last_note ? [el('dt', {}, 'Last note'), el('dd', {}, item.case_summary.last_note.text || '')] : null),
    details,
    onCall
      ? el('div', { role: 'group', 'aria-label': 'Outcome' }, OUTCOMES.map(([r, label]) => el('button', {
        type: 'button', onclick: () => act(() => api('POST', `/v1/callbacks/${item.id}/outcome`, { body: { result: r } }), `Recorded: ${label}.`),
      }, label)))
      : el('button', { type: 'button', onclick: () => act(() => api('POST', `/v1/callbacks/${item.id}/claim`), `You are on the call with ${name}.`) }, `Claim the call with ${name}`),
    onCall ? followUpForm(item) : null,
    noteForm);
}

// What the agent has typed into a box (by id) and where the focus is, so
// a box drawn anew gets them back.
function typed(root) {
  const values = new Map();
  for (const f of root.querySelectorAll('input[id], textarea[id]')) {
    if (f.value) values.set(f.id, f.value);
  }
  const focus = root.contains(document.activeElement) ? document.activeElement.id : '';
  return { values, focus };
}

function retype(root, { values, focus }) {
  for (const [id, value] of values) {
    const f = document.getElementById(id);
    if (f && root.contains(f) && !f.value) {
      f.value = value;
      if (f.type === 'datetime-local') f.dispatchEvent(new Event('change'));
    }
  }
  const f = focus && document.getElementById(focus);
  if (f && root.contains(f) && document.activeElement !== f) f.focus();
}

function drawQueue(items, now) {
  const root = $('queue');
  const kept = typed(root);
  const next = new Map();
  const cards = items.map((i) => {
    const overdue = isOverdue(i, now);
    const sig = JSON.stringify([i, overdue]);
    const old = drawn.get(i.id);
    const node = old && old.sig === sig ? old.node : card(i, overdue);
    next.set(i.id, { sig, node });
    return node;
  });
  drawn = next;
  root.replaceChildren(...(cards.length ? cards : [el('li', {}, 'Nothing in your queue.')]));
  retype(root, kept);
}

async function loadQueue() {
  try {
    const q = await api('GET', '/v1/me/queue?limit=200');
    drawQueue(q.items, Date.now());
    $('queue-count').textContent = `${q.items.length} open`;
  } catch (e) {
    say(explain(e, zone).message);
  }
}

async function loadHandoffs() {
  try {
    const h = await api('GET', '/v1/me/handoffs');
    const kept = typed($('handoffs'));
    $('handoffs').replaceChildren(...(h.given.length ? h.given.map((x) => {
      const id = `ann-${x.id}`;
      const f = el('form', { class: 'card', 'aria-label': `Handoff of call ${x.callback_id}`, 'data-callback': String(x.callback_id) },
        el('p', {}, `Call ${x.callback_id}, due ${fmtTime(x.due_at, zone)}, to ${x.to.display_name}: ${x.note.summary}`),
        x.note.annotation ? el('p', {}, `Your note: ${x.note.annotation}`) : null,
        el('label', { for: id }, `Handoff note for ${x.to.display_name}`), el('textarea', { id }),
        el('button', { type: 'submit' }, 'Save handoff note'));
      f.addEventListener('submit', (ev) => {
        ev.preventDefault();
        const annotation = $(id).value.trim();
        if (annotation) {
          act(async () => {
            await api('PATCH', `/v1/handoffs/${x.id}`, { body: { annotation } });
            $(id).value = '';
            await loadHandoffs();
          }, 'Handoff note saved.');
        }
      });
      return f;
    }) : [el('p', {}, 'You have handed nothing over.')]));
    retype($('handoffs'), kept);
  } catch (e) {
    $('handoffs').replaceChildren(el('p', {}, explain(e, zone).message));
  }
}

// Several events in a burst make one reload.
function soon() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => { loadQueue(); loadHandoffs(); }, 100);
}

function listen() {
  const es = new EventSource('/v1/me/events');
  es.addEventListener('callback', soon);
  es.addEventListener('open', () => { $('live').textContent = 'Live'; });
  es.addEventListener('error', () => { $('live').textContent = 'Reconnecting…'; });
}

async function start() {
  me = await requireSession(['agent']);
  if (!me) {
    $('app').replaceChildren(el('p', {}, 'This page is for agents. ', el('a', { href: '/signin' }, 'Sign in')));
    return;
  }
  $('app').replaceChildren(
    el('p', {}, el('button', { type: 'button', id: 'next', onclick: async () => {
      const r = await act(() => api('POST', '/v1/me/queue/next'));
      if (r === null) say('Nothing is due right now.', 'notice');
      else if (r) say(`You are on the call with ${r.customer ? r.customer.name : 'the customer'}.`, 'ok');
    } }, 'Next call'), ' ', el('span', { class: 'badge', id: 'live', role: 'status' }, 'Connecting…'), ' ', el('span', { id: 'queue-count' })),
    el('h2', {}, 'Calls in due order'), el('ul', { class: 'plain', id: 'queue' }),
    el('h2', {}, 'My handoffs'), el('div', { id: 'handoffs' }));
  await loadQueue();
  await loadHandoffs();
  listen();
}

start();
