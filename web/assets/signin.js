// signin.js: turns a sign-in link (/signin#<token>) or an API key into a
// session cookie (POST /v1/sessions), then opens the person's page. The
// token travels in the fragment, which browsers never send to a server or
// put in a Referer, and is removed from the address bar at once.
import { api, el, explain } from './api.js';
import { homeOf } from './session.js';

const $ = (id) => document.getElementById(id);

async function signIn(body) {
  $('problem').replaceChildren();
  $('status').textContent = 'Signing in…';
  try {
    const s = await api('POST', '/v1/sessions', { body });
    $('status').textContent = `Signed in as ${s.name}.`;
    location.replace(homeOf(s.role));
  } catch (e) {
    $('status').textContent = '';
    const msg = e.status === 401 || e.status === 403 || e.status === 404
      ? 'This sign-in link or key is not valid any more. Ask your shift lead for a new link.'
      : explain(e, 'UTC').message;
    $('problem').replaceChildren(el('p', { class: 'problem' }, msg));
  }
}

const token = location.hash.slice(1);
if (token) {
  history.replaceState(null, '', location.pathname);
  signIn({ token });
}
$('key-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const key = $('api-key').value.trim();
  $('api-key').value = '';
  if (key) signIn({ api_key: key });
});
