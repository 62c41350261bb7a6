// Syndicate operator UI: confirmation of actions and live transfer progress.
'use strict';

// A form with data-confirm asks before it is sent.
document.addEventListener('submit', function (e) {
  var msg = e.target.getAttribute('data-confirm');
  if (msg && !window.confirm(msg)) {
    e.preventDefault();
  }
});

// reload shows the page again, keeping its one-time message (the result
// of an action) on screen.
function reload() {
  var flash = document.getElementById('flash');
  if (flash) {
    sessionStorage.setItem('syndicate.flash', flash.textContent);
  }
  window.location.reload();
}

document.addEventListener('DOMContentLoaded', function () {
  var kept = sessionStorage.getItem('syndicate.flash');
  sessionStorage.removeItem('syndicate.flash');
  if (kept && !document.getElementById('flash')) {
    var p = document.createElement('p');
    p.id = 'flash';
    p.className = 'flash';
    p.setAttribute('role', 'status');
    p.textContent = kept;
    document.querySelector('main').prepend(p);
  }
});

// The delivery page follows its delivery by server-sent events: figures
// update in place; a new status reloads the page, whose actions, events
// and details depend on it.
document.addEventListener('DOMContentLoaded', function () {
  var box = document.querySelector('[data-live]');
  if (!box || !window.EventSource) {
    return;
  }
  var text = function (id, value) {
    var el = document.getElementById(id);
    if (el) { el.textContent = value; }
  };
  var es = new EventSource(box.getAttribute('data-live'));
  es.onmessage = function (m) {
    var d = JSON.parse(m.data);
    if (d.status !== box.getAttribute('data-status')) {
      es.close();
      reload();
      return;
    }
    var bar = document.getElementById('progress');
    if (d.total_bytes > 0) {
      bar.max = d.total_bytes;
      bar.value = d.bytes;
    }
    text('bytes', d.bytes_text);
    text('total', d.total_text);
    text('percent', d.percent);
    text('rate', d.rate_text);
    text('eta', d.eta_text);
    text('attempts', d.attempts);
    text('last-error', d.last_error || '–');
    document.getElementById('last-error').className = d.last_error ? 'err' : 'muted';
  };
});
