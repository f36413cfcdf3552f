// session.js: the staff pages' sign-in state. The session lives in an
// HttpOnly cookie the page cannot read; GET /v1/sessions/current tells
// who is signed in and gives the CSRF token that changes must carry.
import { api, el, setCsrfToken } from './api.js';

/** Where a role works. */
export function homeOf(role) {
  return role === 'agent' ? '/agent' : '/lead';
}

/**
 * The current session, or null after showing a sign-in prompt in the
 * header. roles: the roles this page is for.
 */
export async function requireSession(roles) {
  const bar = document.getElementById('session');
  let s;
  try {
    s = await api('GET', '/v1/sessions/current');
  } catch (e) {
    bar.replaceChildren(el('span', {}, 'You are not signed in. '), el('a', { href: '/signin' }, 'Sign in'));
    return null;
  }
  setCsrfToken(s.csrf_token);
  bar.replaceChildren(
    el('span', {}, `Signed in as ${s.name} (${s.role})`),
    roles.includes(s.role) ? '' : el('a', { href: homeOf(s.role) }, 'Your page'),
    el('button', { type: 'button', class: 'secondary', id: 'sign-out', onclick: signOut }, 'Sign out'));
  if (!roles.includes(s.role)) return null;
  return s;
}

async function signOut() {
  try {
    await api('DELETE', '/v1/sessions/current');
  } finally {
    location.assign('/signin');
  }
}
