/*
 * Console 3018, the open conversation: its lines (teen, counsellor, automatic, internal
 * notes), delivery receipts, the reply box, typing indicators and closing.
 * Exposes app.pane for console.js; registers the history/message/ack/delivery/typing frames.
 */
(() => {
  'use strict';

  const app = window.Console3018;
  const { state, el, make, button, byAttr } = app;

  const TYPING_EVERY_MS = 2000;    // at most one typing:true frame per 2 s
  const TYPING_IDLE_MS = 3000;     // typing:false after 3 s without a keystroke
  const TEEN_TYPING_MAX_MS = 8000; // hide "écrit…" if the active:false frame never comes
  const ACK_TIMEOUT_MS = 15000;    // a reply unacknowledged this long is shown as failed
  const RESEND_MAX_MS = 15000;     // `unavailable`: re-sent by itself, backing off up to this
  const PREVIEW_CHARS = 120;       // as the server's init (console_view.PREVIEW_CHARS)

  // Delivery of our messages on Messenger/WhatsApp. States only move forward; read and
  // failed are final (gateway/model.py, Delivery.advance).
  const DELIVERY_LABELS = { pending: 'envoi…', sent: 'envoyé', delivered: 'distribué', read: 'lu', failed: 'Non délivré' };
  const DELIVERY_RANK = { pending: 0, sent: 1, delivered: 2, read: 3, failed: 4 };

  const HUMAN_AGENT_TEXT = 'Plus de 24 h : réponse possible 7 jours (étiquette « agent humain »)';
  const WINDOW_CLOSED_TEXT = {
    whatsapp: 'Fenêtre fermée : ce jeune ne peut plus recevoir de message libre sur WhatsApp. Il doit réécrire en premier.',
    messenger: 'Fenêtre fermée : ce jeune ne peut plus recevoir de message libre sur Messenger (plus de 7 jours). Il doit réécrire en premier.',
  };

  app.on('reset', () => {
    if (state.teenTyping) state.teenTyping.forEach((timer) => clearTimeout(timer));
    if (state.typingOut) clearTimeout(state.typingOut.idleTimer);
    Object.assign(state, {
      thread: new Map(),        // seq -> MessageView of the open conversation
      early: new Map(),         // seq -> delivery frame that came before its line (open conv.)
      teenTyping: new Map(),    // conversation id -> timer hiding a stale indicator
      typingOut: { convId: null, active: false, lastSentAt: 0, idleTimer: null },
    });
  });

  app.on('disconnected', () => {
    state.typingOut.active = false;
    clearTimeout(state.typingOut.idleTimer);
    Array.from(state.teenTyping.keys()).forEach((id) => setTeenTyping(id, false));
  });

  // Replies not acknowledged yet: client_id -> {conversationId, text, sentAt, failed}.
  const replies = app.requests({
    answer: 'ack',
    key: (frame) => frame.client_id,
    retried: true,
    answered: onAck,
    refused: onReplyRefused,
  });

  // A close asked: the button waits for the `conversation` frame saying "closed".
  const closing = app.requests({
    refused(frame) {
      app.showNotice(frame.message || 'Action refusée.');
      el.closeConversation.disabled = false;
      el.teenLeftClose.disabled = false;
    },
    lost() { el.closeConversation.disabled = false; el.teenLeftClose.disabled = false; },
  });

  // The reply box takes the server's limit, so a paste never goes over it.
  app.on('init', () => {
    const max = app.maxMessageChars();
    if (Number.isFinite(max)) el.replyInput.maxLength = max;
    else el.replyInput.removeAttribute('maxlength');
    if (state.openId) updateCounter();
  });

  app.on('tick', () => {
    renderWindow();
    expirePending();
  });

  // A conversation gone from this console: its unsent replies can never be sent.
  app.on('removed', (id) => {
    setTeenTyping(id, false);
    if (state.typingOut.convId === id) stopTyping();
    closing.take(id);
    replies.forEach((p, clientId) => { if (p.conversationId === id) replies.take(clientId); });
  });

  /* ---------- opening and closing the pane ---------- */

  function openConversation(id) {
    if (!state.conversations.has(id)) return;
    if (id !== state.openId) {
      saveDraft();
      stopTyping();
      state.openId = id;
      clearThread();
      el.replyInput.value = state.drafts.get(id) || '';
      app.send({ type: 'open', conversation_id: id }); // offline: sent by reopenAfterInit
      app.emit('opened', id);
    }
    state.unread.delete(id);
    state.fresh.delete(id);
    app.showList(false);
    app.renderList();
    renderPane();
    if (app.canReply(id)) el.replyInput.focus();
  }

  function closePane() {
    saveDraft();
    stopTyping();
    state.openId = null;
    clearThread();
    renderPane();
    app.showList(true);
    app.emit('opened', null);
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

  function onClosed(id) {
    state.fresh.delete(id);
    setTeenTyping(id, false);
    if (state.typingOut.convId === id) stopTyping();
    const askedHere = closing.take(id) !== undefined;
    replies.forEach((p) => { if (p.conversationId === id) p.failed = true; });
    if (id === state.openId) renderMessages();
    app.emit('closed', id, askedHere); // casework.js: the qualification form
  }

  function renderPane() {
    const open = !!state.openId;
    el.paneEmpty.hidden = open;
    el.paneBody.hidden = !open;
    el.viewConversations.dataset.open = open ? 'yes' : 'no';
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
    el.convChannel.textContent = app.channelLabel(conv.channel);
    el.closeConversation.hidden = closed;
    el.closeConversation.disabled = closing.has(conv.id);
    el.transferOpen.hidden = closed;
    el.convClosedNote.hidden = !closed;
    if (closed) el.closeBox.hidden = true;
    const left = !closed && conv.teen_left === true;
    el.teenLeftNote.hidden = !left;
    app.setText(el.teenLeftText, left ? conv.alias + ' a quitté le tchat.' : '');
    el.teenLeftClose.disabled = closing.has(conv.id);
    el.teenLeftClose.setAttribute('aria-label', 'Clore la conversation avec ' + conv.alias);
    const priority = closed ? '' : app.priorityText(conv);
    const skill = closed ? '' : app.skillText(conv);
    app.setText(el.convPriority, priority);
    app.setText(el.convSkill, skill);
    el.convPriority.hidden = !priority;
    el.convSkill.hidden = !skill;
    renderWindow();
    app.emit('head', conv);
  }

  // Messenger/WhatsApp: the countdown in the header, the notice shown above the reply box
  // before anyone types, and whether the reply box is usable at all.
  function renderWindow() {
    const conv = state.conversations.get(state.openId);
    if (!conv) return;
    const win = conv.state === 'closed' ? null : app.replyWindow(conv);
    el.windowStatus.hidden = !win;
    if (win) {
      el.windowStatus.dataset.window = win;
      el.windowStatus.classList.toggle('is-soon', app.windowSoon(conv));
      app.setText(el.windowStatus, windowText(conv, win));
    }
    el.windowClosed.hidden = win !== 'closed';
    app.setText(el.windowClosed, win === 'closed' ? WINDOW_CLOSED_TEXT[conv.channel] || WINDOW_CLOSED_TEXT.whatsapp : '');
    const locked = !app.canReply(conv.id);
    if (locked) stopTyping();
    if (locked !== el.replyInput.disabled && replies.size) renderMessages(); // "Renvoyer" buttons
    el.replyInput.disabled = locked;
    el.replySend.disabled = locked;
  }

  function windowText(conv, win) {
    if (win === 'human_agent') return HUMAN_AGENT_TEXT;
    if (win === 'closed') return 'Fenêtre fermée';
    if (conv.window_closes_at == null) return 'Fenêtre de réponse ouverte';
    return 'Fenêtre de réponse : encore ' + app.formatWait(app.windowLeft(conv));
  }

  /* ---------- lines ---------- */

  function renderMessages() {
    const nodes = Array.from(state.thread.values()).sort((a, b) => a.seq - b.seq).map(renderMessage);
    replies.forEach((p, clientId) => {
      if (p.conversationId === state.openId) nodes.push(renderPending(clientId, p));
    });
    el.messages.replaceChildren(...nodes);
  }

  function authorLabel(m) {
    if (m.from === 'teen') return state.conversations.get(state.openId)?.alias || 'Jeune';
    if (m.from === 'system') return 'Message automatique';
    if (m.from === 'note') return 'Note interne';
    return m.author || 'Écoutant';
  }

  const KINDS = ['teen', 'counsellor', 'note'];

  function messageNode(from, author, text) {
    const kind = KINDS.includes(from) ? from : 'system';
    const li = make('li', 'msg msg-' + kind);
    li.dataset.from = from;
    const meta = make('div', 'msg-meta');
    meta.append(make('span', 'msg-author', author));
    // An internal note is between counsellors: say so in words, not only with a colour.
    if (kind === 'note') meta.append(make('span', 'msg-internal', 'non envoyée au jeune'));
    li.append(meta, make('p', 'msg-text', text));
    return li;
  }

  function renderMessage(m) {
    const li = messageNode(m.from, authorLabel(m), m.text);
    li.dataset.seq = String(m.seq);
    const time = make('time', 'msg-time', app.formatClock(m.at));
    time.dateTime = new Date(m.at).toISOString();
    li.firstChild.append(time);
    if (m.delivery && m.from !== 'teen' && m.from !== 'note') showDelivery(li, m);
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
    const why = app.isClosed(id) ? 'non envoyé (conversation terminée)'
      : !app.canReply(id) ? 'non envoyé (fenêtre fermée)' : 'non confirmé';
    li.firstChild.append(make('span', 'msg-status', p.failed ? why : 'envoi…'));
    if (p.failed && app.canReply(id)) li.firstChild.append(button('btn btn-link msg-retry', 'Renvoyer'));
    return li;
  }

  // Confirmed lines stay in seq order whatever order they arrive in; pending ones stay last.
  function insertMessage(node) {
    const seq = Number(node.dataset.seq);
    const after = Array.from(el.messages.children)
      .find((child) => child.classList.contains('pending') || Number(child.dataset.seq) > seq);
    el.messages.insertBefore(node, after || null);
  }

  // The log (a focusable region around the list) is what scrolls.
  const nearBottom = () => el.messagesLog.scrollHeight - el.messagesLog.scrollTop - el.messagesLog.clientHeight < 80;
  const scrollToEnd = () => { el.messagesLog.scrollTop = el.messagesLog.scrollHeight; };

  function renderTyping() {
    const conv = state.conversations.get(state.openId);
    const active = !!conv && state.teenTyping.has(conv.id);
    el.typing.hidden = !active;
    el.typing.textContent = active ? conv.alias + ' écrit…' : '';
  }

  /* ---------- server frames about lines ---------- */

  // The highest seq this page has of each conversation: a reconnect resumes from there
  // (console.js sends `resume`). The server sends each socket's lines in order, without gaps.
  function noteSeq(id, m) {
    if (m && Number.isInteger(m.seq) && state.conversations.has(id)) {
      state.marks.set(id, Math.max(state.marks.get(id) || 0, m.seq));
    }
  }

  function onHistory(frame) {
    (frame.messages || []).forEach((m) => noteSeq(frame.conversation_id, m));
    if (frame.conversation_id !== state.openId) return; // the counsellor moved on meanwhile
    const conv = state.conversations.get(frame.conversation_id);
    for (const m of frame.messages || []) { keep(m); if (conv) setPreview(conv, m); }
    if (conv) app.renderList();
    renderMessages();
    scrollToEnd();
  }

  function onMessage(frame) {
    const id = frame.conversation_id;
    const m = frame.message;
    const conv = state.conversations.get(id);
    if (!conv || !m) return;
    noteSeq(id, m);
    if (id === state.openId && state.thread.has(m.seq)) return; // already shown
    if (m.from === 'teen') {
      setTeenTyping(id, false);
      // Keep the waiting time and the reply window honest until a fresh ConsoleConv comes.
      if (conv.waiting_since == null) conv.waiting_since = m.at;
      if (conv.window) Object.assign(conv, { window: 'open', window_closes_at: m.at + app.DAY_MS });
    }
    if (m.from !== 'note') conv.last_message_at = m.at;
    setPreview(conv, m);
    if (m.from === 'teen' && (id !== state.openId || document.hidden)) app.emit('teen-line', conv);
    if (id === state.openId) {
      const stick = nearBottom();
      insertMessage(renderMessage(keep(m)));
      if (stick) scrollToEnd();
      renderWindow();
    } else {
      state.unread.set(id, (state.unread.get(id) || 0) + 1);
    }
    app.renderList();
  }

  function onAck(frame) {
    const m = frame.message;
    const node = el.messages.querySelector('.msg.pending' + byAttr('data-client-id', frame.client_id));
    if (node) node.remove();
    const conv = state.conversations.get(frame.conversation_id);
    noteSeq(frame.conversation_id, m);
    if (conv && m) Object.assign(conv, { waiting_since: null, last_message_at: m.at });
    if (conv && m) setPreview(conv, m);
    if (m && frame.conversation_id === state.openId && !state.thread.has(m.seq)) {
      insertMessage(renderMessage(keep(m)));
      scrollToEnd();
    }
    app.renderList();
  }

  // The list's one-line preview follows the latest line (the server cuts it the same way in init).
  // Automatic lines are left out: the preview says what a person wrote.
  function setPreview(conv, m) {
    if (m.from === 'system' || typeof m.text !== 'string') return;
    conv.last_line = { from: m.from, text: m.text.slice(0, PREVIEW_CHARS) };
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

  /* ---------- replying ---------- */

  // The server named this reply in an error: offer "Renvoyer" now, not after ACK_TIMEOUT_MS.
  function onReplyRefused(frame, p) {
    if (frame.code === 'unavailable' && p) { resendLater(frame.client_id, p); return; }
    app.showNotice(frame.message || 'Action refusée.');
    p.failed = true;
    if (p.conversationId === state.openId) renderMessages();
  }

  function onReplySubmit(event) {
    event.preventDefault();
    const id = state.openId;
    const text = el.replyInput.value.trim();
    if (!id || !app.canReply(id) || !text) return;
    const max = app.maxMessageChars();
    if (text.length > max) { app.showNotice('Le message dépasse ' + max + ' caractères.'); return; }
    stopTyping();
    const clientId = app.randomId();
    const p = { conversationId: id, text, sentAt: 0, failed: false };
    replies.add(clientId, p);
    sendReply(clientId, p);
    el.replyInput.value = '';
    state.drafts.delete(id);
    updateCounter();
    el.messages.append(renderPending(clientId, p));
    scrollToEnd();
  }

  // A passing outage: no "Renvoyer" to click, the same client_id goes again after a backoff
  // (1–2 s, 2–4 s … up to 15 s); the server drops it if it was stored after all.
  function resendLater(clientId, p) {
    if (p.resendTimer) return;
    if (!p.resends) app.showNotice('Service momentanément indisponible : la réponse repart toute seule.', 'info');
    const ceiling = Math.min(RESEND_MAX_MS, 2000 * 2 ** (p.resends || 0));
    p.resends = (p.resends || 0) + 1;
    p.resendTimer = setTimeout(() => {
      p.resendTimer = 0;
      if (replies.has(clientId) && !p.failed) sendReply(clientId, p);
    }, ceiling / 2 + Math.random() * ceiling / 2);
  }

  // Offline, the reply waits in `pending`: flushPending sends it after the next init.
  function sendReply(clientId, p) {
    p.sentAt = Date.now();
    app.send({ type: 'reply', conversation_id: p.conversationId, client_id: clientId, text: p.text });
  }

  // Re-sent with the same client_id: it is the key that lets the server drop a copy it
  // already stored before the connection dropped (see the widget's `message` frame).
  function flushPending() {
    replies.forEach((p, clientId) => {
      if (p.failed) return;
      if (app.isClosed(p.conversationId)) p.failed = true;
      else sendReply(clientId, p);
    });
    if (state.openId) renderMessages();
  }

  function expirePending() {
    if (!state.connected) return;
    let changed = false;
    replies.forEach((p) => {
      if (!p.failed && Date.now() - p.sentAt > ACK_TIMEOUT_MS) { p.failed = true; changed = true; }
    });
    if (changed && state.openId) renderMessages();
  }

  function onMessagesClick(event) {
    const clientId = event.target.closest('.msg-retry') && event.target.closest('.msg').dataset.clientId;
    const p = clientId && replies.get(clientId);
    if (p && app.canReply(p.conversationId)) { p.failed = false; sendReply(clientId, p); renderMessages(); }
  }

  function onReplyKeydown(event) {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) onReplySubmit(event);
  }

  function onReplyInput() {
    updateCounter();
    const id = state.openId;
    if (!id || !app.canReply(id)) return;
    if (!el.replyInput.value) { stopTyping(); return; }
    const t = state.typingOut;
    const now = Date.now();
    if (now - t.lastSentAt >= TYPING_EVERY_MS && app.send({ type: 'typing', conversation_id: id, active: true })) {
      Object.assign(t, { lastSentAt: now, active: true, convId: id });
    }
    clearTimeout(t.idleTimer);
    t.idleTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  function stopTyping() {
    const t = state.typingOut;
    clearTimeout(t.idleTimer);
    t.idleTimer = null;
    if (t.active) app.send({ type: 'typing', conversation_id: t.convId, active: false });
    t.active = false;
  }

  // The limit comes with `init` (limits.max_message_chars); before it, the count alone.
  function updateCounter() {
    const n = el.replyInput.value.length;
    const max = app.maxMessageChars();
    el.replyCount.textContent = Number.isFinite(max) ? n + ' / ' + max : String(n);
    el.replyCount.classList.toggle('near-limit', n > max * 0.9);
  }

  /* ---------- closing a conversation ---------- */

  function askClose() {
    const conv = state.conversations.get(state.openId);
    if (!conv || conv.state === 'closed') return;
    app.emit('asking-close');
    el.closeQuestion.textContent = 'Clore la conversation avec ' + conv.alias + ' ? Le jeune en sera informé.';
    el.closeBox.hidden = false;
    el.closeConfirm.focus();
  }

  function confirmClose() {
    const id = state.openId;
    el.closeBox.hidden = true;
    if (id) closeNow(id);
  }

  // Also in one click, without the question, for a teen who left the chat (console.js).
  function closeNow(id) {
    if (app.isClosed(id) || closing.has(id)) return;
    if (closing.send(id, { type: 'close', conversation_id: id })) {
      if (id === state.openId) {
        stopTyping();
        el.closeConversation.disabled = true; // released by the `conversation` frame, an `error` or a drop
        el.teenLeftClose.disabled = true;
      }
    } else {
      app.showNotice('Hors connexion : la conversation n’a pas été close. Réessayez après la reconnexion.');
    }
  }

  function cancelClose() {
    el.closeBox.hidden = true;
    el.closeConversation.focus();
  }

  /* ---------- wiring ---------- */

  Object.assign(app.pane, {
    open: openConversation,
    close: closePane,
    render: renderPane,
    renderHead: renderPaneHead,
    onClosed,
    closeNow,
    flushPending,
    stopTyping,
  });

  Object.assign(app.handlers, {
    history: onHistory,
    message: onMessage,
    delivery: onDelivery,
    typing: (f) => setTeenTyping(f.conversation_id, !!f.active),
  });

  app.on('bind', () => {
    el.messages.addEventListener('click', onMessagesClick);
    el.replyForm.addEventListener('submit', onReplySubmit);
    el.replyInput.addEventListener('keydown', onReplyKeydown);
    el.replyInput.addEventListener('input', onReplyInput);
    el.closeConversation.addEventListener('click', askClose);
    el.teenLeftClose.addEventListener('click', () => { if (state.openId) closeNow(state.openId); });
    el.closeConfirm.addEventListener('click', confirmClose);
    el.closeCancel.addEventListener('click', cancelClose);
    el.closeBox.addEventListener('keydown', (e) => { if (e.key === 'Escape') cancelClose(); });
  });
})();
