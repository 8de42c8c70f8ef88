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
    marks: [],             // the latest snapshot's marks: [{id, alias, until}]
    lifted: new Map(),     // mark id -> when its lift was confirmed (Date.now())
  };

  // mark_abusive sent, no answer yet: conversation id -> {alias}.
  const marking = app.requests({ answer: 'marked_abusive', answered: onMarked, refused: onMarkRefused, lost: onMarkLost });
  // lift_abuse sent: mark id -> {alias}. Its errors name nothing: answers come in order.
  const lifting = app.requests({
    answer: 'abuse_lifted', key: (frame) => frame.mark_id, inOrder: true,
    answered: onLifted, refused: onLiftRefused, lost: onLiftLost,
  });

  /* ---------- marking, in the open conversation ---------- */

  const form = app.paneForm({ form: 'abuseForm', opener: 'abuseOpen', cancel: 'abuseCancel', reset: resetFields, opened });
  const closeForm = (focusButton) => form.close(focusButton);

  function opened(conv) {
    el.abuseTitle.textContent = 'Signaler ' + conv.alias + ' comme abusif';
    setError('');
    el.abuseSend.disabled = marking.has(conv.id);
    (el.abuseForm.querySelector('input:checked') || el.abuseHours24).focus();
  }

  function resetFields() {
    el.abuseForm.reset();
    el.abuseSend.disabled = false;
  }

  const setError = (text) => app.setError(el.abuseError, text);

  function onSubmit(event) {
    event.preventDefault();
    const conv = state.conversations.get(form.convId);
    if (!conv || conv.state === 'closed') { closeForm(false); return; }
    if (marking.has(conv.id)) return;
    const picked = el.abuseForm.querySelector('input[name="abuse-hours"]:checked');
    if (!picked) { setError('Choisissez une durée.'); return; }
    // Sent as chosen; the server refuses any other duration (bad_duration) and says why.
    const hours = Number(picked.value);
    if (!marking.send(conv.id, { type: 'mark_abusive', conversation_id: conv.id, hours }, { alias: conv.alias })) {
      setError('Hors connexion : rien n’a été signalé. Réessayez après la reconnexion.');
      return;
    }
    setError('');
    el.abuseSend.disabled = true; // released by `marked_abusive` or `error`
  }

  function onMarked(frame, sent) {
    const id = frame.conversation_id;
    const alias = sent?.alias || state.conversations.get(id)?.alias || 'Ce pseudonyme';
    const until = Number.isFinite(frame.until) ? ' jusqu’au ' + app.formatParisDate(frame.until) : '';
    app.showNotice(alias + ' est signalé comme abusif' + until
      + ' : ses nouveaux messages recevront une réponse automatique. La conversation est close.', 'info');
    if (form.convId === id) { resetFields(); closeForm(false); }
  }

  /* ---------- lifting, in the supervisor's view ---------- */

  function onSupervision(frame) {
    const now = Date.now();
    a.lifted.forEach((at, id) => { if (now - at > LIFTED_IGNORE_MS) a.lifted.delete(id); });
    a.marks = (Array.isArray(frame.abuse) ? frame.abuse : []).filter((m) => m && m.id && !a.lifted.has(m.id));
    renderMarks();
  }

  function renderMarks() {
    if (!el.supAbuseRows) return; // H6: lifting moved to /console/supervision (supervision.js)
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
    lift.disabled = lifting.has(m.id);
    action.append(lift);
    tr.append(alias, until, action);
    return tr;
  }

  const setSupError = (text) => el.supAbuseError && app.setError(el.supAbuseError, text); // H6: see renderMarks

  function onMarksClick(event) {
    const b = event.target.closest('.sup-lift');
    if (!b || b.disabled) return;
    const id = b.dataset.mark;
    const alias = a.marks.find((m) => m.id === id)?.alias || null;
    if (!lifting.send(id, { type: 'lift_abuse', mark_id: id }, { alias })) {
      setSupError('Hors connexion : aucun signalement n’a été levé.');
      return;
    }
    setSupError('');
    renderMarks();
  }

  function onLifted(frame, sent) {
    const id = frame.mark_id;
    const alias = sent?.alias || a.marks.find((m) => m.id === id)?.alias || 'Le pseudonyme';
    a.lifted.set(id, Date.now());
    a.marks = a.marks.filter((m) => m.id !== id);
    app.showSupNotice(alias + ' : signalement levé. Ses prochains messages entreront de nouveau dans la file.');
    renderMarks();
  }

  /* ---------- refusals ---------- */

  // A refused mark names its conversation. A refused lift names nothing (the server echoes
  // conversation and client ids only): answers come in order, so it is the oldest lift sent.
  function onMarkRefused(frame) {
    const id = frame.conversation_id;
    const text = frame.message || 'Signalement refusé.';
    if (form.convId === id) { el.abuseSend.disabled = false; setError(text); } else app.showNotice(text);
  }

  function onLiftRefused(frame) {
    setSupError(frame.message || 'Levée refusée.');
    renderMarks();
  }

  // The answers may never come: say so, and let the counsellor check and try again.
  function onMarkLost() {
    el.abuseSend.disabled = false;
    if (!el.abuseForm.hidden) setError('Connexion perdue : le signalement n’a peut-être pas abouti. Vérifiez après la reconnexion.');
  }

  function onLiftLost() {
    setSupError('Connexion perdue : la levée n’a peut-être pas abouti. Vérifiez la liste après la reconnexion.');
    renderMarks();
  }

  /* ---------- wiring ---------- */

  app.on('supervision', onSupervision);
  app.on('head', (conv) => { el.abuseOpen.hidden = conv.state === 'closed'; });
  app.on('reset', () => {
    Object.assign(a, { marks: [], lifted: new Map() });
    if (!el.abuseForm) return; // before the elements are bound
    el.abuseForm.hidden = true;
    el.abuseOpen.setAttribute('aria-expanded', 'false');
    setError('');
    setSupError('');
    renderMarks();
  });

  app.on('bind', () => {
    el.abuseForm.addEventListener('submit', onSubmit);
    el.supAbuseRows?.addEventListener('click', onMarksClick); // H6: absent from index.html now
  });
})();
