// manage.js: the customer's manage page, opened from the link in every
// message (/v1/callbacks/{id}?token=..., or /manage?id=..&token=...).
// Shows when and who, moves the call with "the same person" or "the
// earliest anyone" (PATCH /v1/callbacks/{id} with choice), cancels, offers
// the invite as .ics and lists the messages sent.
import { api, allZones, browserZone, el, explain, fmtDay, fmtTime, fmtWait, rfc3339 } from './api.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const hash = new URLSearchParams(location.hash.slice(1));
const pathId = (location.pathname.match(/^\/v1\/callbacks\/(\d+)$/) || [])[1];
const id = pathId || params.get('id') || hash.get('id');
const token = params.get('token') || hash.get('token');
let current = null;
let refreshTimer = null;

const zone = () => $('zone').value || browserZone();
const open = (cb) => ['pending', 'scheduled', 'retry_wait'].includes(cb.state);

function fillZones() {
  const here = browserZone();
  const zones = allZones();
  if (!zones.includes(here)) zones.unshift(here);
  $('zone').replaceChildren();
  for (const z of zones) $('zone').append(el('option', { value: z, selected: z === here }, z.replace(/_/g, ' ')));
}

function summary(cb) {
  const who = cb.owner.display_name;
  switch (cb.state) {
    case 'cancelled': return 'This callback is cancelled.';
    case 'completed': return `${who} called you. This callback is done.`;
    case 'failed': return 'We could not reach you. You are welcome to book again.';
    case 'in_progress': return `${who} is calling you now.`;
    default:
      if (cb.asap && cb.position) return `${who} will call you as soon as possible: you are number ${cb.position} in line, ${fmtWait(cb.eta_seconds || 0)} from now.`;
      if (cb.asap) return `${who} will call you as soon as possible.`;
      return `${who} will call you ${fmtTime(cb.scheduled_at, zone())}.`;
  }
}

function render(cb) {
  current = cb;
  $('summary').textContent = summary(cb);
  $('facts').replaceChildren(
    el('dt', {}, 'About'), el('dd', {}, cb.topic),
    el('dt', {}, 'Who calls'), el('dd', { id: 'owner' }, cb.owner.display_name),
    el('dt', {}, 'When'), el('dd', { id: 'when' }, cb.asap ? 'As soon as possible' : fmtTime(cb.scheduled_at, zone())),
    el('dt', {}, 'Reference'), el('dd', {}, `#${cb.id}`));
  $('choice-same-label').textContent = `The same person (${cb.owner.display_name})`;
  $('calendar').replaceChildren(!cb.asap && open(cb)
    ? el('a', { href: `/v1/callbacks/${id}/invite.ics?token=${encodeURIComponent(token)}`, download: `callback-${id}.ics`, class: 'button secondary' }, 'Add to my calendar (.ics)')
    : '');
  $('change').hidden = !open(cb);
  clearTimeout(refreshTimer);
  // A waiting ASAP call's place in line moves: keep it current.
  if (cb.asap && open(cb)) refreshTimer = setTimeout(load, 20000);
}

async function loadSlots() {
  const sel = $('slot');
  sel.replaceChildren(el('option', { value: '' }, 'The first time that suits my choice'));
  const from = new Date(Date.now() + 60 * 1000);
  const to = new Date(from.getTime() + 7 * 86400 * 1000);
  try {
    const slots = await api('GET', `/v1/slots?from=${encodeURIComponent(rfc3339(from))}&to=${encodeURIComponent(rfc3339(to))}&tz=${encodeURIComponent(zone())}`);
    let group = null;
    let day = '';
    for (const s of slots.filter((x) => x.available > 0)) {
      const d = fmtDay(s.start, zone());
      if (d !== day) { day = d; group = el('optgroup', { label: d }); sel.append(group); }
      group.append(el('option', { value: s.start }, fmtTime(s.start, zone(), false)));
    }
  } catch (e) {
    /* the first option still works */
  }
}

async function loadMessages() {
  try {
    const res = await api('GET', `/v1/callbacks/${id}/messages`, { token });
    const items = res.items.filter((m) => m.status !== 'withdrawn');
    $('messages').replaceChildren(...(items.length ? items.map((m) => el('li', { class: 'card' },
      el('strong', {}, m.channel === 'sms' ? 'Text message' : 'E-mail'), ` — ${m.kind.replace(/^[a-z]+\./, '').replace(/_/g, ' ')}: `,
      m.status === 'sent' ? `sent ${fmtTime(m.sent_at, zone())}` : m.status === 'pending' ? `to be sent ${fmtTime(m.due_at, zone())}` : m.status === 'dead' ? 'could not be delivered' : 'not sent'))
      : [el('li', {}, 'Nothing yet.')]));
  } catch (e) {
    $('messages').replaceChildren(el('li', {}, 'The list of messages could not be loaded.'));
  }
}

async function load() {
  try {
    render(await api('GET', `/v1/callbacks/${id}`, { token }));
  } catch (e) {
    $('summary').textContent = '';
    $('problem').replaceChildren(el('p', { class: 'problem' }, e.status === 404 || e.status === 401 ? `${explain(e, zone()).message} This link does not open a callback.` : explain(e, zone()).message));
  }
}

async function move(ev) {
  ev.preventDefault();
  $('move-problem').replaceChildren();
  $('slot-error').hidden = true;
  $('slot').removeAttribute('aria-invalid');
  const body = { choice: document.querySelector('input[name=choice]:checked').value };
  if ($('slot').value) body.when = $('slot').value;
  $('move').disabled = true;
  try {
    const cb = await api('PATCH', `/v1/callbacks/${id}`, { body, token });
    render(cb);
    const moved = cb.previous_owner ? ` ${cb.owner.display_name} will call instead of ${cb.previous_owner.display_name}, and knows what it is about.` : '';
    $('move-problem').replaceChildren(el('p', { class: 'ok' }, `Done: ${summary(cb)}${moved}`));
    loadMessages();
  } catch (e) {
    const { message, field } = explain(e, zone());
    const box = el('p', { class: 'problem' }, message);
    const next = e.problem && e.problem.next_available;
    if (next) {
      box.append(' ', el('button', { type: 'button', class: 'secondary', onclick: () => {
        $('slot').append(el('option', { value: next }, fmtTime(next, zone())));
        $('slot').value = next;
        $('move-form').requestSubmit();
      } }, `Take ${fmtTime(next, zone())}`));
    }
    $('move-problem').replaceChildren(box);
    if (field === 'when') {
      $('slot').setAttribute('aria-invalid', 'true');
      $('slot-error').textContent = message;
      $('slot-error').hidden = false;
    }
  } finally {
    $('move').disabled = false;
  }
}

async function cancel() {
  try {
    render(await api('DELETE', `/v1/callbacks/${id}`, { token }));
    $('confirm-cancel').hidden = true;
    $('problem').replaceChildren(el('p', { class: 'ok' }, 'Your callback is cancelled.'));
    loadMessages();
  } catch (e) {
    $('problem').replaceChildren(el('p', { class: 'problem' }, explain(e, zone()).message));
  }
}

function start() {
  fillZones();
  if (!id || !token) {
    $('summary').textContent = '';
    $('problem').replaceChildren(el('p', { class: 'problem' }, 'This address is incomplete: open the link from your text message or e-mail.'));
    return;
  }
  // The forms also work without the script (the server answers them);
  // here the script takes them over.
  $('zone-show').hidden = true;
  $('zone-form').addEventListener('submit', (e) => e.preventDefault());
  $('zone').addEventListener('change', () => { if (current) render(current); loadSlots(); loadMessages(); });
  $('move-form').addEventListener('submit', move);
  $('cancel-form').addEventListener('submit', (e) => e.preventDefault());
  $('cancel').addEventListener('click', (e) => { e.preventDefault(); $('confirm-cancel').hidden = false; $('cancel-yes').focus(); });
  $('cancel-no').addEventListener('click', (e) => { e.preventDefault(); $('confirm-cancel').hidden = true; $('cancel').focus(); });
  $('cancel-yes').addEventListener('click', (e) => { e.preventDefault(); cancel(); });
  load();
  loadSlots();
  loadMessages();
}

start();
