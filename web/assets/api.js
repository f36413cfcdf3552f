// api.js: the one way the pages talk to the daemon: JSON in and out,
// problem+json turned into an ApiError that says what to tell a person.

/** An answer that is not 2xx: status, the problem body, Retry-After. */
export class ApiError extends Error {
  constructor(status, problem, retryAfterSec) {
    super((problem && problem.detail) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.type = (this.problem.type || '').replace('/problems/', '');
    this.field = this.problem.errors && this.problem.errors[0]
      ? this.problem.errors[0].field : '';
    this.retryAfterSec = retryAfterSec;
  }
}

let csrfToken = '';
/** Staff pages signed in with a session cookie send this on changes. */
export function setCsrfToken(t) { csrfToken = t || ''; }

/**
 * One request. opts: body (sent as JSON), token (a manage token, sent as
 * a bearer credential), raw (a string body) with rawType, accept.
 * Resolves to the parsed JSON (or text for non-JSON answers; null on 204).
 */
export async function api(method, path, opts = {}) {
  const headers = { Accept: opts.accept || 'application/json' };
  let body;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  } else if (opts.raw !== undefined) {
    headers['Content-Type'] = opts.rawType || 'text/plain';
    body = opts.raw;
  }
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  if (csrfToken && method !== 'GET' && method !== 'HEAD') {
    headers['X-CSRF-Token'] = csrfToken;
  }
  let resp;
  try {
    resp = await fetch(path, { method, headers, body, credentials: 'same-origin' });
  } catch (e) {
    throw new ApiError(0, { type: '/problems/network', detail: 'The service cannot be reached. Check your connection and try again.' });
  }
  const type = resp.headers.get('Content-Type') || '';
  const text = resp.status === 204 ? '' : await resp.text();
  const parsed = type.includes('json') && text ? JSON.parse(text) : text;
  if (!resp.ok) {
    const ra = parseInt(resp.headers.get('Retry-After') || '0', 10);
    throw new ApiError(resp.status, typeof parsed === 'object' ? parsed : { detail: text }, ra);
  }
  return resp.status === 204 ? null : parsed;
}

/** The browser's own IANA zone (UTC when it cannot tell). */
export function browserZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch (e) {
    return 'UTC';
  }
}

/** Every zone the browser knows, for a zone picker. */
export function allZones() {
  try {
    return Intl.supportedValuesOf('timeZone');
  } catch (e) {
    return ['UTC', browserZone()];
  }
}

/** "Thu 3 Dec, 15:00" in zone tz. */
export function fmtTime(iso, tz, withDay = true) {
  if (!iso) return '';
  const opts = { hour: '2-digit', minute: '2-digit', timeZone: tz };
  if (withDay) Object.assign(opts, { weekday: 'short', day: 'numeric', month: 'short' });
  try {
    return new Intl.DateTimeFormat(undefined, opts).format(new Date(iso));
  } catch (e) {
    return new Date(iso).toLocaleString();
  }
}

/** "Thursday 3 December" in zone tz: a heading for a day's slots. */
export function fmtDay(iso, tz) {
  return new Intl.DateTimeFormat(undefined, {
    weekday: 'long', day: 'numeric', month: 'long', timeZone: tz,
  }).format(new Date(iso));
}

/** "about 12 minutes" */
export function fmtWait(sec) {
  if (sec < 90) return 'about a minute';
  const min = Math.round(sec / 60);
  if (min < 90) return `about ${min} minutes`;
  return `about ${Math.round(min / 60)} hours`;
}

/** RFC 3339 with offset for a Date (UTC "Z"). */
export function rfc3339(d) {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Make an element with attributes and children (text or nodes). */
export function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return e;
}

/**
 * What to tell a person about a failed request, in words, given the
 * zone to show times in. Returns { message, field }.
 */
export function explain(err, tz) {
  const p = err.problem || {};
  const next = p.next_available ? fmtTime(p.next_available, tz) : '';
  const wait = err.retryAfterSec ? ` Please try again in ${fmtWait(err.retryAfterSec)}.` : ' Please try again later.';
  switch (err.type) {
    case 'outside-hours':
      return { message: `We are closed at that time.${next ? ` The next opening is ${next}.` : ''}`, field: 'when' };
    case 'slot-full':
      return { message: `That time was just taken by someone else.${next ? ` The next free time is ${next}.` : ''} Please pick another.`, field: 'when' };
    case 'too-soon':
      return { message: `That time is too soon to arrange. ${p.detail || ''}`, field: 'when' };
    case 'no-agents-on-duty':
    case 'no-agents':
      return { message: `Nobody can take a call then.${next ? ` The next opening is ${next}.` : ''} Please pick another time.`, field: 'when' };
    case 'rate-limited':
    case 'too-many-changes':
      return { message: `Too many requests from here.${wait}`, field: '' };
    case 'owner-unavailable':
      return { message: `That person cannot call at that time.${next ? ` Their next free time is ${next}.` : ''}`, field: 'when' };
    case 'invalid-phone':
      return { message: 'That phone number does not look right. Include the area code, e.g. 020 7946 0018 or +44 20 7946 0018.', field: 'customer.phone' };
    case 'invalid-email':
      return { message: 'That e-mail address does not look right.', field: 'customer.email' };
    case 'token-expired':
      return { message: 'This link has expired. Ask for a new one, or book again.', field: '' };
    case 'network':
      return { message: p.detail, field: '' };
    default:
      return { message: p.detail || `Something went wrong (${err.status}).`, field: err.field || '' };
  }
}
