/*
 * Console 3018, care for counsellors (issue #12, item 9): after a heavy conversation, a short
 * pause is offered ("Prendre une pause de X minutes"). The server decides whether it is offered
 * (a `care_offer` frame asked after a close of mine and after a qualification is saved:
 * core/care.py); taking it sets the presence "en pause" with `care_until`. The top bar then
 * shows the minutes left; at the end the console proposes "Reprendre" (never automatic).
 * Everything is built with createElement/textContent.
 */
(() => {
  'use strict';

  const app = window.Console3018;
  const { state } = app;
  const MINUTE_MS = 60 * 1000;
  let offeredFor = new Set(); // conversations whose offer was shown (once each)
  let offerBox = null;
  let bar = null;

  function ask(conversationId) {
    if (typeof conversationId === 'string') app.send({ type: 'care_offer', conversation_id: conversationId });
  }

  /* ---------- the offer ---------- */

  function showOffer(frame) {
    const minutes = frame.minutes;
    if (!Number.isInteger(minutes) || minutes <= 0 || offeredFor.has(frame.conversation_id)) return;
    if (state.me && state.me.care_until) return; // already in a care pause
    offeredFor.add(frame.conversation_id);
    dropOffer();
    offerBox = app.make('div', 'banner care-offer');
    offerBox.id = 'care-offer';
    offerBox.setAttribute('role', 'group');
    offerBox.setAttribute('aria-label', 'Pause de soin');
    const take = app.button('btn btn-primary', 'Prendre une pause de ' + minutes + ' minutes');
    take.id = 'care-take';
    const later = app.button('btn btn-quiet', 'Non merci');
    take.addEventListener('click', () => {
      if (app.send({ type: 'care_pause' })) dropOffer();
      else app.showNotice('Hors connexion : pause non prise.');
    });
    later.addEventListener('click', dropOffer);
    offerBox.append(app.make('span', 'banner-text',
      'Cette conversation a pu être éprouvante. Vous pouvez prendre un moment pour vous : '
      + 'aucune conversation ne vous sera confiée pendant la pause.'), take, later);
    topbar().after(offerBox);
    take.focus();
  }

  function dropOffer() {
    if (offerBox) offerBox.remove();
    offerBox = null;
  }

  /* ---------- the pause under way ---------- */

  function topbar() { return document.querySelector('.topbar'); }

  function ensureBar() {
    if (bar) return bar;
    bar = app.make('p', 'care-bar');
    bar.id = 'care-bar';
    bar.hidden = true;
    const text = app.make('span', 'care-text');
    text.id = 'care-text';
    text.setAttribute('role', 'status');
    const resume = app.button('btn btn-primary care-resume', 'Reprendre');
    resume.id = 'care-resume';
    resume.hidden = true;
    resume.addEventListener('click', () => app.sendPresence('available'));
    bar.append(text, resume);
    document.getElementById('presence').before(bar);
    return bar;
  }

  function render() {
    const until = state.me && state.me.presence === 'paused' ? state.me.care_until : null;
    const node = ensureBar();
    node.hidden = !until;
    if (!until) return;
    const left = Math.ceil((until - app.serverNow()) / MINUTE_MS);
    const over = left <= 0;
    app.setText(node.querySelector('#care-text'), over ? 'Pause de soin terminée'
      : 'Pause de soin : encore ' + left + (left > 1 ? ' minutes' : ' minute'));
    node.querySelector('#care-resume').hidden = !over;
  }

  /* ---------- wiring ---------- */

  // The presence frame carries care_until (null: an ordinary pause, or none): kept on `me`.
  const showPresence = app.handlers.presence;
  Object.assign(app.handlers, {
    presence: (f) => { if (state.me) state.me.care_until = Number.isInteger(f.care_until) ? f.care_until : null; showPresence(f); },
    care_offer: showOffer,
    care_pause: (f) => { if (state.me && Number.isInteger(f.care_until)) state.me.care_until = f.care_until; render(); },
  });

  app.on('reset', () => { offeredFor = new Set(); dropOffer(); if (bar) bar.hidden = true; });
  app.on('me', render);
  app.on('tick', render);
  app.on('closed', (id, askedHere) => { if (askedHere) ask(id); }); // raised by triage: offered at once
  app.on('qualified', ask); // casework.js, once a qualification is saved: a heavy category
})();
