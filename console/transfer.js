/*
 * Console 3018, transfers: hand the open conversation to a colleague or to a skill, with an
 * optional internal note (docs/protocol.md, "Queue operations"). The server answers
 * `transferred` (to the colleague, or back to the head of the queue) and sends the
 * conversation again with state "transferred": it then leaves this console.
 */
(() => {
  'use strict';

  const app = window.Console3018;
  const { state, el, make } = app;

  const MAX_NOTE = 1000;
  const MAX_SKILL = 40;
  const PRESENCE_ORDER = { available: 0, paused: 1, offline: 2 };

  // Transfers sent, no answer yet: conversation id -> {alias, skill, gone}.
  const transfers = app.requests({ answer: 'transferred', answered: onTransferred, refused: onRefused, lost: onLost });

  /* ---------- the form ---------- */

  const form = app.paneForm({ form: 'transferForm', opener: 'transferOpen', cancel: 'transferCancel', reset: resetFields, opened });
  const closeForm = (focusButton) => form.close(focusButton);

  function opened(conv) {
    el.transferTitle.textContent = 'Transférer la conversation avec ' + conv.alias;
    setError('');
    renderTeam();
    // The list in `init` may be old: ask for presences now. Offline, the old one is shown.
    if (!app.send({ type: 'team' })) el.transferTeamStatus.textContent = 'Hors connexion : la liste peut être ancienne.';
    showKind();
    (el.transferColleagues.querySelector('input:checked') || el.transferKindCounsellor).focus();
  }

  function resetFields() {
    el.transferForm.reset();
    el.transferSend.disabled = false;
    updateNoteCount();
  }

  function kind() {
    return el.transferKindSkill.checked ? 'skill' : 'counsellor';
  }

  function showKind() {
    el.transferToCounsellor.hidden = kind() !== 'counsellor';
    el.transferToSkill.hidden = kind() !== 'skill';
  }

  const setError = (text) => app.setError(el.transferError, text);

  function updateNoteCount() {
    el.transferNoteCount.textContent = el.transferNote.value.length + ' / ' + MAX_NOTE;
  }

  // Colleagues, available first: name, presence in words, skills. Anyone may be chosen: the
  // server puts the conversation at the head of the queue if they cannot take it now.
  function renderTeam() {
    const chosen = el.transferColleagues.querySelector('input:checked')?.value;
    const team = state.team.slice().sort((a, b) =>
      (PRESENCE_ORDER[a.presence] ?? 3) - (PRESENCE_ORDER[b.presence] ?? 3)
      || String(a.display_name).localeCompare(String(b.display_name), 'fr'));
    el.transferColleagues.replaceChildren(...team.map((c, i) => colleagueItem(c, i, c.id === chosen)));
    el.transferTeamStatus.textContent = team.length ? '' : 'Aucun·e collègue dans l’équipe.';

    const skills = Array.from(new Set(state.team.flatMap((c) => c.skills || []))).sort();
    el.transferSkills.replaceChildren(...skills.map((s) => {
      const option = make('option');
      option.value = s;
      return option;
    }));
    el.transferSkillsHint.textContent = skills.length
      ? 'Compétences dans l’équipe : ' + skills.join(', ') + '. Vous pouvez aussi en saisir une autre.'
      : 'Aucune compétence renseignée dans l’équipe : saisissez-en une.';
  }

  function colleagueItem(c, i, checked) {
    const li = make('li', 'colleague');
    li.dataset.presence = c.presence;
    const input = make('input');
    Object.assign(input, { type: 'radio', name: 'transfer-colleague', id: 'transfer-colleague-' + i, value: c.id, checked });
    const label = make('label');
    label.htmlFor = input.id;
    label.append(make('span', 'colleague-name', c.display_name),
      make('span', 'presence-chip', app.presenceLabel(c.presence)));
    if (c.skills && c.skills.length) label.append(make('span', 'colleague-skills', c.skills.join(', ')));
    li.append(input, label);
    return li;
  }

  function onSubmit(event) {
    event.preventDefault();
    const conv = state.conversations.get(form.convId);
    if (!conv || conv.state === 'closed') { closeForm(false); return; }
    const frame = { type: 'transfer', conversation_id: conv.id };
    let skill = null;
    if (kind() === 'counsellor') {
      const picked = el.transferColleagues.querySelector('input:checked');
      if (!picked) { setError('Choisissez un·e collègue.'); return; }
      frame.to_counsellor = picked.value;
    } else {
      skill = el.transferSkill.value.trim();
      if (!skill) { setError('Indiquez une compétence.'); el.transferSkill.focus(); return; }
      if (skill.length > MAX_SKILL) { setError('Compétence trop longue (' + MAX_SKILL + ' caractères maximum).'); return; }
      frame.to_skill = skill;
    }
    const note = el.transferNote.value.trim();
    if (note.length > MAX_NOTE) { setError('La note dépasse ' + MAX_NOTE + ' caractères.'); return; }
    if (note) frame.note = note;
    if (!transfers.send(conv.id, frame, { alias: conv.alias, skill, gone: false })) {
      setError('Hors connexion : rien n’a été transféré. Réessayez après la reconnexion.');
      return;
    }
    setError('');
    el.transferSend.disabled = true; // released by `transferred` or `error`
    el.transferTeamStatus.textContent = 'Transfert en cours…';
  }

  /* ---------- answers ---------- */

  function onTransferred(frame, sent) {
    const id = frame.conversation_id;
    const alias = sent?.alias || state.conversations.get(id)?.alias || 'La conversation';
    const text = frame.outcome === 'assigned'
      ? alias + ' : transférée à ' + (frame.to || 'un·e collègue') + '.'
      : alias + ' : remise en tête de file' + (sent?.skill ? ' (compétence « ' + sent.skill + ' »)' : '') + '.';
    app.showNotice(text, 'info');
    if (form.convId === id) { resetFields(); closeForm(false); }
    // Usually the `conversation` frame with state "transferred" came first and removed it. If
    // it did and the conversation is listed again, the dispatcher gave it back to me: keep it.
    if (!sent || !sent.gone) app.removeConversation(id);
  }

  // A refused transfer names its conversation: the reason goes in the form, nothing moved.
  function onRefused(frame) {
    const id = frame.conversation_id;
    const text = frame.message || 'Transfert refusé.';
    if (form.convId === id) {
      el.transferSend.disabled = false;
      el.transferTeamStatus.textContent = '';
      setError(text);
    } else {
      app.showNotice(text);
    }
  }

  // The answer may never come: say so, and let the counsellor check and try again.
  function onLost() {
    el.transferSend.disabled = false;
    el.transferTeamStatus.textContent = '';
    if (!el.transferForm.hidden) {
      setError('Connexion perdue : le transfert n’a peut-être pas abouti. Vérifiez votre liste après la reconnexion.');
    }
  }

  // My own transfer: the `transferred` frame says where it went; no second notice.
  app.on('removing', (id) => {
    const sent = transfers.get(id);
    if (sent) sent.gone = true;
    return !!sent;
  });
  app.on('team', () => { if (!el.transferForm.hidden) renderTeam(); });

  app.on('bind', () => {
    el.transferForm.addEventListener('submit', onSubmit);
    el.transferForm.addEventListener('change', (e) => { if (e.target.name === 'transfer-kind') showKind(); });
    el.transferNote.addEventListener('input', updateNoteCount);
  });
})();
