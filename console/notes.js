/*
 * Console 3018, internal notes at any time (issue #12): a "Note interne" box beside the reply
 * box. The text goes as a `note` frame; the server answers `noted`, and the note itself comes
 * back as a `message` frame with from "note" (thread.js shows it). Never sent to the teen.
 */
(() => {
  'use strict';

  const app = window.Console3018;
  const { state, el } = app;

  const MAX_NOTE = 1000;

  // Notes sent, no answer yet: conversation id -> {text}.
  const notes = app.requests({ answer: 'noted', answered: onNoted, refused: onRefused, lost: onLost });

  const setError = (text) => app.setError(el.noteError, text);

  function openBox() {
    el.noteForm.hidden = false;
    el.noteOpen.setAttribute('aria-expanded', 'true');
    setError('');
    updateCount();
    el.noteInput.focus();
  }

  function closeBox(focusOpener) {
    if (el.noteForm.hidden) return;
    el.noteForm.hidden = true;
    el.noteOpen.setAttribute('aria-expanded', 'false');
    if (focusOpener && !el.noteOpen.hidden) el.noteOpen.focus();
  }

  function updateCount() {
    el.noteCount.textContent = el.noteInput.value.length + ' / ' + MAX_NOTE;
  }

  function onSubmit(event) {
    event.preventDefault();
    const id = state.openId;
    const text = el.noteInput.value.trim();
    if (!id || !state.conversations.has(id)) return;
    if (!text) { setError('La note est vide.'); el.noteInput.focus(); return; }
    if (text.length > MAX_NOTE) { setError('La note dépasse ' + MAX_NOTE + ' caractères.'); return; }
    if (notes.has(id)) return; // one at a time per conversation: the answer names only it
    if (!notes.send(id, { type: 'note', conversation_id: id, text }, { text })) {
      setError('Hors connexion : la note n’a pas été ajoutée. Réessayez après la reconnexion.');
      return;
    }
    setError('');
    el.noteSend.disabled = true;
  }

  function onNoted(frame) {
    el.noteSend.disabled = false;
    if (frame.conversation_id !== state.openId) return;
    el.noteInput.value = '';
    updateCount();
    closeBox(true);
  }

  function onRefused(frame) {
    el.noteSend.disabled = false;
    if (frame.conversation_id === state.openId && !el.noteForm.hidden) setError(frame.message || 'Note refusée.');
    else app.showNotice(frame.message || 'Note refusée.');
  }

  function onLost() {
    el.noteSend.disabled = false;
    if (!el.noteForm.hidden) setError('Connexion perdue : la note n’a peut-être pas été ajoutée. Vérifiez la conversation après la reconnexion.');
  }

  // A note needs a conversation I hold or held at its close (the core checks): closed ones
  // keep the button, e.g. to note what was agreed for a follow-up.
  app.on('opened', () => { closeBox(false); el.noteInput.value = ''; setError(''); });

  app.on('bind', () => {
    el.noteOpen.addEventListener('click', () => (el.noteForm.hidden ? openBox() : closeBox(true)));
    el.noteCancel.addEventListener('click', () => closeBox(true));
    el.noteForm.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeBox(true); });
    el.noteForm.addEventListener('submit', onSubmit);
    el.noteInput.addEventListener('input', updateCount);
  });
})();
