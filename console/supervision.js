/*
 * Console 3018, the supervisor's view (role "supervisor" or "admin"): the queue, the team's
 * presence and load, today's figures, reassigning a conversation to an available
 * counsellor, and erasing one at the teen's request (`erase` → `erased`: closed first if open,
 * then its texts and platform ids erased; the anonymous figures stay). Rendered from the `supervision` snapshot the server pushes every ~2 s
 * (docs/protocol.md, "Queue operations"); waiting times tick locally in between.
 * Pseudonyms, channels, times and reasons only: the snapshot carries no message text.
 */
(() => {
  'use strict';

  const app = window.Console3018;
  const { state, el, make, button, byAttr } = app;

  const SUPERVISING_ROLES = ['supervisor', 'admin'];
  const STALE_MS = 10000; // no snapshot for this long: say the figures may be old

  const sup = {};

  function resetSup() {
    Object.assign(sup, {
      enabled: false,
      tab: 'conversations',
      frame: null,      // latest `supervision` frame
      offset: 0,        // its server_time - Date.now()
      receivedAt: 0,
      target: null,     // {id, alias}: the conversation the reassign form is open for
      eraseTarget: null,  // {id, alias, where}: the conversation the erase form is open for
    });
  }
  resetSup();

  // Sent, no answer yet: conversation id -> {alias}. A conversation is in one of them at most.
  const erasing = app.requests({ answer: 'erased', answered: onErased, refused: onEraseRefused, lost: onEraseLost });
  const reassigning = app.requests({
    answer: 'reassigned', answered: onReassigned, refused: onReassignRefused, lost: onReassignLost,
  });

  const supNow = () => Date.now() + sup.offset;
  const visible = () => sup.enabled && sup.tab === 'supervision';

  /* ---------- tabs ---------- */

  function setEnabled(me) {
    sup.enabled = !!me && SUPERVISING_ROLES.includes(me.role);
    el.tabs.hidden = !sup.enabled;
    // A tab panel only when there are tabs; a counsellor's page stays a plain page.
    if (sup.enabled) {
      el.viewConversations.setAttribute('role', 'tabpanel');
      el.viewConversations.setAttribute('aria-labelledby', 'tab-conversations');
    } else {
      el.viewConversations.removeAttribute('role');
      el.viewConversations.removeAttribute('aria-labelledby');
    }
    if (!sup.enabled) selectTab('conversations', false);
  }

  function selectTab(name, focus) {
    sup.tab = name;
    const onSup = name === 'supervision';
    el.tabConversations.setAttribute('aria-selected', String(!onSup));
    el.tabSupervision.setAttribute('aria-selected', String(onSup));
    el.tabConversations.tabIndex = onSup ? -1 : 0;
    el.tabSupervision.tabIndex = onSup ? 0 : -1;
    el.viewConversations.hidden = onSup;
    el.supervision.hidden = !onSup;
    if (focus) (onSup ? el.tabSupervision : el.tabConversations).focus();
    if (onSup) render();
  }

  function onTabsKeydown(event) {
    const keys = { ArrowLeft: 'conversations', Home: 'conversations', ArrowRight: 'supervision', End: 'supervision' };
    if (!keys[event.key]) return;
    event.preventDefault();
    selectTab(keys[event.key], true);
  }

  /* ---------- rendering a snapshot ---------- */

  function onSupervision(frame) {
    if (!sup.enabled) return;
    sup.frame = frame;
    sup.offset = frame.server_time - Date.now();
    sup.receivedAt = Date.now();
    renderTabCount();
    if (visible()) render();
    refreshReassign();
    refreshErase();
    app.emit('supervision', frame);
  }

  function renderTabCount() {
    const waiting = sup.frame ? (sup.frame.queue || []).length : 0;
    el.tabSupervisionCount.hidden = waiting === 0;
    app.setText(el.tabSupervisionCount, waiting ? waiting + ' en attente' : '');
  }

  function render() {
    const f = sup.frame;
    if (!f) return;
    const focused = focusedControl();
    renderLine(f.line);
    renderUpdated();
    renderFigures(f.figures || {});
    renderQueue(f.queue || []);
    renderTeam(f.team || []);
    if (focused) el.supervision.querySelector(focused)?.focus();
  }

  // The tables are rebuilt at each snapshot: keep keyboard focus on the same button
  // (a conversation has two: "Réattribuer" and "Effacer", told apart by data-role).
  function focusedControl() {
    const active = document.activeElement;
    if (!active || !el.supervision.contains(active) || !active.dataset.conv) return null;
    return '[data-area="' + active.closest('[data-area]')?.dataset.area + '"] '
      + byAttr('data-conv', active.dataset.conv) + byAttr('data-role', active.dataset.role || '');
  }

  function renderLine(line) {
    if (!line) return;
    const text = line.open ? 'Ligne ouverte'
      : 'Ligne fermée' + (line.next_opening_text ? ' — réouverture ' + line.next_opening_text : '');
    app.setText(el.supLine, text);
    el.supLine.dataset.open = String(!!line.open);
  }

  function renderUpdated() {
    if (!sup.frame) return;
    const stale = Date.now() - sup.receivedAt > STALE_MS || !state.connected;
    el.supUpdated.classList.toggle('is-stale', stale);
    app.setText(el.supUpdated, (stale ? 'Données figées, mises à jour à ' : 'Mis à jour à ')
      + new Date(sup.frame.server_time).toLocaleTimeString('fr-FR'));
  }

  const seconds = (s) => (s == null ? null : app.formatWait(Math.round(s) * 1000));
  const percent = (share) => (share == null ? null : Math.round(share * 100) + ' %');

  function renderFigures(fig) {
    const perChannel = Object.keys(app.CHANNELS).concat(Object.keys(fig.per_channel || {}))
      .filter((c, i, all) => all.indexOf(c) === i)
      .map((c) => app.channelLabel(c) + ' : ' + ((fig.per_channel || {})[c] || 0)).join(' · ');
    const rows = [
      ['conversations', 'Conversations', fig.conversations, perChannel],
      ['waiting_now', 'En attente', fig.waiting_now],
      ['raised', 'Prioritaires', fig.raised],
      ['wait_p50', 'Attente médiane (p50)', seconds(fig.wait_p50)],
      ['wait_p90', 'Attente p90', seconds(fig.wait_p90)],
      ['answered_within_1_min', 'Répondues en moins d’1 minute', percent(fig.answered_within_1_min)],
      ['abandons', 'Abandons', fig.abandons],
      ['short_abandons', 'Abandons < 5 s', fig.short_abandons, 'comptés à part'],
      ['out_of_hours', 'Hors horaires', fig.out_of_hours],
    ];
    el.supFigures.replaceChildren(...rows.map(([key, label, value, detail]) => {
      const item = make('div', 'figure');
      item.dataset.figure = key;
      const dd = make('dd', 'figure-value');
      dd.append(value == null ? make('span', 'figure-none', 'pas encore de donnée') : String(value));
      if (detail) dd.append(make('span', 'figure-detail', detail));
      item.append(make('dt', 'figure-label', label), dd);
      return item;
    }));
  }

  function priorityCell(item) {
    const td = make('td', 'sup-priority');
    const text = app.priorityText(item);
    if (text) td.append(make('span', 'priority-badge', text));
    if (item.required_skill) td.append(make('span', 'conv-skill', app.skillText(item)));
    if (!text && !item.required_skill) td.append(make('span', 'figure-none', 'normale'));
    return td;
  }

  // "Réattribuer" and "Effacer", on each conversation of the queue and of the team.
  const ACTIONS = {
    reassign: { className: 'btn btn-quiet btn-small sup-reassign', text: 'Réattribuer', form: 'reassign-form' },
    erase: { className: 'btn btn-danger-quiet btn-small sup-erase', text: 'Effacer', form: 'erase-form' },
  };

  function actionButtons(conv, where) {
    return Object.entries(ACTIONS).map(([role, action]) => {
      const b = button(action.className, action.text, action.text + ' ' + conv.alias + ' (' + where + ')');
      b.dataset.conv = conv.id;
      b.dataset.role = role;
      b.setAttribute('aria-controls', action.form);
      b.disabled = role === 'erase' && erasing.has(conv.id);
      return b;
    });
  }

  function renderQueue(queue) {
    el.supQueueEmpty.hidden = queue.length > 0;
    el.supQueue.hidden = queue.length === 0;
    el.supQueueRows.replaceChildren(...queue.map((w) => {
      const tr = make('tr', 'sup-waiting');
      tr.dataset.id = w.id;
      tr.classList.toggle('is-raised', w.priority > 0);
      const wait = make('td', 'sup-wait', app.formatWait(supNow() - w.queued_at));
      wait.dataset.since = String(w.queued_at);
      const action = make('td', 'sup-action');
      const where = 'en file, n° ' + w.position;
      action.append(...actionButtons(w, where));
      tr.append(make('td', 'sup-position', w.position), make('th', 'sup-alias', w.alias), make('td', null, app.channelLabel(w.channel)),
        wait, priorityCell(w), action);
      tr.querySelector('th').scope = 'row';
      return tr;
    }));
  }

  function renderTeam(team) {
    const sorted = team.slice().sort((a, b) => String(a.display_name).localeCompare(String(b.display_name), 'fr'));
    el.supTeamRows.replaceChildren(...sorted.map(memberRow));
  }

  function memberRow(m) {
    const tr = make('tr', 'sup-member');
    tr.dataset.id = m.id;
    tr.dataset.presence = m.presence;
    const name = make('th', 'sup-name', m.display_name);
    name.scope = 'row';
    const presence = make('td', 'sup-presence');
    presence.append(make('span', 'presence-chip', app.presenceLabel(m.presence)));
    if (m.presence_since) presence.append(make('span', 'sup-since', 'depuis ' + app.formatClock(m.presence_since)));
    const load = make('td', 'sup-load');
    const meter = make('meter');
    Object.assign(meter, { min: 0, max: Math.max(1, m.capacity || 1), value: m.load || 0 });
    meter.setAttribute('aria-hidden', 'true'); // the words say it
    load.append(make('span', 'sup-load-text', (m.load || 0) + ' / ' + (m.capacity || 0)), meter);
    const skills = make('td', 'sup-skills', (m.skills || []).length ? m.skills.join(', ') : '—');
    const convs = make('td', 'sup-convs');
    if ((m.conversations || []).length) {
      const ul = make('ul', 'sup-conv-list');
      for (const c of m.conversations) {
        const li = make('li', 'sup-conv');
        li.dataset.id = c.id;
        li.classList.toggle('is-raised', c.priority > 0);
        li.append(make('span', 'sup-conv-alias', c.alias), make('span', 'sup-conv-channel', app.channelLabel(c.channel)));
        if (c.priority > 0) li.append(make('span', 'priority-badge', 'Prioritaire'));
        li.append(...actionButtons(c, 'avec ' + m.display_name));
        ul.append(li);
      }
      convs.append(ul);
    } else {
      convs.append(make('span', 'figure-none', 'aucune'));
    }
    tr.append(name, presence, load, skills, convs);
    return tr;
  }

  // Once a second: waiting times move on between snapshots.
  function tick() {
    if (!visible() || !sup.frame) return;
    el.supQueueRows.querySelectorAll('.sup-wait').forEach((td) => {
      app.setText(td, app.formatWait(supNow() - Number(td.dataset.since)));
    });
    renderUpdated();
  }

  /* ---------- reassigning ---------- */

  // Where the conversation is now: {id, alias, holder} (holder null while it waits), or null.
  function locate(id) {
    const f = sup.frame;
    if (!f) return null;
    const waiting = (f.queue || []).find((w) => w.id === id);
    if (waiting) return { id, alias: waiting.alias, holder: null, where: 'en file, n° ' + waiting.position };
    for (const m of f.team || []) {
      const c = (m.conversations || []).find((x) => x.id === id);
      if (c) return { id, alias: c.alias, holder: m.id, where: 'avec ' + m.display_name };
    }
    return null;
  }

  function openReassign(id) {
    const found = locate(id);
    if (!found) return;
    closeErase(false);
    sup.target = found;
    setReassignError('');
    el.reassignSend.disabled = false;
    el.reassignTo.value = '';
    el.reassignForm.hidden = false;
    refreshReassign();
    el.reassignTo.focus();
  }

  function closeReassign(focus = true) {
    const id = sup.target && sup.target.id;
    sup.target = null;
    el.reassignForm.hidden = true;
    if (id && focus) el.supervision.querySelector('.sup-reassign' + byAttr('data-conv', id))?.focus();
  }

  // Only someone available with room can take it now; the options follow each snapshot.
  function refreshReassign() {
    if (!sup.target || el.reassignForm.hidden) return;
    const now = locate(sup.target.id);
    if (now) sup.target = now;
    app.setText(el.reassignTitle, 'Réattribuer ' + sup.target.alias + ' (' + sup.target.where + ')');
    if (!now && !reassigning.has(sup.target.id)) setReassignError('Cette conversation n’est plus en cours.');
    const chosen = el.reassignTo.value;
    const free = (sup.frame.team || [])
      .filter((m) => m.presence === 'available' && (m.load || 0) < (m.capacity || 0) && m.id !== sup.target.holder)
      .sort((a, b) => (a.load || 0) - (b.load || 0) || String(a.display_name).localeCompare(String(b.display_name), 'fr'));
    const options = free.map((m) => {
      const option = make('option', null, m.display_name + ' — ' + m.load + ' / ' + m.capacity
        + ((m.skills || []).length ? ' — ' + m.skills.join(', ') : ''));
      option.value = m.id;
      return option;
    });
    if (!options.length) {
      const none = make('option', null, 'Personne n’est disponible avec de la place');
      none.value = '';
      options.push(none);
    }
    el.reassignTo.replaceChildren(...options);
    if (free.some((m) => m.id === chosen)) el.reassignTo.value = chosen;
    el.reassignSend.disabled = !free.length || !now || reassigning.has(sup.target.id);
  }

  const setReassignError = (text) => app.setError(el.reassignError, text);

  function onReassignSubmit(event) {
    event.preventDefault();
    const target = sup.target;
    const to = el.reassignTo.value;
    if (!target || !to) { setReassignError('Choisissez un·e conseiller·e disponible.'); return; }
    if (erasing.has(target.id)) { setReassignError('Un effacement de cette conversation est en cours.'); return; }
    if (!reassigning.send(target.id, { type: 'reassign', conversation_id: target.id, to_counsellor: to }, { alias: target.alias })) {
      setReassignError('Hors connexion : rien n’a été réattribué.');
      return;
    }
    setReassignError('');
    el.reassignSend.disabled = true; // released by `reassigned` or `error`
  }

  function onReassigned(frame, sent) {
    const alias = sent?.alias || locate(frame.conversation_id)?.alias || 'La conversation';
    showSupNotice(alias + ' : réattribuée à ' + (frame.to || 'un·e conseiller·e') + '.');
    if (sup.target && sup.target.id === frame.conversation_id) closeReassign();
  }

  function onReassignRefused(frame) {
    const id = frame.conversation_id;
    const text = frame.message || 'Réattribution refusée.';
    if (sup.target && sup.target.id === id) {
      setReassignError(text);
      refreshReassign();
    } else {
      showSupNotice(text);
    }
  }

  function onReassignLost() {
    setReassignError('Connexion perdue : la réattribution n’a peut-être pas abouti. Vérifiez après la reconnexion.');
  }

  /* ---------- erasing at the teen's request ---------- */

  // A small form, not the browser's confirm(): what happens, Confirmer / Annuler. The id it
  // is for sits on the form (data-conv); the conversation may close meanwhile and can still
  // be erased, so the form stays usable when it leaves the snapshot.
  function openErase(id) {
    const found = locate(id);
    if (!found) return;
    closeReassign(false);
    sup.eraseTarget = found;
    el.eraseForm.dataset.conv = id;
    setEraseError('');
    el.eraseForm.hidden = false;
    refreshErase();
    el.eraseCancel.focus(); // the safe choice first: Confirmer is one Tab away
  }

  function closeErase(focus = true) {
    const id = sup.eraseTarget && sup.eraseTarget.id;
    sup.eraseTarget = null;
    el.eraseForm.hidden = true;
    delete el.eraseForm.dataset.conv;
    if (!id || !focus) return;
    const back = el.supervision.querySelector('.sup-erase' + byAttr('data-conv', id));
    (back || el.tabSupervision).focus();
  }

  function refreshErase() {
    const target = sup.eraseTarget;
    if (!target || el.eraseForm.hidden) return;
    const now = locate(target.id);
    if (now) sup.eraseTarget = Object.assign(target, now);
    app.setText(el.eraseTitle, 'Effacer ' + target.alias + ' (' + (now ? now.where : 'plus en cours') + ')');
    el.eraseSend.disabled = erasing.has(el.eraseForm.dataset.conv);
  }

  const setEraseError = (text) => app.setError(el.eraseError, text);

  function onEraseSubmit(event) {
    event.preventDefault();
    const id = el.eraseForm.dataset.conv;
    if (!id || erasing.has(id)) return;
    if (reassigning.has(id)) { setEraseError('Une réattribution de cette conversation est en cours : attendez sa réponse.'); return; }
    const alias = (sup.eraseTarget && sup.eraseTarget.alias) || 'La conversation';
    if (!erasing.send(id, { type: 'erase', conversation_id: id }, { alias })) {
      setEraseError('Hors connexion : rien n’a été effacé.');
      return;
    }
    setEraseError('');
    el.eraseSend.disabled = true; // released by `erased` or `error`
    if (visible()) render();      // its "Effacer" buttons wait too
  }

  function onErased(frame, sent) {
    const id = frame.conversation_id;
    const alias = sent?.alias || locate(id)?.alias || 'La conversation';
    showSupNotice(alias + ' : conversation close et effacée. Les chiffres anonymes sont gardés.');
    app.removeConversation(id); // were it one of mine, its texts leave this page too
    if (el.eraseForm.dataset.conv === id) closeErase();
    if (visible()) render();
  }

  function onEraseRefused(frame) {
    const id = frame.conversation_id;
    const text = frame.message || 'Effacement refusé.';
    if (!el.eraseForm.hidden && el.eraseForm.dataset.conv === id) {
      setEraseError(text);
      refreshErase();
    } else {
      showSupNotice(text);
    }
    if (visible()) render();
  }

  function onEraseLost() {
    setEraseError('Connexion perdue : l’effacement n’a peut-être pas abouti. Vérifiez après la reconnexion.');
    refreshErase();
    if (visible()) render();
  }

  function showSupNotice(text) {
    el.supNotice.textContent = text;
  }
  app.showSupNotice = showSupNotice;

  function onSupervisionClick(event) {
    const b = event.target.closest('.sup-reassign, .sup-erase');
    if (!b || b.disabled) return;
    if (b.classList.contains('sup-erase')) openErase(b.dataset.conv);
    else openReassign(b.dataset.conv);
  }

  /* ---------- wiring ---------- */

  app.handlers.supervision = onSupervision;
  app.on('tick', tick);
  app.on('reset', () => {
    resetSup();
    if (!el.reassignForm) return; // before the elements are bound
    el.reassignForm.hidden = true;
    el.eraseForm.hidden = true;
    delete el.eraseForm.dataset.conv;
    el.supNotice.textContent = '';
  });
  app.on('start', (me) => { setEnabled(me); selectTab('conversations', false); });
  app.on('init', (frame) => setEnabled(frame.me));
  app.on('disconnected', renderUpdated);

  app.on('bind', () => {
    el.tabConversations.addEventListener('click', () => selectTab('conversations', false));
    el.tabSupervision.addEventListener('click', () => selectTab('supervision', false));
    el.tabs.addEventListener('keydown', onTabsKeydown);
    el.supervision.addEventListener('click', onSupervisionClick);
    el.reassignForm.addEventListener('submit', onReassignSubmit);
    el.reassignCancel.addEventListener('click', () => closeReassign());
    el.reassignForm.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeReassign(); });
    el.eraseForm.addEventListener('submit', onEraseSubmit);
    el.eraseCancel.addEventListener('click', () => closeErase());
    el.eraseForm.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeErase(); });
  });
})();
