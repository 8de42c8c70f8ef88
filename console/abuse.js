/*
 * Console 3018, abusive pseudonyms (docs/protocol.md, "Abuse marks").
 * - In the open conversation: "Signaler comme abusif" opens a small form (24 heures or
 *   7 jours) → `mark_abusive`; the server answers `marked_abusive` with the end of the mark
 *   and closes the conversation (a `conversation` frame with state "closed").
 * - In the supervisor's view: "Pseudonymes signalés", from the `abuse` list of each
 *   `supervision` snapshot, with a "Lever" button per mark → `lift_abuse` → `abuse_lifted`.
 * Pseudonyms and times only; every text is rendered with textContent.
 */
(() => {
  'use strict';

  const app = window.Console3018;
  const { state, el, make, button } = app;

  const LIFTED_IGNORE_MS = 6000;  // a snapshot read just before a lift may still list the mark

  const a = {
    convId: null,          // the conversation the form is open for
    pending: new Map(),    // conversation id -> alias: mark_abusive sent, no answer yet
    marks: [],             // the latest snapshot's marks: [{id, alias, until}]
    lifts: [],             // [{id, alias}]: lift_abuse sent, answers come back in this order
    lifted: new Map(),     // mark id -> when its lift was confirmed (Date.now())
  };

  /* ---------- marking, in the open conversation ---------- */

  function openForm() {
    const conv = state.conversations.get(state.openId);
    if (!conv || conv.state === 'closed') return;
    if (a.convId !== conv.id) resetFields();
    a.convId = conv.id;
    el.closeBox.hidden = true;
    app.emit('abuse-opening');
    el.abuseTitle.textContent = 'Signaler ' + conv.alias + ' comme abusif';
    el.abuseForm.hidden = false;
    el.abuseOpen.setAttribute('aria-expanded', 'true');
    setError('');
    el.abuseSend.disabled = a.pending.has(conv.id);
    (el.abuseForm.querySelector('input:checked') || el.abuseHours24).focus();
  }

  function closeForm(focusButton) {
    if (el.abuseForm.hidden) return;
    el.abuseForm.hidden = true;
    el.abuseOpen.setAttribute('aria-expanded', 'false');
    a.convId = null;
    if (focusButton && !el.abuseOpen.hidden) el.abuseOpen.focus();
  }

  function resetFields() {
    el.abuseForm.reset();
    el.abuseSend.disabled = false;
  }

  function setError(text) {
    el.abuseError.textContent = text;
    el.abuseError.hidden = !text;
  }

  function onSubmit(event) {
    event.preventDefault();
    const conv = state.conversations.get(a.convId);
    if (!conv || conv.state === 'closed') { closeForm(false); return; }
    if (a.pending.has(conv.id)) return;
    const picked = el.abuseForm.querySelector('input[name="abuse-hours"]:checked');
    if (!picked) { setError('Choisissez une durée.'); return; }
    // Sent as chosen; the server refuses any other duration (bad_duration) and says why.
    const hours = Number(picked.value);
    if (!app.send({ type: 'mark_abusive', conversation_id: conv.id, hours })) {
      setError('Hors connexion : rien n’a été signalé. Réessayez après la reconnexion.');
      return;
    }
    a.pending.set(conv.id, conv.alias);
    setError('');
    el.abuseSend.disabled = true; // released by `marked_abusive` or `error`
  }

  function onMarked(frame) {
    const id = frame.conversation_id;
    const alias = a.pending.get(id) || state.conversations.get(id)?.alias || 'Ce pseudonyme';
    a.pending.delete(id);
    const until = Number.isFinite(frame.until) ? ' jusqu’au ' + app.formatParisDate(frame.until) : '';
    app.showNotice(alias + ' est signalé comme abusif' + until
      + ' : ses nouveaux messages recevront une réponse automatique. La conversation est close.', 'info');
    if (a.convId === id) { resetFields(); closeForm(false); }
  }

  /* ---------- lifting, in the supervisor's view ---------- */

  function onSupervision(frame) {
    const now = Date.now();
    a.lifted.forEach((at, id) => { if (now - at > LIFTED_IGNORE_MS) a.lifted.delete(id); });
    a.marks = (Array.isArray(frame.abuse) ? frame.abuse : []).filter((m) => m && m.id && !a.lifted.has(m.id));
    renderMarks();
  }

  function renderMarks() {
    const focused = app.focusKey(el.supAbuseRows, '.sup-mark');
    el.supAbuseEmpty.hidden = a.marks.length > 0;
    el.supAbuse.hidden = a.marks.length === 0;
    el.supAbuseRows.replaceChildren(...a.marks.map(markRow));
    app.restoreFocus(el.supAbuseRows, focused);
  }

  function markRow(m) {
    const tr = make('tr', 'sup-mark');
    tr.dataset.id = m.id;
    const alias = make('th', 'sup-alias', m.alias);
    alias.scope = 'row';
    const until = make('td', 'sup-until', Number.isFinite(m.until) ? app.formatParisDate(m.until) : '—');
    const action = make('td', 'sup-action');
    const lift = button('btn btn-quiet btn-small sup-lift', 'Lever', 'Lever le signalement de ' + m.alias);
    lift.dataset.mark = m.id;
    lift.dataset.role = 'lift';
    lift.disabled = a.lifts.some((l) => l.id === m.id);
    action.append(lift);
    tr.append(alias, until, action);
    return tr;
  }

  function setSupError(text) {
    el.supAbuseError.textContent = text;
    el.supAbuseError.hidden = !text;
  }

  function onMarksClick(event) {
    const b = event.target.closest('.sup-lift');
    if (!b || b.disabled) return;
    const id = b.dataset.mark;
    const alias = a.marks.find((m) => m.id === id)?.alias || null;
    if (!app.send({ type: 'lift_abuse', mark_id: id })) {
      setSupError('Hors connexion : aucun signalement n’a été levé.');
      return;
    }
    a.lifts.push({ id, alias });
    setSupError('');
    renderMarks();
  }

  function onLifted(frame) {
    const id = frame.mark_id;
    const i = a.lifts.findIndex((l) => l.id === id);
    const sent = i >= 0 ? a.lifts.splice(i, 1)[0] : null;
    const alias = sent?.alias || a.marks.find((m) => m.id === id)?.alias || 'Le pseudonyme';
    a.lifted.set(id, Date.now());
    a.marks = a.marks.filter((m) => m.id !== id);
    app.showSupNotice(alias + ' : signalement levé. Ses prochains messages entreront de nouveau dans la file.');
    renderMarks();
  }

  /* ---------- refusals ---------- */

  // A refused mark names its conversation. A refused lift names nothing (the server echoes
  // conversation and client ids only): answers come in order, so it is the oldest lift sent.
  function onError(frame) {
    const id = frame.conversation_id;
    if (id && a.pending.has(id)) {
      a.pending.delete(id);
      const text = frame.message || 'Signalement refusé.';
      if (a.convId === id) { el.abuseSend.disabled = false; setError(text); } else app.showNotice(text);
      return true;
    }
    if (!id && !frame.client_id && a.lifts.length) {
      a.lifts.shift();
      setSupError(frame.message || 'Levée refusée.');
      renderMarks();
      return true;
    }
    return false;
  }

  /* ---------- wiring ---------- */

  app.handlers.marked_abusive = onMarked;
  app.handlers.abuse_lifted = onLifted;
  app.on('supervision', onSupervision);
  app.on('error', onError);
  app.on('head', (conv) => {
    el.abuseOpen.hidden = conv.state === 'closed';
    if (conv.state === 'closed') closeForm(false);
  });
  app.on('opened', (id) => { if (a.convId && a.convId !== id) closeForm(false); });
  app.on('removed', (id) => { if (a.convId === id) closeForm(false); });
  app.on('asking-close', () => closeForm(false));
  app.on('transfer-opening', () => closeForm(false));
  app.on('reset', () => {
    Object.assign(a, { convId: null, pending: new Map(), marks: [], lifts: [], lifted: new Map() });
    if (!el.abuseForm) return; // before the elements are bound
    el.abuseForm.hidden = true;
    el.abuseOpen.setAttribute('aria-expanded', 'false');
    setError('');
    setSupError('');
    renderMarks();
  });

  // The answers may never come: say so, and let the counsellor check and try again.
  app.on('disconnected', () => {
    if (a.pending.size) {
      a.pending.clear();
      el.abuseSend.disabled = false;
      if (!el.abuseForm.hidden) setError('Connexion perdue : le signalement n’a peut-être pas abouti. Vérifiez après la reconnexion.');
    }
    if (a.lifts.length) {
      a.lifts = [];
      setSupError('Connexion perdue : la levée n’a peut-être pas abouti. Vérifiez la liste après la reconnexion.');
      renderMarks();
    }
  });

  app.on('bind', () => {
    el.abuseOpen.addEventListener('click', () => (el.abuseForm.hidden ? openForm() : closeForm(true)));
    el.abuseForm.addEventListener('submit', onSubmit);
    el.abuseForm.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeForm(true); });
    el.abuseCancel.addEventListener('click', () => closeForm(true));
    el.supAbuseRows.addEventListener('click', onMarksClick);
  });
})();
