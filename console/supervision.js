/*
 * Console 3018, the supervision page (/console/supervision, role "supervisor" or "admin"), to
 * keep open on a second screen beside the chat console. It opens its own socket,
 * /ws/console?view=supervision: a watcher that gets the `supervision` snapshot (every ~2 s and
 * at once on a change, docs/protocol.md "Supervision page") and does not count as the
 * counsellor's console for presence. Shown, strongest first: what needs watching ("À
 * surveiller": a teen held by an écoutant·e away or silent), the queue, the team, today's
 * figures, the abuse marks (lift), reassigning; and, apart at the bottom, erasing a
 * conversation at the teen's request (erase.js: the pseudonym must be typed to confirm).
 * Pseudonyms, channels, times and reasons only: the snapshot carries no message text. Every
 * text is rendered with textContent. Reuses shared.js (helpers) and requests.js (answers).
 */
(() => {
  'use strict';

  const app = window.Console3018;
  const { state, el, make, button, byAttr } = app;

  const SUPERVISING_ROLES = ['supervisor', 'admin'];
  const STALE_MS = 10000;          // no snapshot for this long: say the figures may be old
  const LIFTED_IGNORE_MS = 6000;   // a snapshot read just before a lift may still list the mark
  const UNREACHABLE = 'Impossible de joindre le serveur. Vérifiez la connexion puis rechargez la page.';

  function resetState() {
    Object.assign(state, {
      me: null, ws: null, connected: false, stopped: true, attempt: 0, reconnectTimer: null,
      frame: null,        // latest `supervision` frame
      clockOffset: 0,     // its server_time - Date.now() (app.serverNow)
      receivedAt: 0,
      target: null,       // {id, alias, holder, where}: the conversation the reassign form is for
      marks: [],          // the latest snapshot's abuse marks: [{id, alias, until}]
      lifted: new Map(),  // mark id -> when its lift was confirmed (Date.now())
    });
    app.emit('reset');
  }

  // Sent, no answer yet (requests.js): conversation id / mark id -> {alias}.
  const reassigning = app.requests({
    answer: 'reassigned', answered: onReassigned, refused: onReassignRefused, lost: onReassignLost,
  });
  const lifting = app.requests({  // its errors name nothing: answers come in order
    answer: 'abuse_lifted', key: (frame) => frame.mark_id, inOrder: true,
    answered: onLifted, refused: onLiftRefused, lost: onLiftLost,
  });

  /* ---------- who may see it ---------- */

  function api(method, path) {
    return fetch(path, { method, credentials: 'same-origin' });
  }

  async function boot() {
    try {
      const res = await api('GET', '/api/console/me');
      if (res.status === 401) { showGate('gateLogin'); return; }
      if (!res.ok) { showGate(null, 'Le service ne répond pas. Réessayez dans un instant.'); return; }
      start((await res.json()).me);
    } catch (e) {
      showGate(null, UNREACHABLE);
    }
  }

  // Not logged in, or not a supervisor: a message and a link to the console, no data at all.
  function showGate(which, errorText) {
    stop();
    el.boot.hidden = true;
    el.app.hidden = true;
    el.gate.hidden = false;
    el.gateLogin.hidden = which !== 'gateLogin';
    el.gateReserved.hidden = which !== 'gateReserved';
    app.setError(el.gateError, errorText || '');
  }

  function start(me) {
    if (!me || !SUPERVISING_ROLES.includes(me.role)) { showGate('gateReserved'); return; }
    resetState();
    state.me = me;
    state.stopped = false;
    el.boot.hidden = true;
    el.gate.hidden = true;
    el.app.hidden = false;
    el.meName.textContent = me.display_name || me.username || '';
    socket.connect();
  }

  function stop() {
    state.stopped = true;
    clearTimeout(state.reconnectTimer);
    if (state.ws) state.ws.close(1000);
    state.ws = null;
  }

  /* ---------- the watcher socket (app.openSocket, shared.js) ---------- */

  // Before each new attempt: logged out, or no longer a supervisor, shows the gate.
  const socket = app.openSocket('/ws/console?view=supervision', {
    mayReconnect: async (res) => {
      if (res.status === 401) { showGate('gateLogin'); return false; }
      if (res.ok && !SUPERVISING_ROLES.includes((await res.json()).me.role)) { showGate('gateReserved'); return false; }
      return true;
    },
  });
  app.on('disconnected', () => renderUpdated());

  function onInit(frame) {
    Object.assign(state, { connected: true, attempt: 0, me: frame.me });
    el.connectionBanner.hidden = true;
    if (!SUPERVISING_ROLES.includes(frame.me.role)) showGate('gateReserved');
  }

  function onError(frame) {
    if (app.emit('error', frame)) return;
    if (frame.code === 'unavailable' && !state.connected) return; // the socket closes and comes back
    showNotice(frame.message || 'Action refusée.');
  }

  /* ---------- rendering a snapshot ---------- */

  function onSupervision(frame) {
    state.frame = frame;
    state.clockOffset = frame.server_time - Date.now();
    state.receivedAt = Date.now();
    const now = Date.now();
    state.lifted.forEach((at, id) => { if (now - at > LIFTED_IGNORE_MS) state.lifted.delete(id); });
    state.marks = (Array.isArray(frame.abuse) ? frame.abuse : []).filter((m) => m && m.id && !state.lifted.has(m.id));
    render();
  }

  function render() {
    const f = state.frame;
    if (!f) return;
    const focused = focusedControl();
    renderLine(f.line);
    renderUpdated();
    renderWatch(f.watch || []);
    renderQueue(f.queue || []);
    renderTeam(f.team || []);
    // Casework and notices travel beside the day's figures (docs/protocol.md, "supervision").
    renderFigures({ ...(f.figures || {}), to_qualify: f.to_qualify, notices_overdue: f.notices_overdue,
      refused_share: f.refused_share });
    renderMarks();
    refreshReassign();
    app.emit('rendered');
    if (focused) el.supervision.querySelector(focused)?.focus();
  }

  // The lists are rebuilt at each snapshot: keep keyboard focus on the same button.
  function focusedControl() {
    const active = document.activeElement;
    if (!active || !el.supervision.contains(active) || !(active.dataset.conv || active.dataset.mark)) return null;
    const area = active.closest('[data-area]')?.dataset.area;
    const key = active.dataset.conv ? byAttr('data-conv', active.dataset.conv) : byAttr('data-mark', active.dataset.mark);
    return '[data-area="' + area + '"] ' + key + byAttr('data-role', active.dataset.role || '');
  }

  function renderLine(line) {
    if (!line) return;
    const text = line.open ? 'Ligne ouverte'
      : 'Ligne fermée' + (line.next_opening_text ? ' — réouverture ' + line.next_opening_text : '');
    app.setText(el.supLine, text);
    el.supLine.dataset.open = String(!!line.open);
  }

  function renderUpdated() {
    if (!state.frame) return;
    const stale = Date.now() - state.receivedAt > STALE_MS || !state.connected;
    el.supUpdated.classList.toggle('is-stale', stale);
    app.setText(el.supUpdated, (stale ? 'Données figées, mises à jour à ' : 'Mis à jour à ')
      + new Date(state.frame.server_time).toLocaleTimeString('fr-FR'));
  }

  const sinceText = (at) => app.formatWait(app.serverNow() - at);

  /* ---------- À surveiller ---------- */

  // Why a held conversation is flagged, in words; the server sends them strongest first.
  const REASONS = {
    offline_holding: (w) => 'Écoutant·e ' + (w.presence === 'paused' ? 'en pause' : 'hors ligne')
      + (w.presence_since ? ' depuis ' + app.formatClock(w.presence_since) : ''),
    silent: () => 'Sans réponse depuis ',
    teen_left: () => 'Le jeune a quitté le tchat',
  };

  function renderWatch(items) {
    el.supWatchEmpty.hidden = items.length > 0;
    el.supWatchCount.hidden = items.length === 0;
    app.setText(el.supWatchCount, String(items.length));
    el.supWatchRows.replaceChildren(...items.map(watchItem));
  }

  function watchItem(w) {
    const li = make('li', 'sup-flag');
    li.dataset.id = w.conversation_id;
    li.classList.toggle('is-raised', w.priority > 0);
    const head = make('p', 'sup-flag-head');
    head.append(make('span', 'sup-flag-alias', w.alias), make('span', 'sup-conv-channel', app.channelLabel(w.channel)));
    const priority = app.priorityText(w);
    if (priority) head.append(make('span', 'priority-badge', priority));
    const reasons = make('ul', 'sup-flag-reasons');
    for (const reason of w.reasons || []) {
      const words = REASONS[reason];
      if (!words) continue;
      const item = make('li', 'sup-reason', words(w));
      item.dataset.reason = reason;
      if (reason === 'silent' && w.waiting_since != null) {
        item.dataset.since = String(w.waiting_since);
        item.textContent = words(w) + sinceText(w.waiting_since);
      }
      reasons.append(item);
    }
    const who = make('p', 'sup-flag-who', 'Tenue par ' + w.display_name);
    const action = reassignButton({ id: w.conversation_id, alias: w.alias }, 'avec ' + w.display_name);
    li.append(head, who, reasons, action);
    return li;
  }

  /* ---------- the queue, the team, the figures ---------- */

  function reassignButton(conv, where) {
    const b = button('btn btn-quiet btn-small sup-reassign', 'Réattribuer', 'Réattribuer ' + conv.alias + ' (' + where + ')');
    b.dataset.conv = conv.id;
    b.dataset.role = 'reassign';
    b.setAttribute('aria-controls', 'reassign-form');
    return b;
  }

  function priorityCell(item) {
    const td = make('td', 'sup-priority');
    const text = app.priorityText(item);
    if (text) td.append(make('span', 'priority-badge', text));
    if (item.required_skill) td.append(make('span', 'conv-skill', app.skillText(item)));
    if (!text && !item.required_skill) td.append(make('span', 'figure-none', 'normale'));
    return td;
  }

  function renderQueue(queue) {
    el.supQueueEmpty.hidden = queue.length > 0;
    el.supQueue.hidden = queue.length === 0;
    el.supQueueRows.replaceChildren(...queue.map((w) => {
      const tr = make('tr', 'sup-waiting');
      tr.dataset.id = w.id;
      tr.classList.toggle('is-raised', w.priority > 0);
      const wait = make('td', 'sup-wait', sinceText(w.queued_at));
      wait.dataset.since = String(w.queued_at);
      const action = make('td', 'sup-action');
      action.append(reassignButton(w, 'en file, n° ' + w.position));
      const alias = make('th', 'sup-alias', w.alias);
      alias.scope = 'row';
      tr.append(make('td', 'sup-position', w.position), alias, make('td', null, app.channelLabel(w.channel)),
        wait, priorityCell(w), action);
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
    tr.classList.toggle('is-flagged', !!(m.offline_holding || m.silent));
    const name = make('th', 'sup-name', m.display_name);
    name.scope = 'row';
    const presence = make('td', 'sup-presence');
    const caring = m.presence === 'paused' && Number.isInteger(m.care_until); // core/care.py
    presence.append(make('span', 'presence-chip', m.disabled ? 'désactivé·e'
      : caring ? 'pause de soin' : app.presenceLabel(m.presence)));
    if (m.disabled) tr.dataset.disabled = 'yes'; // `counsellor disable`: no login, no assignment
    if (caring) tr.dataset.care = 'yes';
    if (caring) presence.append(make('span', 'sup-since', 'jusqu’à ' + app.formatClock(m.care_until)));
    if (m.presence_since) presence.append(make('span', 'sup-since', 'depuis ' + app.formatClock(m.presence_since)));
    const held = (m.conversations || []).length;
    if (m.offline_holding) presence.append(make('span', 'sup-member-flag', 'tient ' + held + (held > 1 ? ' conversations' : ' conversation')));
    const load = make('td', 'sup-load');
    const meter = make('meter');
    Object.assign(meter, { min: 0, max: Math.max(1, m.capacity || 1), value: m.load || 0 });
    meter.setAttribute('aria-hidden', 'true'); // the words say it
    load.append(make('span', 'sup-load-text', (m.load || 0) + ' / ' + (m.capacity || 0)), meter);
    const skills = make('td', 'sup-skills', (m.skills || []).length ? m.skills.join(', ') : '—');
    const convs = make('td', 'sup-convs');
    if ((m.conversations || []).length) {
      const ul = make('ul', 'sup-conv-list');
      ul.append(...m.conversations.map((c) => heldItem(m, c)));
      convs.append(ul);
    } else {
      convs.append(make('span', 'figure-none', 'aucune'));
    }
    tr.append(name, presence, load, skills, convs);
    return tr;
  }

  function heldItem(m, c) {
    const li = make('li', 'sup-conv');
    li.dataset.id = c.id;
    li.classList.toggle('is-raised', c.priority > 0);
    li.append(make('span', 'sup-conv-alias', c.alias), make('span', 'sup-conv-channel', app.channelLabel(c.channel)));
    if (c.priority > 0) li.append(make('span', 'priority-badge', 'Prioritaire'));
    if (c.teen_left) li.append(make('span', 'sup-conv-left', 'a quitté le tchat'));
    li.append(reassignButton(c, 'avec ' + m.display_name));
    return li;
  }

  const seconds = (s) => (s == null ? null : app.formatWait(Math.round(s) * 1000));
  const percent = (share) => (share == null ? null : Math.round(share * 100) + ' %');

  // The post-chat answers (core/survey.py): null when nobody answered yet today.
  function helpedTotal(helped) {
    const total = helped ? (helped.oui || 0) + (helped.un_peu || 0) + (helped.non || 0) : 0;
    return total > 0 ? total + (total > 1 ? ' réponses' : ' réponse') : null;
  }

  function helpedDetail(helped) {
    if (!helped) return '';
    return 'oui : ' + (helped.oui || 0) + ' · un peu : ' + (helped.un_peu || 0) + ' · pas vraiment : ' + (helped.non || 0);
  }

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
      ['helped', 'Échange utile ? (question après le tchat)', helpedTotal(fig.helped), helpedDetail(fig.helped)],
      ['to_qualify', 'Conversations à qualifier', fig.to_qualify, 'toute l’équipe'],
      ['notices_overdue', 'Signalements sans réponse', fig.notices_overdue, 'au-delà du délai de relance de la plateforme'],
      ['refused_share', 'Signalements refusés (12 mois)', percent(fig.refused_share), 'à surveiller : statut de signaleur de confiance (DSA art. 22)'],
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

  // Once a second: waiting times move on between snapshots.
  function tick() {
    if (!state.frame) return;
    el.supervision.querySelectorAll('[data-since]').forEach((node) => {
      const prefix = node.dataset.reason === 'silent' ? REASONS.silent() : '';
      app.setText(node, prefix + sinceText(Number(node.dataset.since)));
    });
    renderUpdated();
  }

  /* ---------- where a conversation is now ---------- */

  // {id, alias, holder, where} (holder null while it waits), or null once it left the snapshot.
  function locate(id) {
    const f = state.frame;
    if (!f) return null;
    const waiting = (f.queue || []).find((w) => w.id === id);
    if (waiting) return { id, alias: waiting.alias, holder: null, where: 'en file, n° ' + waiting.position };
    for (const m of f.team || []) {
      const c = (m.conversations || []).find((x) => x.id === id);
      if (c) return { id, alias: c.alias, holder: m.id, where: 'avec ' + m.display_name };
    }
    return null;
  }

  function everyConversation() {
    const f = state.frame || {};
    return (f.queue || []).map((w) => locate(w.id))
      .concat(...(f.team || []).map((m) => (m.conversations || []).map((c) => locate(c.id))));
  }

  /* ---------- reassigning ---------- */

  function openReassign(id) {
    const found = locate(id);
    if (!found) return;
    state.target = found;
    setReassignError('');
    el.reassignSend.disabled = false;
    el.reassignTo.value = '';
    el.reassignForm.hidden = false;
    refreshReassign();
    el.reassignTo.focus();
  }

  function closeReassign(focus = true) {
    const id = state.target && state.target.id;
    state.target = null;
    el.reassignForm.hidden = true;
    if (id && focus) el.supervision.querySelector('.sup-reassign' + byAttr('data-conv', id))?.focus();
  }

  // Only someone available with room can take it now; the options follow each snapshot.
  function refreshReassign() {
    if (!state.target || el.reassignForm.hidden) return;
    const now = locate(state.target.id);
    if (now) state.target = now;
    app.setText(el.reassignTitle, 'Réattribuer ' + state.target.alias + ' (' + state.target.where + ')');
    if (!now && !reassigning.has(state.target.id)) setReassignError('Cette conversation n’est plus en cours.');
    const chosen = el.reassignTo.value;
    const free = (state.frame.team || [])
      .filter((m) => m.presence === 'available' && (m.load || 0) < (m.capacity || 0) && m.id !== state.target.holder)
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
    el.reassignSend.disabled = !free.length || !now || reassigning.has(state.target.id);
  }

  const setReassignError = (text) => app.setError(el.reassignError, text);

  function onReassignSubmit(event) {
    event.preventDefault();
    const target = state.target;
    const to = el.reassignTo.value;
    if (!target || !to) { setReassignError('Choisissez un·e écoutant·e disponible.'); return; }
    if (app.sup.erasing(target.id)) { setReassignError('Un effacement de cette conversation est en cours.'); return; }
    if (!reassigning.send(target.id, { type: 'reassign', conversation_id: target.id, to_counsellor: to }, { alias: target.alias })) {
      setReassignError('Hors connexion : rien n’a été réattribué.');
      return;
    }
    setReassignError('');
    el.reassignSend.disabled = true; // released by `reassigned` or `error`
  }

  function onReassigned(frame, sent) {
    const alias = sent?.alias || locate(frame.conversation_id)?.alias || 'La conversation';
    showNotice(alias + ' : réattribuée à ' + (frame.to || 'un·e écoutant·e') + '.');
    if (state.target && state.target.id === frame.conversation_id) closeReassign();
  }

  function onReassignRefused(frame) {
    const text = frame.message || 'Réattribution refusée.';
    if (state.target && state.target.id === frame.conversation_id) {
      setReassignError(text);
      refreshReassign();
    } else {
      showNotice(text);
    }
  }

  function onReassignLost() {
    setReassignError('Connexion perdue : la réattribution n’a peut-être pas abouti. Vérifiez après la reconnexion.');
  }

  /* ---------- abuse marks: lifting ---------- */

  function renderMarks() {
    const focused = app.focusKey(el.supAbuseRows, '.sup-mark');
    el.supAbuseEmpty.hidden = state.marks.length > 0;
    el.supAbuse.hidden = state.marks.length === 0;
    el.supAbuseRows.replaceChildren(...state.marks.map(markRow));
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

  const setLiftError = (text) => app.setError(el.supAbuseError, text);

  function lift(id) {
    const alias = state.marks.find((m) => m.id === id)?.alias || null;
    if (!lifting.send(id, { type: 'lift_abuse', mark_id: id }, { alias })) {
      setLiftError('Hors connexion : aucun signalement n’a été levé.');
      return;
    }
    setLiftError('');
    renderMarks();
  }

  function onLifted(frame, sent) {
    const id = frame.mark_id;
    const alias = sent?.alias || state.marks.find((m) => m.id === id)?.alias || 'Le pseudonyme';
    state.lifted.set(id, Date.now());
    state.marks = state.marks.filter((m) => m.id !== id);
    showNotice(alias + ' : signalement levé. Ses prochains messages entreront de nouveau dans la file.');
    renderMarks();
  }

  function onLiftRefused(frame) {
    setLiftError(frame.message || 'Levée refusée.');
    renderMarks();
  }

  function onLiftLost() {
    setLiftError('Connexion perdue : la levée n’a peut-être pas abouti. Vérifiez la liste après la reconnexion.');
    renderMarks();
  }

  /* ---------- wiring ---------- */

  function showNotice(text) {
    el.supNotice.textContent = text;
  }

  function onSupervisionClick(event) {
    const b = event.target.closest('.sup-reassign, .sup-lift');
    if (!b || b.disabled) return;
    if (b.classList.contains('sup-lift')) lift(b.dataset.mark); else openReassign(b.dataset.conv);
  }

  function bind() {
    document.querySelectorAll('[id]').forEach((node) => {
      el[node.id.replace(/-(\w)/g, (_, c) => c.toUpperCase())] = node;
    });
    el.supervision.addEventListener('click', onSupervisionClick);
    el.reassignForm.addEventListener('submit', onReassignSubmit);
    el.reassignCancel.addEventListener('click', () => closeReassign());
    el.reassignForm.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeReassign(); });
    app.emit('bind');
  }

  Object.assign(app.handlers, { init: onInit, supervision: onSupervision, error: onError });
  // For erase.js: where conversations are now, the notice line, whether one is being reassigned.
  app.sup = { locate, everyConversation, showNotice, reassigning: (id) => reassigning.has(id), erasing: () => false };

  document.addEventListener('DOMContentLoaded', () => {
    bind();
    resetState();
    setInterval(tick, 1000);
    boot();
  });
})();
