// book.js: the customer's book page. ASAP or a free slot (from
// GET /v1/slots, shown in the browser's zone, which the customer may
// change), the contact details, and POST /v1/callbacks; each problem the
// API can answer becomes a sentence next to the field at fault.
import { api, allZones, browserZone, el, explain, fmtDay, fmtTime, fmtWait, rfc3339 } from './api.js';

const $ = (id) => document.getElementById(id);
const fieldIds = { 'customer.name': 'name', 'customer.phone': 'phone', 'customer.email': 'email', topic: 'topic', when: 'slot', notify: 'notify-sms' };
// One key per attempt to book, so a double click or a retry after a lost
// answer books once.
let idemKey = crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random();

function zone() { return $('zone').value || browserZone(); }

function fillZones() {
  const here = browserZone();
  const zones = allZones();
  if (!zones.includes(here)) zones.unshift(here);
  // The server wrote a short list in the company's zone (for browsers
  // without scripts): here the browser knows better.
  $('zone').replaceChildren();
  for (const z of zones) $('zone').append(el('option', { value: z, selected: z === here }, z.replace(/_/g, ' ')));
}

async function loadSlots() {
  const sel = $('slot');
  sel.replaceChildren(el('option', { value: '' }, 'Loading free times…'));
  const from = new Date(Date.now() + 60 * 1000);
  const to = new Date(from.getTime() + 7 * 86400 * 1000);
  try {
    const slots = await api('GET', `/v1/slots?from=${encodeURIComponent(rfc3339(from))}&to=${encodeURIComponent(rfc3339(to))}&tz=${encodeURIComponent(zone())}`);
    const free = slots.filter((s) => s.available > 0);
    sel.replaceChildren();
    if (free.length === 0) {
      sel.append(el('option', { value: '' }, 'No free times in the next 7 days'));
      return;
    }
    let group = null;
    let day = '';
    for (const s of free) {
      const d = fmtDay(s.start, zone());
      if (d !== day) {
        day = d;
        group = el('optgroup', { label: d });
        sel.append(group);
      }
      group.append(el('option', { value: s.start }, fmtTime(s.start, zone(), false)));
    }
  } catch (e) {
    sel.replaceChildren(el('option', { value: '' }, 'Free times could not be loaded'));
    showProblem(e);
  }
}

function clearProblems() {
  $('problem').replaceChildren();
  for (const id of ['name', 'phone', 'email', 'topic', 'slot']) {
    $(id).removeAttribute('aria-invalid');
    $(`${id}-error`).hidden = true;
  }
}

function showProblem(e) {
  const { message, field } = explain(e, zone());
  const id = fieldIds[field];
  if (id && $(`${id}-error`)) {
    if (id === 'slot') {
      $('when-later').checked = true;
      $('later').hidden = false;
    }
    $(id).setAttribute('aria-invalid', 'true');
    $(`${id}-error`).textContent = message;
    $(`${id}-error`).hidden = false;
  }
  $('problem').replaceChildren(el('p', { class: 'problem' }, message));
  if (id) $(id).focus();
}

function request() {
  const notify = [...document.querySelectorAll('input[name=notify]:checked')].map((i) => i.value);
  const later = $('when-later').checked;
  const customer = { name: $('name').value.trim(), phone: $('phone').value.replace(/[\s().-]/g, ''), timezone: zone() };
  // Reminders in the browser's language, when it names one plainly.
  const lang = navigator.language || '';
  if (lang.length <= 35 && /^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/.test(lang)) customer.language = lang;
  if ($('email').value.trim()) customer.email = $('email').value.trim();
  return { customer, topic: $('topic').value.trim(), when: later ? $('slot').value : 'asap', notify };
}

// What the browser can tell before asking: empty fields.
function missing(req) {
  if (!req.customer.name) return { field: 'customer.name', detail: 'Please give your name.' };
  if (!req.customer.phone) return { field: 'customer.phone', detail: 'Please give a phone number we can call.' };
  if (!req.topic) return { field: 'topic', detail: 'Please say briefly what it is about.' };
  if (!req.when) return { field: 'when', detail: 'Please pick a time.' };
  if (req.notify.includes('email') && !req.customer.email) return { field: 'customer.email', detail: 'Give an e-mail address for the reminder by e-mail.' };
  return null;
}

function showBooked(cb) {
  const tz = zone();
  const when = cb.asap
    ? `as soon as possible: you are number ${cb.position} in line, ${fmtWait(cb.eta_seconds || 0)} from now`
    : fmtTime(cb.scheduled_at, tz);
  const manage = cb.links && cb.links.manage;
  $('done-body').replaceChildren(
    el('p', { class: 'ok' }, `${cb.owner.display_name} will call you ${when}.`),
    el('dl', { class: 'facts' },
      el('dt', {}, 'About'), el('dd', {}, cb.topic),
      el('dt', {}, 'Reference'), el('dd', {}, `#${cb.id}`)),
    manage ? el('p', {}, el('a', { href: manage, class: 'button', id: 'manage-link' }, 'See, change or cancel this callback')) : '',
    el('p', { class: 'hint' }, 'We have also sent you this link. Keep it: it is how you change or cancel the call.'));
  $('book-form').hidden = true;
  $('done').hidden = false;
  $('done').focus();
}

async function submit(ev) {
  ev.preventDefault();
  clearProblems();
  const req = request();
  const miss = missing(req);
  if (miss) {
    showProblem({ problem: { detail: miss.detail }, field: miss.field, type: '' });
    return;
  }
  $('submit').disabled = true;
  try {
    const resp = await fetch('/v1/callbacks', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'Idempotency-Key': idemKey },
      body: JSON.stringify(req),
    });
    const body = await resp.json().catch(() => ({}));
    if (resp.status === 201) {
      showBooked(body);
    } else if (resp.status === 202) {
      $('problem').replaceChildren(el('p', { class: 'notice' }, 'This phone number already has a callback booked. We have texted its link to that phone, so you can see, change or cancel it there.'));
    } else {
      idemKey = crypto.randomUUID ? crypto.randomUUID() : String(Date.now());
      const { ApiError } = await import('./api.js');
      const ra = parseInt(resp.headers.get('Retry-After') || '0', 10);
      const err = new ApiError(resp.status, body, ra);
      showProblem(err);
      if (err.type === 'slot-full') loadSlots();
    }
  } catch (e) {
    showProblem({ problem: { detail: 'The service cannot be reached. Check your connection and try again.' }, type: 'network' });
  } finally {
    $('submit').disabled = false;
  }
}

// Framed by a company's site (embed.js): tell it how tall the page is, so
// its frame fits without a scroll bar. Only to the origins the service
// lets frame it (web_embed_origins, which the page carries): a message
// for any other origin is dropped by the browser.
function reportHeight() {
  if (window.parent === window) return;
  const origins = ($('main').dataset.embedOrigins || '').split(/\s+/).filter(Boolean);
  const send = () => {
    const height = Math.ceil(document.documentElement.scrollHeight);
    for (const o of origins) window.parent.postMessage({ type: 'callbackd:height', height }, o);
  };
  new ResizeObserver(send).observe(document.body);
  send();
}

function start() {
  fillZones();
  // The script loads the free times itself, in the browser's zone, and
  // again when the zone changes: the server's list (in the company's
  // zone) goes.
  $('show-times').hidden = true;
  $('slot').replaceChildren();
  let loaded = false;
  const toggle = () => {
    $('later').hidden = !$('when-later').checked;
    if ($('when-later').checked && !loaded) {
      loaded = true;
      loadSlots();
    }
  };
  toggle();
  $('when-asap').addEventListener('change', toggle);
  $('when-later').addEventListener('change', toggle);
  $('zone').addEventListener('change', loadSlots);
  $('book-form').addEventListener('submit', submit);
  reportHeight();
}

start();
