/*
 * Console 3018: the counsellors' page. Speaks docs/protocol.md, section "Console".
 *
 * One state object, small functions, no framework. Every text that comes from the
 * server is rendered with textContent: a teen's message is plain text, never HTML.
 */
(() => {
  'use strict';

  const CHANNELS = { web: 'Tchat web', messenger: 'Messenger', whatsapp: 'WhatsApp' };
  const TITLE = 'Console 3018';
  const MAX_REPLY = 2000;
  const TYPING_EVERY_MS = 2000;    // at most one typing:true frame per 2 s
  const TYPING_IDLE_MS = 3000;     // typing:false after 3 s without a keystroke
  const TEEN_TYPING_MAX_MS = 8000; // hide "écrit…" if the active:false frame never comes
  const ACK_TIMEOUT_MS = 15000;    // a reply unacknowledged this long is shown as failed
  const BACKOFF_MIN_MS = 1000;
  const BACKOFF_MAX_MS = 15000;
  const MAX_NOTICES = 3;
  const UNREACHABLE = 'Impossible de joindre le serveur. Vérifiez la connexion puis réessayez.';

  // Delivery of our messages on Messenger/WhatsApp. States only move forward; read and
  // failed are final (gateway/model.py, Delivery.advance).
  const DELIVERY_LABELS = { pending: 'envoi…', sent: 'envoyé', delivered: 'distribué', read: 'lu', failed: 'Non délivré' };
  const DELIVERY_RANK = { pending: 0, sent: 1, delivered: 2, read: 3, failed: 4 };

  // Meta's reply windows (gateway/windows.py): free replies for 24 h after the teen's last
  // message; Messenger then allows 6 more days with the HUMAN_AGENT tag.
  const HOUR_MS = 3600 * 1000;
  const DAY_MS = 24 * HOUR_MS;
  const HUMAN_AGENT_MS = 6 * DAY_MS; // after window_closes_at, i.e. 7 days after the teen wrote
  const WINDOW_ORDER = ['open', 'human_agent', 'closed'];
  const HUMAN_AGENT_TEXT = 'Plus de 24 h : réponse possible 7 jours (étiquette « agent humain »)';
  const WINDOW_CLOSED_TEXT = {
    whatsapp: 'Fenêtre fermée : ce jeune ne peut plus recevoir de message libre sur WhatsApp. Il doit réécrire en premier.',
    messenger: 'Fenêtre fermée : ce jeune ne peut plus recevoir de message libre sur Messenger (plus de 7 jours). Il doit réécrire en premier.',
  };

  const state = {};

  function resetState() {
    if (state.teenTyping) state.teenTyping.forEach((timer) => clearTimeout(timer));
    if (state.typingOut) clearTimeout(state.typingOut.idleTimer);
    Object.assign(state, {
      me: null,
      clockOffset: 0,           // server_time - Date.now(), measured at each init
      conversations: new Map(), // id -> ConsoleConv
      unread: new Map(),        // id -> lines received while it was not open
      fresh: new Set(),         // ids assigned while the page was open, not opened yet
      hidden: new Set(),        // closed ids the counsellor removed from view
      drafts: new Map(),        // id -> unsent text, kept when switching conversations
      openId: null,
      thread: new Map(),        // seq -> MessageView of the open conversation
      early: new Map(),         // seq -> delivery frame that came before its line (open conv.)
      pending: new Map(),       // client_id -> {conversationId, text, sentAt, failed}
      teenTyping: new Map(),    // conversation id -> timer hiding a stale indicator
      typingOut: { convId: null, active: false, lastSentAt: 0, idleTimer: null },
      ws: null,
      connected: false,         // true from init until the socket closes
      initialised: false,       // an init arrived at least once since login
      stopped: true,            // true: do not reconnect (logged out)
      attempt: 0,
      reconnectTimer: null,
      ticker: null,
    });
  }

  // Elements by id, camel-cased: "reply-input" -> el.replyInput.
  const el = {};
  function bindElements() {
    document.querySelectorAll('[id]').forEach((node) => {
      el[node.id.replace(/-(\w)/g, (_, c) => c.toUpperCase())] = node;
    });
  }

  function make(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function button(className, text, label) {
    const node = make('button', className, text);
    node.type = 'button';
    if (label) node.setAttribute('aria-label', label);
    return node;
  }

  const serverNow = () => Date.now() + state.clockOffset;
  const channelLabel = (channel) => CHANNELS[channel] || String(channel || '');
  const isClosed = (id) => !state.conversations.has(id) || state.conversations.get(id).state === 'closed';
  const canReply = (id) => !isClosed(id) && replyWindow(state.conversations.get(id)) !== 'closed';
  const byAttr = (name, value) => '[' + name + '="' + CSS.escape(String(value)) + '"]';

  function randomId() {
    const bytes = crypto.getRandomValues(new Uint8Array(16)); // randomUUID needs https
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function formatWait(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + ' s';
    const m = Math.floor(s / 60);
    if (m < 60) return m + ' min ' + (s % 60) + ' s';
    return Math.floor(m / 60) + ' h ' + String(m % 60).padStart(2, '0') + ' min';
  }

  function waitText(conv) {
    if (conv.state === 'closed') return 'terminée';
    if (conv.waiting_since == null) return 'répondu';
    return 'attend depuis ' + formatWait(serverNow() - conv.waiting_since);
  }

  // The reply window now: null for the widget. The server's `window` was right when sent and
  // time only pushes it towards "closed", so keep the later of it and the clock's verdict.
  function replyWindow(conv) {
    if (!conv || !conv.window || conv.channel === 'web') return null;
    if (conv.window_closes_at == null) return conv.window;
    const late = serverNow() - conv.window_closes_at;
    const byClock = late < 0 ? 'open'
      : conv.channel === 'messenger' && late < HUMAN_AGENT_MS ? 'human_agent' : 'closed';
    return WINDOW_ORDER[Math.max(WINDOW_ORDER.indexOf(conv.window), WINDOW_ORDER.indexOf(byClock))];
  }

  const windowLeft = (conv) => conv.window_closes_at - serverNow();
  const windowSoon = (conv) => conv.state !== 'closed' && replyWindow(conv) === 'open'
    && conv.window_closes_at != null && windowLeft(conv) < HOUR_MS;

  const formatClock = (at) => new Date(at).toLocaleTimeString('fr-FR', { hour: '2-digit', minute: '2-digit' });

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

  function logoutFailed(text) {
    showNotice(text);
    state.stopped = false;
    if (!state.ws) onSocketClosed(); // the socket went meanwhile: resume reconnecting
  }

  function setLoginError(text) {
    el.loginError.textContent = text;
    el.loginError.hidden = !text;
  }

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
    renderPane();
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

  /* ---------- WebSocket ---------- */

  function connect() {
    if (state.stopped) return;
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(scheme + '//' + location.host + '/ws/console');
    state.ws = ws;
    ws.onmessage = (event) => { if (ws === state.ws) onFrame(event.data); };
    ws.onclose = () => { if (ws === state.ws) onSocketClosed(); };
  }

  function onSocketClosed() {
    state.ws = null;
    state.connected = false;
    state.typingOut.active = false;
    clearTimeout(state.typingOut.idleTimer);
    Array.from(state.teenTyping.keys()).forEach((id) => setTeenTyping(id, false));
    if (state.stopped) return;
    el.connectionBanner.hidden = false;
    el.presence.disabled = true;
    // Capped exponential backoff with jitter, so that every console does not return at once.
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** state.attempt);
    state.attempt += 1;
    state.reconnectTimer = setTimeout(reconnect, ceiling / 2 + Math.random() * ceiling / 2);
  }

  // A refused upgrade (session expired, logout in another tab) only shows as close code
  // 1006, so ask /me before each attempt: 401 means "back to the login form".
  async function reconnect() {
    if (state.stopped) return;
    try {
      const res = await api('GET', '/api/console/me');
      if (state.stopped) return;
      if (res.status === 401) { stopApp(); showLogin('Votre session a expiré. Reconnectez-vous.'); return; }
      connect();
    } catch (e) {
      if (!state.stopped) onSocketClosed();
    }
  }

  function send(frame) {
    if (!state.connected || !state.ws || state.ws.readyState !== WebSocket.OPEN) return false;
    state.ws.send(JSON.stringify(frame));
    return true;
  }

  function onFrame(data) {
    let frame;
    try { frame = JSON.parse(data); } catch (e) { return; }
    const handler = frame && HANDLERS[frame.type];
    if (handler) handler(frame); // unknown frame types are ignored
  }

  /* ---------- server frames ---------- */

  function onInit(frame) {
    const firstInit = !state.initialised;
    const before = state.conversations;
    const wasOpen = before.get(state.openId);
    state.clockOffset = frame.server_time - Date.now();
    state.me = frame.me;
    state.conversations = new Map();
    for (const conv of frame.conversations || []) {
      state.conversations.set(conv.id, conv);
      if (!firstInit && !before.has(conv.id) && conv.state !== 'closed') state.fresh.add(conv.id);
    }
    Object.assign(state, { initialised: true, connected: true, attempt: 0 });
    el.connectionBanner.hidden = true;
    renderMe();
    reopenAfterInit(wasOpen);
    flushPending();
    renderList();
  }

  // Lines may have been missed while disconnected: ask the open conversation's history again.
  // A conversation missing from init is gone from this console (closed, or moved away).
  function reopenAfterInit(wasOpen) {
    if (!state.openId) return;
    if (state.conversations.has(state.openId)) {
      send({ type: 'open', conversation_id: state.openId });
      renderPane();
      return;
    }
    if (wasOpen && wasOpen.state !== 'closed') showNotice('La conversation ouverte ne vous est plus attribuée.');
    closePane();
  }

  function onConversation(frame) {
    const conv = frame.conversation;
    if (!conv || !conv.id) return;
    if (!state.conversations.has(conv.id) && conv.state !== 'closed') state.fresh.add(conv.id);
    state.conversations.set(conv.id, conv);
    if (conv.state === 'closed') onClosed(conv.id);
    renderList();
    if (conv.id === state.openId) renderPaneHead();
  }

  function onClosed(id) {
    state.fresh.delete(id);
    setTeenTyping(id, false);
    if (state.typingOut.convId === id) stopTyping();
    state.pending.forEach((p) => { if (p.conversationId === id) p.failed = true; });
    if (id === state.openId) renderMessages();
  }

  function onHistory(frame) {
    if (frame.conversation_id !== state.openId) return; // the counsellor moved on meanwhile
    for (const m of frame.messages || []) keep(m);
    renderMessages();
    scrollToEnd();
  }

  function onMessage(frame) {
    const id = frame.conversation_id;
    const m = frame.message;
    const conv = state.conversations.get(id);
    if (!conv || !m) return;
    if (id === state.openId && state.thread.has(m.seq)) return; // already shown
    if (m.from === 'teen') {
      setTeenTyping(id, false);
      // Keep the waiting time and the reply window honest until a fresh ConsoleConv comes.
      if (conv.waiting_since == null) conv.waiting_since = m.at;
      if (conv.window) Object.assign(conv, { window: 'open', window_closes_at: m.at + DAY_MS });
    }
    conv.last_message_at = m.at;
    if (id === state.openId) {
      const stick = nearBottom();
      insertMessage(renderMessage(keep(m)));
      if (stick) scrollToEnd();
      renderWindow();
    } else {
      state.unread.set(id, (state.unread.get(id) || 0) + 1);
    }
    renderList();
  }

  function onAck(frame) {
    const m = frame.message;
    state.pending.delete(frame.client_id);
    const node = el.messages.querySelector('.msg.pending' + byAttr('data-client-id', frame.client_id));
    if (node) node.remove();
    const conv = state.conversations.get(frame.conversation_id);
    if (conv && m) Object.assign(conv, { waiting_since: null, last_message_at: m.at });
    if (m && frame.conversation_id === state.openId && !state.thread.has(m.seq)) {
      insertMessage(renderMessage(keep(m)));
      scrollToEnd();
    }
    renderList();
  }

  // A receipt for a line not shown yet (its history is on the way) waits in `early`.
  function onDelivery(frame) {
    if (frame.conversation_id !== state.openId) return; // `open` brings the state later
    const m = state.thread.get(frame.seq);
    if (!m) {
      if (advances(state.early.get(frame.seq)?.delivery, frame.delivery)) state.early.set(frame.seq, frame);
    } else if (applyDelivery(m, frame)) {
      const node = el.messages.querySelector('.msg' + byAttr('data-seq', m.seq));
      if (node) showDelivery(node, m);
    }
  }

  // Mirrors the server (Delivery.advance): forward only; read and failed are final.
  function advances(from, to) {
    if (!Object.hasOwn(DELIVERY_RANK, to) || from === 'read' || from === 'failed') return false;
    return DELIVERY_RANK[to] > (DELIVERY_RANK[from] ?? -1);
  }

  function applyDelivery(m, update) {
    if (!update || !advances(m.delivery, update.delivery)) return false;
    Object.assign(m, { delivery: update.delivery, delivery_error: update.delivery_error ?? null });
    return true;
  }

  // Stores a line of the open conversation. A history read just before a receipt must not
  // move its delivery back, so the most advanced known state wins.
  function keep(m) {
    const line = Object.assign({}, m);
    applyDelivery(line, state.thread.get(m.seq));
    applyDelivery(line, state.early.get(m.seq));
    state.early.delete(m.seq);
    state.thread.set(m.seq, line);
    return line;
  }

  function setTeenTyping(id, active) {
    clearTimeout(state.teenTyping.get(id));
    state.teenTyping.delete(id);
    if (active) state.teenTyping.set(id, setTimeout(() => setTeenTyping(id, false), TEEN_TYPING_MAX_MS));
    if (id === state.openId) renderTyping();
  }

  // An error names no frame (no client_id, no conversation_id): show it, release the
  // one button we lock while waiting, and let the ack timeout mark lost replies.
  function onError(frame) {
    showNotice(frame.message || 'Action refusée.');
    el.closeConversation.disabled = false;
  }

  const HANDLERS = {
    init: onInit,
    conversation: onConversation,
    history: onHistory,
    message: onMessage,
    ack: onAck,
    delivery: onDelivery,
    typing: (f) => setTeenTyping(f.conversation_id, !!f.active),
    presence: (f) => { state.me.presence = f.presence; renderMe(); },
    error: onError,
  };

  /* ---------- the conversation list ---------- */

  function sortedConversations() {
    const active = [];
    const closed = [];
    state.conversations.forEach((conv) => {
      if (!state.hidden.has(conv.id)) (conv.state === 'closed' ? closed : active).push(conv);
    });
    // Active ones keep a stable order (oldest first) so items never jump under the pointer.
    active.sort((a, b) => a.opened_at - b.opened_at);
    const last = (c) => c.last_message_at || c.opened_at;
    closed.sort((a, b) => last(b) - last(a));
    return { active, closed };
  }

  function renderList() {
    const focused = focusedItem();
    const { active, closed } = sortedConversations();
    el.convActive.replaceChildren(...active.map(renderItem));
    el.convClosed.replaceChildren(...closed.map(renderItem));
    el.convEmpty.hidden = active.length > 0;
    el.convClosedTitle.hidden = closed.length === 0;
    if (focused) el.conversations.querySelector(focused)?.focus();
    updateTitle();
  }

  function renderItem(conv) {
    const closed = conv.state === 'closed';
    const unread = state.unread.get(conv.id) || 0;
    const win = replyWindow(conv);
    const li = make('li', 'conv-item');
    li.dataset.id = conv.id;
    li.dataset.state = conv.state;
    if (win) li.dataset.window = win;
    li.classList.toggle('is-open', conv.id === state.openId);
    li.classList.toggle('is-new', state.fresh.has(conv.id));
    li.classList.toggle('is-waiting', !closed && conv.waiting_since != null);

    const open = button('conv-open');
    if (conv.id === state.openId) open.setAttribute('aria-current', 'true');
    const top = make('span', 'conv-top');
    top.append(make('span', 'conv-name', conv.alias));
    if (windowSoon(conv)) {
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
    const meta = make('span', 'conv-meta');
    meta.append(make('span', 'conv-channel', channelLabel(conv.channel)), make('span', 'conv-wait', waitText(conv)));
    open.append(top, meta);
    li.append(open);
    if (closed) li.append(button('conv-remove', '×', 'Retirer ' + conv.alias + ' de la liste'));
    return li;
  }

  // The list is rebuilt on every change: put keyboard focus back where it was.
  function focusedItem() {
    const item = document.activeElement?.closest('.conv-item');
    return item && '.conv-item' + byAttr('data-id', item.dataset.id) + ' .' + document.activeElement.className;
  }

  function onListClick(event) {
    const item = event.target.closest('.conv-item');
    if (!item) return;
    if (event.target.closest('.conv-remove')) removeFromView(item.dataset.id);
    else openConversation(item.dataset.id);
  }

  function removeFromView(id) {
    state.hidden.add(id);
    state.unread.delete(id);
    state.drafts.delete(id);
    if (id === state.openId) closePane();
    renderList();
  }

  // Once a second: waiting times, reply windows, the title, replies nobody acknowledged.
  // The list is rebuilt only when a window changes (opens, nearly closes, closes).
  function tick() {
    let stale = false;
    el.conversations.querySelectorAll('.conv-item').forEach((li) => {
      const conv = state.conversations.get(li.dataset.id);
      if (!conv) return;
      li.querySelector('.conv-wait').textContent = waitText(conv);
      stale = stale || (li.dataset.window || null) !== replyWindow(conv)
        || !!li.querySelector('.conv-soon') !== windowSoon(conv);
    });
    if (stale) renderList(); else updateTitle();
    renderWindow();
    expirePending();
  }

  function updateTitle() {
    const waiting = Array.from(state.conversations.values())
      .filter((c) => c.state !== 'closed' && c.waiting_since != null).length;
    document.title = waiting > 0 ? '(' + waiting + ') ' + TITLE : TITLE;
  }

  /* ---------- the open conversation ---------- */

  function openConversation(id) {
    if (!state.conversations.has(id)) return;
    if (id !== state.openId) {
      saveDraft();
      stopTyping();
      state.openId = id;
      clearThread();
      el.replyInput.value = state.drafts.get(id) || '';
      send({ type: 'open', conversation_id: id }); // offline: sent by reopenAfterInit
    }
    state.unread.delete(id);
    state.fresh.delete(id);
    renderList();
    renderPane();
    if (canReply(id)) el.replyInput.focus();
  }

  function closePane() {
    saveDraft();
    stopTyping();
    state.openId = null;
    clearThread();
    renderPane();
  }

  function clearThread() {
    state.thread = new Map();
    state.early = new Map();
  }

  function saveDraft() {
    if (!state.openId) return;
    if (el.replyInput.value) state.drafts.set(state.openId, el.replyInput.value);
    else state.drafts.delete(state.openId);
  }

  function renderPane() {
    const open = !!state.openId;
    el.paneEmpty.hidden = open;
    el.paneBody.hidden = !open;
    el.closeBox.hidden = true;
    if (!open) { el.messages.textContent = ''; el.replyInput.value = ''; return; }
    renderPaneHead();
    renderMessages();
    renderTyping();
    updateCounter();
  }

  function renderPaneHead() {
    const conv = state.conversations.get(state.openId);
    if (!conv) return;
    const closed = conv.state === 'closed';
    el.convAlias.textContent = conv.alias;
    el.convChannel.textContent = channelLabel(conv.channel);
    el.closeConversation.hidden = closed;
    el.closeConversation.disabled = false;
    el.convClosedNote.hidden = !closed;
    if (closed) el.closeBox.hidden = true;
    renderWindow();
  }

  // Messenger/WhatsApp: the countdown in the header, the notice shown above the reply box
  // before anyone types, and whether the reply box is usable at all.
  function renderWindow() {
    const conv = state.conversations.get(state.openId);
    if (!conv) return;
    const win = conv.state === 'closed' ? null : replyWindow(conv);
    el.windowStatus.hidden = !win;
    if (win) {
      el.windowStatus.dataset.window = win;
      el.windowStatus.classList.toggle('is-soon', windowSoon(conv));
      setText(el.windowStatus, windowText(conv, win));
    }
    el.windowClosed.hidden = win !== 'closed';
    setText(el.windowClosed, win === 'closed' ? WINDOW_CLOSED_TEXT[conv.channel] || WINDOW_CLOSED_TEXT.whatsapp : '');
    const locked = !canReply(conv.id);
    if (locked) stopTyping();
    if (locked !== el.replyInput.disabled && state.pending.size) renderMessages(); // "Renvoyer" buttons
    el.replyInput.disabled = locked;
    el.replySend.disabled = locked;
  }

  function windowText(conv, win) {
    if (win === 'human_agent') return HUMAN_AGENT_TEXT;
    if (win === 'closed') return 'Fenêtre fermée';
    if (conv.window_closes_at == null) return 'Fenêtre de réponse ouverte';
    return 'Fenêtre de réponse : encore ' + formatWait(windowLeft(conv));
  }

  // Re-setting the same text would make screen readers announce it again, every second.
  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  function renderMessages() {
    const nodes = Array.from(state.thread.values()).sort((a, b) => a.seq - b.seq).map(renderMessage);
    state.pending.forEach((p, clientId) => {
      if (p.conversationId === state.openId) nodes.push(renderPending(clientId, p));
    });
    el.messages.replaceChildren(...nodes);
  }

  function authorLabel(m) {
    if (m.from === 'teen') return state.conversations.get(state.openId)?.alias || 'Jeune';
    if (m.from === 'system') return 'Message automatique';
    return m.author || 'Écoutant';
  }

  function messageNode(from, author, text) {
    const kind = from === 'teen' || from === 'counsellor' ? from : 'system';
    const li = make('li', 'msg msg-' + kind);
    li.dataset.from = from;
    const meta = make('div', 'msg-meta');
    meta.append(make('span', 'msg-author', author));
    li.append(meta, make('p', 'msg-text', text));
    return li;
  }

  function renderMessage(m) {
    const li = messageNode(m.from, authorLabel(m), m.text);
    li.dataset.seq = String(m.seq);
    const time = make('time', 'msg-time', formatClock(m.at));
    time.dateTime = new Date(m.at).toISOString();
    li.firstChild.append(time);
    if (m.delivery && m.from !== 'teen') showDelivery(li, m);
    return li;
  }

  // The check marks come from the stylesheet (by data-delivery): the text is words only.
  function showDelivery(li, m) {
    li.dataset.delivery = m.delivery;
    const status = li.querySelector('.delivery') || li.appendChild(make('p', 'delivery'));
    // The server's reason may already start with "non délivré :": say it once.
    const reason = m.delivery === 'failed' ? String(m.delivery_error || '').replace(/^\s*non délivré\s*[:—–-]?\s*/i, '') : '';
    status.textContent = DELIVERY_LABELS[m.delivery] + (reason ? ' — ' + reason : '');
  }

  function renderPending(clientId, p) {
    const li = messageNode('counsellor', state.me ? state.me.display_name : 'Vous', p.text);
    li.classList.add('pending');
    li.classList.toggle('failed', p.failed);
    li.dataset.seq = '';
    li.dataset.clientId = clientId;
    const id = p.conversationId;
    const why = isClosed(id) ? 'non envoyé (conversation terminée)'
      : !canReply(id) ? 'non envoyé (fenêtre fermée)' : 'non confirmé';
    li.firstChild.append(make('span', 'msg-status', p.failed ? why : 'envoi…'));
    if (p.failed && canReply(id)) li.firstChild.append(button('btn btn-link msg-retry', 'Renvoyer'));
    return li;
  }

  // Confirmed lines stay in seq order whatever order they arrive in; pending ones stay last.
  function insertMessage(node) {
    const seq = Number(node.dataset.seq);
    const after = Array.from(el.messages.children)
      .find((child) => child.classList.contains('pending') || Number(child.dataset.seq) > seq);
    el.messages.insertBefore(node, after || null);
  }

  const nearBottom = () => el.messages.scrollHeight - el.messages.scrollTop - el.messages.clientHeight < 80;
  const scrollToEnd = () => { el.messages.scrollTop = el.messages.scrollHeight; };

  function renderTyping() {
    const conv = state.conversations.get(state.openId);
    const active = !!conv && state.teenTyping.has(conv.id);
    el.typing.hidden = !active;
    el.typing.textContent = active ? conv.alias + ' écrit…' : '';
  }

  /* ---------- replying ---------- */

  function onReplySubmit(event) {
    event.preventDefault();
    const id = state.openId;
    const text = el.replyInput.value.trim();
    if (!id || !canReply(id) || !text) return;
    if (text.length > MAX_REPLY) { showNotice('Le message dépasse ' + MAX_REPLY + ' caractères.'); return; }
    stopTyping();
    const clientId = randomId();
    const p = { conversationId: id, text, sentAt: 0, failed: false };
    state.pending.set(clientId, p);
    sendReply(clientId, p);
    el.replyInput.value = '';
    state.drafts.delete(id);
    updateCounter();
    el.messages.append(renderPending(clientId, p));
    scrollToEnd();
  }

  // Offline, the reply waits in `pending`: flushPending sends it after the next init.
  function sendReply(clientId, p) {
    p.sentAt = Date.now();
    send({ type: 'reply', conversation_id: p.conversationId, client_id: clientId, text: p.text });
  }

  // Re-sent with the same client_id: it is the key that lets the server drop a copy it
  // already stored before the connection dropped (see the widget's `message` frame).
  function flushPending() {
    state.pending.forEach((p, clientId) => {
      if (p.failed) return;
      if (isClosed(p.conversationId)) p.failed = true;
      else sendReply(clientId, p);
    });
    if (state.openId) renderMessages();
  }

  function expirePending() {
    if (!state.connected) return;
    let changed = false;
    state.pending.forEach((p) => {
      if (!p.failed && Date.now() - p.sentAt > ACK_TIMEOUT_MS) { p.failed = true; changed = true; }
    });
    if (changed && state.openId) renderMessages();
  }

  function onMessagesClick(event) {
    const clientId = event.target.closest('.msg-retry') && event.target.closest('.msg').dataset.clientId;
    const p = clientId && state.pending.get(clientId);
    if (p && canReply(p.conversationId)) { p.failed = false; sendReply(clientId, p); renderMessages(); }
  }

  function onReplyKeydown(event) {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) onReplySubmit(event);
  }

  function onReplyInput() {
    updateCounter();
    const id = state.openId;
    if (!id || !canReply(id)) return;
    if (!el.replyInput.value) { stopTyping(); return; }
    const t = state.typingOut;
    const now = Date.now();
    if (now - t.lastSentAt >= TYPING_EVERY_MS && send({ type: 'typing', conversation_id: id, active: true })) {
      Object.assign(t, { lastSentAt: now, active: true, convId: id });
    }
    clearTimeout(t.idleTimer);
    t.idleTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  function stopTyping() {
    const t = state.typingOut;
    clearTimeout(t.idleTimer);
    t.idleTimer = null;
    if (t.active) send({ type: 'typing', conversation_id: t.convId, active: false });
    t.active = false;
  }

  function updateCounter() {
    const n = el.replyInput.value.length;
    el.replyCount.textContent = n + ' / ' + MAX_REPLY;
    el.replyCount.classList.toggle('near-limit', n > MAX_REPLY * 0.9);
  }

  /* ---------- closing a conversation ---------- */

  function askClose() {
    const conv = state.conversations.get(state.openId);
    if (!conv || conv.state === 'closed') return;
    el.closeQuestion.textContent = 'Clore la conversation avec ' + conv.alias + ' ? Le jeune en sera informé.';
    el.closeBox.hidden = false;
    el.closeConfirm.focus();
  }

  function confirmClose() {
    const id = state.openId;
    el.closeBox.hidden = true;
    if (!id || isClosed(id)) return;
    if (send({ type: 'close', conversation_id: id })) {
      stopTyping();
      el.closeConversation.disabled = true; // released by the `conversation` or `error` frame
    } else {
      showNotice('Hors connexion : la conversation n’a pas été close. Réessayez après la reconnexion.');
    }
  }

  function cancelClose() {
    el.closeBox.hidden = true;
    el.closeConversation.focus();
  }

  /* ---------- top bar and notices ---------- */

  function renderMe() {
    if (!state.me) return;
    el.meName.textContent = state.me.display_name || state.me.username || '';
    el.presence.value = state.me.presence;
    el.presence.disabled = !state.connected;
  }

  // The server echoes a `presence` frame to every tab; that frame sets the select for good.
  function onPresenceChange() {
    if (!send({ type: 'presence', presence: el.presence.value })) {
      showNotice('Hors connexion : statut non modifié.');
      renderMe();
    }
  }

  function showNotice(text) {
    const notice = make('div', 'notice');
    notice.setAttribute('role', 'alert');
    notice.append(make('span', 'notice-text', text), button('notice-close', '×', 'Fermer ce message'));
    el.notices.append(notice);
    while (el.notices.children.length > MAX_NOTICES) el.notices.firstElementChild.remove();
  }

  function onNoticesClick(event) {
    const dismiss = event.target.closest('.notice-close');
    if (dismiss) dismiss.closest('.notice').remove();
  }

  /* ---------- wiring ---------- */

  function bindEvents() {
    el.loginForm.addEventListener('submit', onLoginSubmit);
    el.logout.addEventListener('click', onLogout);
    el.presence.addEventListener('change', onPresenceChange);
    el.conversations.addEventListener('click', onListClick);
    el.messages.addEventListener('click', onMessagesClick);
    el.notices.addEventListener('click', onNoticesClick);
    el.replyForm.addEventListener('submit', onReplySubmit);
    el.replyInput.addEventListener('keydown', onReplyKeydown);
    el.replyInput.addEventListener('input', onReplyInput);
    el.closeConversation.addEventListener('click', askClose);
    el.closeConfirm.addEventListener('click', confirmClose);
    el.closeCancel.addEventListener('click', cancelClose);
    el.closeBox.addEventListener('keydown', (e) => { if (e.key === 'Escape') cancelClose(); });
  }

  resetState();
  bindElements();
  bindEvents();
  boot();
})();
