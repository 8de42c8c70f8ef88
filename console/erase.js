/*
 * Console 3018, the supervision page's danger zone (its own section, at the bottom): erasing a
 * conversation at the teen's request, `erase` → `erased` (closed first if open, the teen is
 * told; then its texts and platform ids erased; the anonymous figures stay), docs/protocol.md.
 * Irreversible, so apart from every other action: pick the conversation, then type its
 * pseudonym ("Jeune 4821") to enable the button. A conversation that left the snapshot (closed
 * meanwhile) can still be erased: it stays in the list while chosen.
 * Loaded after supervision.js, whose snapshot it reads through app.sup.
 */
(() => {
  'use strict';

  const app = window.Console3018;
  const { el, make } = app;
  const sup = app.sup;

  // Sent, no answer yet (requests.js): conversation id -> {alias}.
  const erasing = app.requests({ answer: 'erased', answered: onErased, refused: onEraseRefused, lost: onEraseLost });
  sup.erasing = (id) => erasing.has(id);

  const normalised = (text) => String(text || '').trim().replace(/\s+/g, ' ').toLocaleLowerCase('fr');
  // The one confirmation rule for an erase, shared with privacy.js ("Droits des jeunes").
  sup.confirmMatches = (typed, alias) => !!alias && normalised(typed) === normalised(alias);

  function chosenErase() {
    const option = el.eraseConv.selectedOptions[0];
    return option && option.value ? { id: option.value, alias: option.dataset.alias } : null;
  }

  function refreshErase() {
    const chosen = chosenErase();
    const options = sup.everyConversation().filter(Boolean).map((c) => eraseOption(c.id, c.alias, c.where));
    if (chosen && !options.some((o) => o.value === chosen.id)) options.push(eraseOption(chosen.id, chosen.alias, 'plus en cours'));
    const none = make('option', null, options.length ? 'Choisissez une conversation…' : 'Aucune conversation en cours');
    none.value = '';
    el.eraseConv.replaceChildren(none, ...options);
    el.eraseConv.value = chosen ? chosen.id : '';
    refreshEraseButton();
  }

  function eraseOption(id, alias, where) {
    const option = make('option', null, alias + ' — ' + where);
    option.value = id;
    option.dataset.alias = alias;
    return option;
  }

  function refreshEraseButton() {
    const chosen = chosenErase();
    app.setText(el.eraseAlias, chosen ? ' « ' + chosen.alias + ' »' : '');
    el.eraseSend.disabled = !chosen || erasing.has(chosen.id)
      || !sup.confirmMatches(el.eraseTyped.value, chosen.alias);
  }

  function onEraseChosen() {
    el.eraseTyped.value = '';
    setEraseError('');
    refreshEraseButton();
  }

  const setEraseError = (text) => app.setError(el.eraseError, text);

  function onEraseSubmit(event) {
    event.preventDefault();
    refreshEraseButton();
    const chosen = chosenErase();
    if (!chosen || el.eraseSend.disabled) return;
    if (sup.reassigning(chosen.id)) { setEraseError('Une réattribution de cette conversation est en cours : attendez sa réponse.'); return; }
    if (!erasing.send(chosen.id, { type: 'erase', conversation_id: chosen.id }, { alias: chosen.alias })) {
      setEraseError('Hors connexion : rien n’a été effacé.');
      return;
    }
    setEraseError('');
    refreshEraseButton(); // waits for `erased` or `error`
  }

  function onErased(frame, sent) {
    const alias = sent?.alias || sup.locate(frame.conversation_id)?.alias || 'La conversation';
    sup.showNotice(alias + ' : conversation close et effacée. Les chiffres anonymes sont gardés.');
    if (chosenErase()?.id === frame.conversation_id) {
      el.eraseConv.value = '';
      el.eraseTyped.value = '';
    }
    refreshErase();
  }

  function onEraseRefused(frame) {
    const text = frame.message || 'Effacement refusé.';
    if (chosenErase()?.id === frame.conversation_id) setEraseError(text); else sup.showNotice(text);
    refreshErase(); // the list again from the latest snapshot
  }

  function onEraseLost() {
    setEraseError('Connexion perdue : l’effacement n’a peut-être pas abouti. Vérifiez après la reconnexion.');
    refreshEraseButton();
  }

  app.on('rendered', refreshErase);
  app.on('bind', () => {
    el.eraseForm.addEventListener('submit', onEraseSubmit);
    el.eraseConv.addEventListener('change', onEraseChosen);
    el.eraseTyped.addEventListener('input', refreshEraseButton);
    refreshErase();
  });
})();
