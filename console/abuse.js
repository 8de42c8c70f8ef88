/*
 * Console 3018, abusive pseudonyms (docs/protocol.md, "Abuse marks").
 * - In the open conversation: "Signaler comme abusif" opens a small form (24 heures or
 *   7 jours) → `mark_abusive`; the server answers `marked_abusive` with the end of the mark
 *   and closes the conversation (a `conversation` frame with state "closed").
 * Lifting a mark (`lift_abuse`) is on the supervision page (supervision.js).
 * Pseudonyms and times only; every text is rendered with textContent.
 */
(() => {
  'use strict';

  const app = window.Console3018;
  const { state, el } = app;

  // mark_abusive sent, no answer yet: conversation id -> {alias}.
  const marking = app.requests({ answer: 'marked_abusive', answered: onMarked, refused: onMarkRefused, lost: onMarkLost });

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

  /* ---------- refusals ---------- */

  // A refused mark names its conversation.
  function onMarkRefused(frame) {
    const id = frame.conversation_id;
    const text = frame.message || 'Signalement refusé.';
    if (form.convId === id) { el.abuseSend.disabled = false; setError(text); } else app.showNotice(text);
  }

  // The answer may never come: say so, and let the counsellor check and try again.
  function onMarkLost() {
    el.abuseSend.disabled = false;
    if (!el.abuseForm.hidden) setError('Connexion perdue : le signalement n’a peut-être pas abouti. Vérifiez après la reconnexion.');
  }

  /* ---------- wiring ---------- */

  app.on('head', (conv) => { el.abuseOpen.hidden = conv.state === 'closed'; });
  app.on('reset', () => {
    if (!el.abuseForm) return; // before the elements are bound
    el.abuseForm.hidden = true;
    el.abuseOpen.setAttribute('aria-expanded', 'false');
    setError('');
  });

  app.on('bind', () => {
    el.abuseForm.addEventListener('submit', onSubmit);
  });
})();
