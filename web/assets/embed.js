// embed.js: the book page in a company's own site, with one tag:
//
//   <script src="https://callbackd.example/embed.js" async
//           data-title="Book a callback" data-height="720"></script>
//
// It puts a frame of this service's /book page where the tag is, and makes
// the frame as tall as the page inside it, from the height the book page
// reports by postMessage. Only messages from this service's own origin,
// from that frame, are believed; the book page in turn reports only to the
// origins the service lets frame it (web_embed_origins), so a company's
// site must be listed there (the frame stays blank otherwise).
//
// A classic script, not a module: document.currentScript names the tag.
(function () {
  'use strict';
  var tag = document.currentScript;
  if (!tag || !tag.src) return;
  var origin = new URL(tag.src).origin;
  var frame = document.createElement('iframe');
  frame.src = origin + '/book';
  frame.title = tag.getAttribute('data-title') || 'Book a callback';
  frame.className = 'callbackd-book';
  frame.style.width = '100%';
  frame.style.maxWidth = tag.getAttribute('data-max-width') || '40rem';
  frame.style.border = '0';
  frame.style.height = (parseInt(tag.getAttribute('data-height'), 10) || 720) + 'px';
  tag.parentNode.insertBefore(frame, tag.nextSibling);
  window.addEventListener('message', function (ev) {
    if (ev.origin !== origin || ev.source !== frame.contentWindow) return;
    var d = ev.data;
    if (!d || d.type !== 'callbackd:height' || typeof d.height !== 'number') return;
    // Within reason: a page cannot make the frame take over the site.
    var h = Math.max(200, Math.min(Math.ceil(d.height), 5000));
    frame.style.height = h + 'px';
  });
})();
