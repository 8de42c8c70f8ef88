/*
 * Console 3018: the counsellors' page. Speaks docs/protocol.md, sections "Console" and
 * "Queue operations". This file owns the session, the socket, the conversation list and
 * the notices; thread.js the open conversation, transfer.js the transfer form,
 * supervision.js the supervision page (/console/supervision, its own page, linked from the
 * top bar for supervisors). They share window.Console3018 (shared.js).
 *
 * One state object, small functions, no framework. Every text that comes from the
 * server is rendered with textContent: a teen's message is plain text, never HTML.
 */
(() => {
  'use strict';

  const app = window.Console3018;
  const { state, el, make, button } = app;

  const TITLE = 'Console 3018';
  const MAX_NOTICES = 3;
  const UNREACHABLE = 'Impossible de joindre le serveur. Vérifiez la connexion puis réessayez.';

  function resetState() {
    Object.assign(state, {
      me: null,
      team: [],                 // colleagues (init, `team` frames), for transfers
      clockOffset: 0,           // server_time - Date.now(), measured at each init
      maxMessageChars: null,    // init.limits.max_message_chars: the longest reply accepted
      conversations: new Map(), // id -> ConsoleConv
      unread: new Map(),        // id -> lines received while it was not open
      fresh: new Set(),         // ids assigned while the page was open, not opened yet
      hidden: new Set(),        // closed ids the counsellor removed from view
      drafts: new Map(),        // id -> unsent text, kept when switching conversations
      marks: new Map(),         // id -> highest seq this page has (thread.js), for `resume`
      openId: null,
      ws: null,
      connected: false,         // true from init until the socket closes
      initialised: false,       // an init arrived at least once since login
      stopped: true,            // true: do not reconnect (logged out)
      attempt: 0,
      reconnectTimer: null,
      ticker: null,
      listShown: true,          // narrow screens: the list folds away while a conversation is open
    });
    app.emit('reset');
  }

  function bindElements() {
    document.querySelectorAll('[id]').forEach((node) => {
      el[node.id.replace(/-(\w)/g, (_, c) => c.toUpperCase())] = node;
    });
  }

  /* ---------- HTTP: session ---------- */

  function api(method, path, body) {
    const headers = body === undefined ? {} : { 'Content-Type': 'application/json' };
    return fetch(path, { method, headers, credentials: 'same-origin', body: body && JSON.stringify(body) });
  }

  async function boot() {
    try {
      const res = await api('GET', '/api/console/me');
      if (res.ok) { startApp((await res.json()).me); return; }
      showLogin(res.status === 401 ? '' : 'Le service ne répond pas. Réessayez dans un instant.');
    } catch (e) {
      showLogin(UNREACHABLE);
    }
  }

  async function onLoginSubmit(event) {
    event.preventDefault();
    const username = el.loginUsername.value.trim();
    const password = el.loginPassword.value;
    el.loginSubmit.disabled = true;
    setLoginError('');
    try {
      const res = await api('POST', '/api/console/login', { username, password });
      if (res.ok) {
        const data = await res.json();
        el.loginPassword.value = '';
        startApp(data.me);
      } else {
        setLoginError(res.status === 401 ? 'Identifiant ou mot de passe incorrect.'
          : 'Connexion impossible pour le moment. Réessayez dans un instant.');
      }
    } catch (e) {
      setLoginError(UNREACHABLE);
    } finally {
      el.loginSubmit.disabled = false;
    }
  }

  // The server closes our sockets while logging out: stop reconnecting before asking.
  // (leaving.js asks first when conversations are held.)
  async function onLogout() {
    el.logout.disabled = true;
    state.stopped = true;
    clearTimeout(state.reconnectTimer);
    try {
      const res = await api('POST', '/api/console/logout');
      if (res.ok || res.status === 401) { stopApp(); showLogin(''); return; }
      logoutFailed('La déconnexion a échoué. Réessayez.');
    } catch (e) {
      logoutFailed(UNREACHABLE);
    } finally {
      el.logout.disabled = false;
    }
  }

  app.logOut = onLogout;

  function logoutFailed(text) {
    showNotice(text);
    state.stopped = false;
    if (!state.ws) onSocketClosed(); // the socket went meanwhile: resume reconnecting
  }

  const setLoginError = (text) => app.setError(el.loginError, text);

  function showLogin(errorText) {
    el.boot.hidden = true;
    el.app.hidden = true;
    el.login.hidden = false;
    document.title = TITLE;
    setLoginError(errorText);
    el.loginUsername.focus();
  }

  /* ---------- app lifecycle ---------- */

  function startApp(me) {
    clearInterval(state.ticker);
    resetState();
    state.me = me;
    state.stopped = false;
    el.boot.hidden = true;
    el.login.hidden = true;
    el.app.hidden = false;
    el.notices.textContent = '';
    renderMe();
    renderList();
    app.pane.render();
    app.emit('start', me);
    state.ticker = setInterval(tick, 1000);
    connect();
  }

  function stopApp() {
    state.stopped = true;
    clearTimeout(state.reconnectTimer);
    clearInterval(state.ticker);
    if (state.ws) state.ws.close(1000);
    resetState();
    el.connectionBanner.hidden = true;
    el.app.hidden = true;
  }

  /* ---------- WebSocket (connect, backoff, frames: app.openSocket in shared.js) ---------- */

  // Before each new attempt: a 401 from /me (session expired, logout in another tab) means
  // "back to the login form".
  const socket = app.openSocket('/ws/console', {
    onClose: () => { el.presence.disabled = true; },
    mayReconnect: (res) => {
      if (res.status !== 401) return true;
      stopApp();
      showLogin('Votre session a expiré. Reconnectez-vous.');
      return false;
    },
  });
  const connect = socket.connect;
  const onSocketClosed = socket.dropped;

  /* ---------- server frames ---------- */

  function onInit(frame) {
    const firstInit = !state.initialised;
    const before = state.conversations;
    const wasOpen = before.get(state.openId);
    state.clockOffset = frame.server_time - Date.now();
    state.maxMessageChars = app.limitFrom(frame.limits, 'max_message_chars');
    state.me = frame.me;
    state.team = Array.isArray(frame.team) ? frame.team : [];
    state.conversations = new Map();
    const fresh = [];
    for (const conv of frame.conversations || []) {
      if (conv.state === 'transferred') continue;
      keepPreview(conv, before.get(conv.id));
      state.conversations.set(conv.id, conv);
      if (!firstInit && !before.has(conv.id) && conv.state !== 'closed') { state.fresh.add(conv.id); fresh.push(conv); }
    }
    Object.assign(state, { initialised: true, connected: true, attempt: 0 });
    el.connectionBanner.hidden = true;
    resumeAfterInit();
    renderMe();
    reopenAfterInit(wasOpen);
    app.pane.flushPending();
    renderList();
    app.emit('init', frame);
    fresh.forEach((conv) => app.emit('assigned', conv));
  }

  // `last_line` comes with init only; later frames about the conversation keep the one we have
  // (message and ack frames move it on: thread.js).
  function keepPreview(conv, previous) {
    if (conv.last_line === undefined && previous) conv.last_line = previous.last_line;
  }

  // Lines may have come while we were away, in any conversation we hold: ask for those after
  // what we have (`resume`: each comes as a `message` frame, then `resumed`).
  function resumeAfterInit() {
    const marks = {};
    state.marks.forEach((seq, id) => { if (state.conversations.has(id)) marks[id] = seq; else state.marks.delete(id); });
    if (Object.keys(marks).length) app.send({ type: 'resume', conversations: marks });
  }

  // Lines may have been missed while disconnected: ask the open conversation's history again.
  // A conversation missing from init is gone from this console (closed, or moved away).
  function reopenAfterInit(wasOpen) {
    if (!state.openId) return;
    if (state.conversations.has(state.openId)) {
      app.send({ type: 'open', conversation_id: state.openId });
      app.pane.render();
      return;
    }
    if (wasOpen && wasOpen.state !== 'closed') showNotice('La conversation ouverte ne vous est plus attribuée.');
    app.pane.close();
  }

  function onConversation(frame) {
    const conv = frame.conversation;
    if (!conv || !conv.id) return;
    if (conv.state === 'transferred') { onTransferredAway(conv.id); return; }
    const previous = state.conversations.get(conv.id);
    const assigned = !previous && conv.state !== 'closed';
    if (assigned) state.fresh.add(conv.id);
    keepPreview(conv, previous);
    state.conversations.set(conv.id, conv);
    if (conv.state === 'closed') app.pane.onClosed(conv.id);
    renderList();
    if (conv.id === state.openId) app.pane.renderHead();
    if (assigned) app.emit('assigned', conv);
  }

  // No longer mine (a transfer, a supervisor's reassignment, back to the queue after a
  // disconnect). My own transfer is announced by its `transferred` frame (transfer.js).
  function onTransferredAway(id) {
    const conv = state.conversations.get(id);
    if (!conv) return;
    if (!app.emit('removing', id)) {
      showNotice('La conversation avec ' + conv.alias + ' ne vous est plus attribuée (transfert ou réattribution).', 'info');
    }
    app.removeConversation(id);
  }

  // Forget a conversation altogether: list, pane, drafts, unsent replies.
  app.removeConversation = (id) => {
    if (!state.conversations.has(id)) return;
    if (id === state.openId) app.pane.close();
    state.conversations.delete(id);
    state.unread.delete(id);
    state.fresh.delete(id);
    state.drafts.delete(id);
    app.emit('removed', id);
    renderList();
  };

  // An error names the refused frame's ids when it had some: the request waiting for that
  // answer takes it (requests.js); the rest is shown as a notice.
  function onError(frame) {
    if (app.emit('error', frame)) return;
    showNotice(frame.message || 'Action refusée.');
  }

  Object.assign(app.handlers, {
    init: onInit,
    conversation: onConversation,
    presence: (f) => { state.me.presence = f.presence; renderMe(); },
    team: (f) => { state.team = Array.isArray(f.team) ? f.team : []; app.emit('team'); },
    error: onError,
    resumed: () => {}, // the lines it announces came before it, as `message` frames
  });

  /* ---------- the conversation list ---------- */

  // Active ones keep a stable order (raised first, then oldest first) so items only move
  // when a conversation is raised; closed ones show the latest first. A closed one still
  // waiting for its qualification (casework.js) is "À qualifier" and cannot be removed.
  function sortedConversations() {
    const active = [];
    const toQualify = [];
    const closed = [];
    state.conversations.forEach((conv) => {
      if (app.mustQualify?.(conv)) toQualify.push(conv);
      else if (!state.hidden.has(conv.id)) (conv.state === 'closed' ? closed : active).push(conv);
    });
    active.sort((a, b) => (b.priority || 0) - (a.priority || 0) || a.opened_at - b.opened_at);
    const last = (c) => c.last_message_at || c.opened_at;
    closed.sort((a, b) => last(b) - last(a));
    toQualify.sort((a, b) => last(b) - last(a));
    return { active, toQualify, closed };
  }

  function renderList() {
    const focused = app.focusKey(el.conversations, '.conv-item');
    const { active, toQualify, closed } = sortedConversations();
    el.convActive.replaceChildren(...active.map(renderItem));
    el.convQualify.replaceChildren(...toQualify.map(renderItem));
    el.convClosed.replaceChildren(...closed.map(renderItem));
    el.convEmpty.hidden = active.length > 0;
    el.convQualifyTitle.hidden = toQualify.length === 0;
    el.convClosedTitle.hidden = closed.length === 0;
    app.restoreFocus(el.conversations, focused);
    renderListToggle(active.length);
    app.emit('list');
    updateTitle();
  }
  app.renderList = renderList;

  // Narrow screens (200 % zoom): the list is a toggle above the conversation, folded while
  // one is open so the lines and the reply box keep the height (console.css).
  function showList(shown) {
    state.listShown = shown;
    el.viewConversations.dataset.list = shown ? 'shown' : 'folded';
    el.sidebarToggle.setAttribute('aria-expanded', String(shown));
  }
  app.showList = showList;

  function renderListToggle(activeCount) {
    app.setText(el.sidebarToggleText, 'Mes conversations (' + activeCount + ')');
    let unread = 0;
    state.unread.forEach((n) => { unread += n; });
    el.sidebarUnread.hidden = unread === 0;
    app.setText(el.sidebarUnread, unread > 0 ? unread + (unread > 1 ? ' nouveaux' : ' nouveau') : '');
  }

  function renderItem(conv) {
    const closed = conv.state === 'closed';
    const unread = state.unread.get(conv.id) || 0;
    const win = app.replyWindow(conv);
    const li = make('li', 'conv-item');
    li.dataset.id = conv.id;
    li.dataset.state = conv.state;
    if (win) li.dataset.window = win;
    li.classList.toggle('is-open', conv.id === state.openId);
    li.classList.toggle('is-new', state.fresh.has(conv.id));
    const left = !closed && conv.teen_left === true;
    li.classList.toggle('is-waiting', !closed && !left && conv.waiting_since != null);
    li.classList.toggle('is-raised', !closed && conv.priority > 0);
    li.classList.toggle('is-left', left);
    setWaitLevel(li, conv);

    const open = button('conv-open');
    open.dataset.role = 'open';
    if (conv.id === state.openId) open.setAttribute('aria-current', 'true');
    const top = make('span', 'conv-top');
    top.append(make('span', 'conv-name', conv.alias));
    if (app.windowSoon(conv)) {
      const soon = make('span', 'conv-soon', '⏳');
      soon.title = 'Fenêtre bientôt fermée';
      soon.setAttribute('role', 'img');
      soon.setAttribute('aria-label', soon.title);
      top.append(soon);
    }
    if (unread > 0) {
      top.append(make('span', 'badge', unread));
      top.append(make('span', 'visually-hidden', unread > 1 ? ' nouveaux messages' : ' nouveau message'));
    }
    open.append(top);
    if (!closed && conv.priority > 0) open.append(make('span', 'conv-priority', app.priorityText(conv)));
    if (!closed && conv.required_skill) open.append(make('span', 'conv-skill', app.skillText(conv)));
    const preview = previewOf(conv);
    if (preview) open.append(make('span', 'conv-preview', preview));
    const meta = make('span', 'conv-meta');
    meta.append(make('span', 'conv-channel', app.channelLabel(conv.channel)), make('span', 'conv-wait', waitText(conv)));
    open.append(meta);
    li.append(open);
    if (left) {
      const end = button('btn btn-danger-quiet btn-small conv-end', 'Clore', 'Clore la conversation avec ' + conv.alias + ' (a quitté le tchat)');
      end.dataset.role = 'end';
      li.append(end);
    }
    if (closed && !app.mustQualify?.(conv)) {
      const remove = button('conv-remove', '×', 'Retirer ' + conv.alias + ' de la liste');
      remove.dataset.role = 'remove';
      li.append(remove);
    }
    app.emit('item', li, conv); // casework.js: the qualification state
    return li;
  }

  const PREVIEW_PREFIX = { counsellor: 'Vous : ', note: 'Note : ', system: 'Auto : ' };

  // One line: who spoke last and the start of it (the stylesheet adds the ellipsis).
  function previewOf(conv) {
    const line = conv.last_line;
    if (!line || typeof line.text !== 'string' || !line.text) return '';
    return (PREVIEW_PREFIX[line.from] || '') + line.text.replace(/\s+/g, ' ');
  }

  function waitText(conv) {
    if (conv.state === 'closed') return 'terminée';
    if (conv.teen_left === true) return 'a quitté le tchat';
    if (conv.waiting_since == null) return 'répondu';
    const level = waitLevel(conv);
    const since = app.formatWait(app.serverNow() - conv.waiting_since);
    if (level === 'red') return 'très longue attente · ' + since;
    return (level === 'orange' ? 'longue attente · ' : 'attend depuis ') + since;
  }

  // How long the teen has waited for an answer, in four steps (the colour repeats the words).
  const WAIT_LEVELS = [[5 * 60000, 'red'], [3 * 60000, 'orange'], [60000, 'amber'], [0, 'calm']];
  function waitLevel(conv) {
    if (conv.state === 'closed' || conv.teen_left === true || conv.waiting_since == null) return null;
    const waited = Math.max(0, app.serverNow() - conv.waiting_since); // the page's clock may lag the server's
    return WAIT_LEVELS.find(([from]) => waited >= from)[1];
  }

  function setWaitLevel(li, conv) {
    const level = waitLevel(conv);
    WAIT_LEVELS.forEach(([, name]) => li.classList.toggle('wait-' + name, name === level));
  }

  function onListClick(event) {
    const item = event.target.closest('.conv-item');
    if (!item) return;
    if (event.target.closest('.conv-remove')) removeFromView(item.dataset.id);
    else if (event.target.closest('.conv-end')) app.pane.closeNow(item.dataset.id);
    else app.pane.open(item.dataset.id);
  }

  function removeFromView(id) {
    state.hidden.add(id);
    state.unread.delete(id);
    state.drafts.delete(id);
    if (id === state.openId) app.pane.close();
    renderList();
  }

  // Once a second: waiting times, reply windows, the title, replies nobody acknowledged.
  // The list is rebuilt only when a window changes (opens, nearly closes, closes).
  function tick() {
    let stale = false;
    el.conversations.querySelectorAll('.conv-item').forEach((li) => {
      const conv = state.conversations.get(li.dataset.id);
      if (!conv) return;
      app.setText(li.querySelector('.conv-wait'), waitText(conv));
      setWaitLevel(li, conv);
      stale = stale || (li.dataset.window || null) !== app.replyWindow(conv)
        || !!li.querySelector('.conv-soon') !== app.windowSoon(conv);
    });
    if (stale) renderList(); else updateTitle();
    app.emit('tick');
  }

  function updateTitle() {
    const waiting = Array.from(state.conversations.values())
      .filter((c) => c.state !== 'closed' && c.waiting_since != null).length;
    document.title = waiting > 0 ? '(' + waiting + ') ' + TITLE : TITLE;
  }

  /* ---------- top bar and notices ---------- */

  function renderMe() {
    if (!state.me) return;
    el.meName.textContent = state.me.display_name || state.me.username || '';
    el.supervisionLink.hidden = !['supervisor', 'admin'].includes(state.me.role); // its own page (H6)
    el.presence.value = state.me.presence;
    el.presence.disabled = !state.connected;
    app.emit('me');
  }

  // The server echoes a `presence` frame to every tab; that frame sets the select for good.
  // The select's change (with its question when conversations are held) is in leaving.js.
  app.sendPresence = (presence) => {
    if (!app.send({ type: 'presence', presence })) {
      showNotice('Hors connexion : statut non modifié.');
      renderMe();
    }
  };

  // kind "error" (default) interrupts screen readers; "info" (a transfer done) waits its turn.
  function showNotice(text, kind) {
    const info = kind === 'info';
    const notice = make('div', info ? 'notice notice-info' : 'notice');
    notice.setAttribute('role', info ? 'status' : 'alert');
    notice.append(make('span', 'notice-text', text), button('notice-close', '×', 'Fermer ce message'));
    el.notices.append(notice);
    while (el.notices.children.length > MAX_NOTICES) el.notices.firstElementChild.remove();
  }
  app.showNotice = showNotice;

  function onNoticesClick(event) {
    const dismiss = event.target.closest('.notice-close');
    if (dismiss) dismiss.closest('.notice').remove();
  }

  /* ---------- wiring ---------- */

  function bindEvents() {
    el.loginForm.addEventListener('submit', onLoginSubmit);
    el.sidebarToggle.addEventListener('click', () => showList(!state.listShown));
    el.conversations.addEventListener('click', onListClick);
    el.notices.addEventListener('click', onNoticesClick);
    app.emit('bind');
  }

  // Deferred scripts have all run by DOMContentLoaded: every part is registered by then.
  document.addEventListener('DOMContentLoaded', () => {
    bindElements();
    resetState();
    bindEvents();
    boot();
  });
})();
