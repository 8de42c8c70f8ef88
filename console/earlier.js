/*
 * Console 3018, a returning teen (issue #12, item 6; docs/protocol.md "Returning teens").
 * - The `history` frame's `earlier` says how many earlier contacts the teen had: a banner
 *   "3e contact — dernier le 12/11 : Sextorsion · Signalement plateforme" above the lines,
 *   with "Voir les échanges précédents" (each opens read-only: `open_earlier` →
 *   `earlier_history`).
 * - "Relier à un contact précédent": the counsellor types the follow-up code the teen gives
 *   (`link_earlier` → `linked`, which carries the new `earlier`). A wrong code is said in the
 *   form; the server limits the tries.
 * Loaded after thread.js: it wraps the history handler to read `earlier`. Every text from the
 * server goes through textContent.
 */
(() => {
  'use strict';

  const app = window.Console3018;
  const { state, el, make, button } = app;

  const SHORT_DATE = new Intl.DateTimeFormat('fr-FR', { timeZone: 'Europe/Paris', day: '2-digit', month: '2-digit' });
  const KINDS = ['teen', 'counsellor', 'system', 'note'];
  const AUTHORS = { teen: 'Jeune', system: 'Message automatique', note: 'Note interne' };

  // open_earlier / link_earlier sent, no answer yet: conversation id -> {action, earlierId?}.
  const asking = app.requests({ refused: onRefused, lost: onLost });

  app.on('reset', () => Object.assign(state, { earlier: new Map() })); // conversation id -> `earlier`

  /* ---------- the banner ---------- */

  function ordinal(n) { return n === 1 ? '1er' : n + 'e'; }

  /** "Sextorsion · Signalement plateforme · Instagram", or "non qualifié". */
  function qualificationText(q) {
    if (!q) return 'non qualifié';
    const labels = [].concat(q.categories || [], q.outcomes || [], q.platforms || []).filter((x) => typeof x === 'string');
    return labels.length ? labels.join(' · ') : 'non qualifié';
  }

  function bannerText(earlier) {
    if (!earlier || !(earlier.count > 0) || !Array.isArray(earlier.contacts) || !earlier.contacts.length) return '';
    const last = earlier.contacts[0];
    const when = Number.isFinite(last.opened_at) ? ' — dernier le ' + SHORT_DATE.format(new Date(last.opened_at)) : '';
    return ordinal(earlier.count + 1) + ' contact' + when + ' : ' + qualificationText(last.qualification);
  }

  function renderBanner() {
    const conv = state.conversations.get(state.openId);
    const earlier = conv && state.earlier ? state.earlier.get(conv.id) : null;
    const text = bannerText(earlier);
    app.setText(el.earlierText, text);
    el.earlierShow.hidden = !text;
    // Codes come from the widget (its pseudonym lives in one tab); Meta pseudonyms are stable.
    el.earlierLinkOpen.hidden = !conv || conv.state === 'closed' || conv.channel !== 'web';
    el.earlierBanner.hidden = !text; // no earlier contact: no line taken from the thread
    if (!text) hideBox(false);
  }

  /* ---------- the earlier contacts, read-only ---------- */

  function showBox() {
    const earlier = state.earlier.get(state.openId);
    if (!earlier) return;
    el.earlierList.textContent = '';
    el.earlierMessages.textContent = '';
    app.setText(el.earlierStatus, '');
    for (const c of earlier.contacts || []) {
      const when = Number.isFinite(c.opened_at) ? app.formatParisDate(c.opened_at) : '';
      const open = button('btn btn-link', when + ' · ' + app.channelLabel(c.channel) + ' · '
        + qualificationText(c.qualification));
      open.dataset.id = c.id;
      open.addEventListener('click', () => readEarlier(c.id));
      const li = make('li', 'conv-item');
      li.append(open);
      el.earlierList.append(li);
    }
    if (earlier.count > (earlier.contacts || []).length) {
      el.earlierList.append(make('li', 'hint', 'Seuls les ' + earlier.contacts.length + ' plus récents sont listés.'));
    }
    el.earlierBox.hidden = false;
    el.earlierShow.setAttribute('aria-expanded', 'true');
    el.earlierTitle.focus();
  }

  function hideBox(focusOpener) {
    if (el.earlierBox.hidden) return;
    el.earlierBox.hidden = true;
    el.earlierShow.setAttribute('aria-expanded', 'false');
    el.earlierMessages.textContent = '';
    if (focusOpener && !el.earlierShow.hidden) el.earlierShow.focus();
  }

  function readEarlier(earlierId) {
    const id = state.openId;
    if (!id || asking.has(id)) return;
    const frame = { type: 'open_earlier', conversation_id: id, earlier_id: earlierId };
    if (!asking.send(id, frame, { action: 'open', earlierId })) {
      app.setText(el.earlierStatus, 'Hors connexion : réessayez après la reconnexion.');
      return;
    }
    app.setText(el.earlierStatus, 'Chargement…');
  }

  function onEarlierHistory(frame) {
    asking.take(frame.conversation_id);
    if (frame.conversation_id !== state.openId || el.earlierBox.hidden) return;
    el.earlierMessages.textContent = '';
    for (const m of Array.isArray(frame.messages) ? frame.messages : []) {
      if (!m || typeof m.text !== 'string') continue;
      const kind = KINDS.includes(m.from) ? m.from : 'system';
      const li = make('li', 'msg msg-' + kind);
      li.dataset.from = kind;
      const meta = make('div', 'msg-meta');
      meta.append(make('span', 'msg-author', m.from === 'counsellor' ? (m.author || 'Écoutant·e') : AUTHORS[kind]));
      if (Number.isFinite(m.at)) meta.append(make('span', 'msg-time', app.formatParisDate(m.at)));
      li.append(meta, make('p', 'msg-text', m.text));
      el.earlierMessages.append(li);
    }
    app.setText(el.earlierStatus, frame.messages && frame.messages.length
      ? 'Échange précédent, en lecture seule.' : 'Cet échange n’a plus de messages (effacés).');
  }

  /* ---------- linking by follow-up code ---------- */

  const linkForm = app.paneForm({ form: 'earlierLinkForm', opener: 'earlierLinkOpen', cancel: 'earlierLinkCancel',
    reset: () => { el.earlierLinkForm.reset(); el.earlierLinkSend.disabled = false; setLinkError(''); },
    opened: () => el.earlierCode.focus() });

  const setLinkError = (text) => app.setError(el.earlierLinkError, text);

  function onLinkSubmit(event) {
    event.preventDefault();
    const id = linkForm.convId;
    const code = el.earlierCode.value.trim();
    if (!id || asking.has(id)) return;
    if (!code) { setLinkError('Tapez le code que le ou la jeune vous donne.'); return; }
    if (!asking.send(id, { type: 'link_earlier', conversation_id: id, code }, { action: 'link' })) {
      setLinkError('Hors connexion : rien n’a été relié. Réessayez après la reconnexion.');
      return;
    }
    setLinkError('');
    el.earlierLinkSend.disabled = true;
  }

  function onLinked(frame) {
    asking.take(frame.conversation_id);
    if (frame.earlier) state.earlier.set(frame.conversation_id, frame.earlier);
    if (linkForm.convId === frame.conversation_id) linkForm.close(false);
    if (frame.conversation_id === state.openId) { renderBanner(); el.earlierShow.focus(); }
    app.showNotice('Contact relié : les échanges précédents sont visibles.', 'info');
  }

  function onRefused(frame, sent) {
    const text = frame.message || 'Action refusée.';
    if (sent && sent.action === 'link') {
      el.earlierLinkSend.disabled = false;
      if (linkForm.convId === frame.conversation_id) setLinkError(text); else app.showNotice(text);
      return;
    }
    if (frame.conversation_id === state.openId && !el.earlierBox.hidden) app.setText(el.earlierStatus, text);
    else app.showNotice(text);
  }

  function onLost() {
    el.earlierLinkSend.disabled = false;
    if (!el.earlierLinkForm.hidden) setLinkError('Connexion perdue : réessayez après la reconnexion.');
    if (!el.earlierBox.hidden) app.setText(el.earlierStatus, 'Connexion perdue : réessayez après la reconnexion.');
  }

  /* ---------- wiring ---------- */

  // thread.js owns `history`; this reads its `earlier` after it.
  const history = app.handlers.history;
  app.handlers.history = (frame) => {
    if (history) history(frame);
    if (frame.earlier && typeof frame.earlier === 'object') state.earlier.set(frame.conversation_id, frame.earlier);
    if (frame.conversation_id === state.openId) renderBanner();
  };
  app.handlers.earlier_history = onEarlierHistory;
  app.handlers.linked = onLinked;

  app.on('opened', () => { hideBox(false); renderBanner(); });
  app.on('head', () => renderBanner());

  app.on('bind', () => {
    el.earlierShow.addEventListener('click', () => (el.earlierBox.hidden ? showBox() : hideBox(true)));
    el.earlierHide.addEventListener('click', () => hideBox(true));
    el.earlierBox.addEventListener('keydown', (e) => { if (e.key === 'Escape') hideBox(true); });
    el.earlierLinkForm.addEventListener('submit', onLinkSubmit);
  });
})();
