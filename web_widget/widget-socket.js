/* 3018 widget, the socket and what goes over it (loaded by widget.js): /ws/widget as
 * docs/protocol.md ("Widget") describes it — hello/welcome, the server's frames, the teen's
 * messages until acked (re-sent after a reconnect, the server drops duplicates by
 * client_id), typing, ending, and reconnecting with backoff.
 */
(function (W) {
  'use strict';

  const { S, D, cfg } = W;
  const TYPING_THROTTLE = 2000; // at most one typing:true per 2 s
  const TYPING_IDLE = 3000;     // typing:false after 3 s without a key
  const BACKOFF_MIN = 1000;
  const BACKOFF_MAX = 15000;
  const ERROR_GRACE = 2000;     // see HANDLERS.error
  const MAX_MISSING = 256;      // hello.missing: at most this many seqs (docs/protocol.md)
  const SERVICE_RESTART = 1012; // the server is restarting: another one takes us at once

  // ---------------------------------------------------------------- the line, the conversation

  /** `fresh`: asked after the welcome (a conversation just closed), so newer than its line. */
  function fetchLine(fresh = false) {
    S.lineFetched = true;
    fetch(cfg.origin + '/api/line', { credentials: 'omit', cache: 'no-store' })
      .then((r) => (r.ok ? r.json() : null))
      .then((line) => { if ((fresh || !S.lineFromWelcome) && !S.exiting) W.setLine(line); })
      .catch(() => { S.lineFetched = false; }); // try again at the next opening
  }

  /** A new conversation begins (after none or a closed one): its seq starts again at 1. */
  function startConversation() {
    if (S.hadConv && D.messages.lastChild) W.addNote('Nouvelle conversation', true);
    S.epoch += 1;
    S.seen = new Map();
    S.maxSeq = 0;
    S.convOpen = true;
    S.hadConv = true;
    W.dropFollowUp();
    W.dropSurvey();
  }

  /** `handedBack`: queued again after an écoutant·e had it (they left): the band says so
   * until the next assignment. */
  function setConv(conv) {
    const was = S.conv && S.conv.state;
    S.handedBack = !!conv && conv.state === 'queued' && (S.handedBack || was === 'assigned');
    // A chat with an écoutant·e that ends here and now: offer the follow-up code (never after a reload).
    const ended = S.convOpen && S.metCounsellor && !!conv && conv.state === 'closed';
    if (conv && conv.state === 'assigned') S.metCounsellor = true;
    S.conv = conv;
    S.convOpen = !!conv && conv.state !== 'closed';
    if (S.convOpen) S.hadConv = true;
    else { W.hidePeerTyping(); W.hideConfirm(false); stopTyping(false); }
    D.end.hidden = !S.convOpen || !D.confirm.hidden;
    W.renderStatus();
    if (ended) { S.metCounsellor = false; W.offerFollowUp(); }
  }

  function validConv(c) { return !!c && ['queued', 'assigned', 'closed'].includes(c.state); }

  // A limit from `welcome.limits`: a positive whole number, or null when the server sent none.
  function limitFrom(limits, name) {
    const value = limits && limits[name];
    return Number.isInteger(value) && value > 0 ? value : null;
  }

  // ---------------------------------------------------------------- socket

  function connect() {
    if (S.ws || S.reconnectTimer || S.exiting) return;
    let ws;
    try { ws = new WebSocket(cfg.wsUrl); } catch (_) { scheduleReconnect(); return; }
    S.ws = ws;
    S.sockId += 1;
    S.ready = false;
    ws.addEventListener('open', () => {
      // After a reload nothing is shown, so maxSeq is 0 and the server resends the history.
      // With no open conversation we also ask from 0: a message sent just before a drop
      // may have opened a new conversation whose seq started again at 1.
      ws.send(JSON.stringify(helloFrame()));
    });
    ws.addEventListener('message', (e) => onFrame(e.data));
    ws.addEventListener('close', (e) => {
      if (S.ws !== ws) return;
      if (e.code === SERVICE_RESTART) S.attempt = 0; // not our fault, nor the network's: come back soon
      lostSocket();
    });
  }

  /** The socket is gone (closed, or the browser went offline): say so, keep the messages. */
  function lostSocket() {
    S.ws = null;
    S.ready = false;
    S.typingActive = false;
    W.hidePeerTyping();
    if (S.exiting) return;
    S.disconnected = true;
    W.renderOffline();
    scheduleReconnect();
  }

  /** The browser says the network is gone: a socket may linger for a long while before it
   * notices, so leave it now; messages stay pending and go at the next welcome. */
  W.wentOffline = function () {
    const ws = S.ws;
    if (ws) { S.ws = null; try { ws.close(); } catch (_) { /* already closing */ } lostSocket(); }
    W.renderOffline();
  };

  /** What the page shows: its highest seq, and the seqs below it it lacks (a line lost on the
   * way, or an internal note it can never have: the server just skips those). */
  function helloFrame() {
    if (!S.convOpen) return { type: 'hello', token: S.token, last_seq: 0 };
    const missing = [];
    for (let seq = 1; seq < S.maxSeq; seq += 1) if (!S.seen.has(seq)) missing.push(seq);
    if (missing.length > MAX_MISSING) return { type: 'hello', token: S.token, last_seq: missing[0] - 1 };
    return { type: 'hello', token: S.token, last_seq: S.maxSeq, missing };
  }

  /** Capped exponential backoff, equal jitter (half fixed, half random): 1–2 s, 2–4 s, … 7.5–15 s. */
  function scheduleReconnect() {
    if (S.exiting || S.reconnectTimer) return;
    const cap = Math.min(BACKOFF_MAX, 2 * BACKOFF_MIN * 2 ** S.attempt);
    S.attempt += 1;
    S.reconnectTimer = setTimeout(() => {
      S.reconnectTimer = 0;
      if (navigator.onLine === false) scheduleReconnect(); // 'online' (W.reconnectNow) will not wait
      else connect();
    }, cap / 2 + Math.random() * cap / 2);
  }

  /** The server could not store them just now (`unavailable`): send the unacked ones again
   * after the same kind of backoff, with the same client_id (the server drops duplicates). */
  function resendLater() {
    if (S.resendTimer || S.exiting) return;
    const cap = Math.min(BACKOFF_MAX, 2 * BACKOFF_MIN * 2 ** S.resendAttempt);
    S.resendAttempt += 1;
    S.resendTimer = setTimeout(() => { S.resendTimer = 0; S.pending.forEach(transmit); },
      cap / 2 + Math.random() * cap / 2);
  }

  W.reconnectNow = function () { // the browser says the network is back: do not wait for the backoff
    W.renderOffline();
    if (S.ws || !S.reconnectTimer) return;
    clearTimeout(S.reconnectTimer);
    S.reconnectTimer = 0;
    connect();
  };

  W.ensureConnected = function () { if (!S.lineFetched) fetchLine(); connect(); };

  /** The teen asked for a follow-up code (docs/protocol.md): answered by a `follow_up_code` frame. */
  W.askFollowUpCode = () => sendFrame({ type: 'follow_up_code' });

  /** The teen tapped an answer to the post-chat question (docs/protocol.md): thanked by `survey_thanks`. */
  W.answerSurvey = (value) => sendFrame({ type: 'survey_answer', value });

  /** Send a frame once the server has welcomed us; false if it could not go. */
  function sendFrame(frame) {
    if (!S.ready || !S.ws || S.ws.readyState !== WebSocket.OPEN) return false;
    S.ws.send(JSON.stringify(frame));
    return true;
  }

  function onFrame(data) {
    let frame;
    try { frame = JSON.parse(data); } catch (_) { return; }
    const handler = frame && HANDLERS[frame.type];
    if (handler && !S.exiting) handler(frame);
  }

  const HANDLERS = {
    welcome(f) {
      if (typeof f.token === 'string') { S.token = f.token; W.store(W.KEY.token, f.token); }
      if (f.line) { S.lineFromWelcome = true; W.setLine(f.line); }
      W.setLimit(limitFrom(f.limits, 'max_message_chars'));
      const conv = validConv(f.conversation) ? f.conversation : null;
      if (conv && conv.state !== 'closed' && !S.convOpen) startConversation();
      const firstWelcome = !S.welcomed; // after a reload: history, not news
      S.ready = true;
      S.welcomed = true;
      S.attempt = 0;
      S.disconnected = false;
      for (const m of Array.isArray(f.messages) ? f.messages : []) W.showMessage(m);
      if (firstWelcome) { D.badge.hidden = true; W.scrollToLatest(); }
      setConv(conv);
      S.pending.forEach(transmit); // unacked ones again; the server drops duplicates by client_id
      W.renderOffline();
    },
    ack(f) {
      const m = f.message;
      if (typeof f.client_id !== 'string') return;
      S.resendAttempt = 0;
      S.outageNoted = false;
      if (f.duplicate === true) { // stored before the connection dropped: the history shows it
        settle(f.client_id);
        const dup = W.bubbleFor(f.client_id);
        if (dup && !dup.dataset.seq) dup.remove();
        return;
      }
      if (!W.validMessage(m)) return;
      if (!S.convOpen) startConversation(); // the first message after a close opens a new one
      settle(f.client_id);
      const node = W.bubbleFor(f.client_id);
      if (S.seen.has(m.seq)) { if (node && node !== S.seen.get(m.seq)) node.remove(); return; }
      W.place(m, node);
    },
    message(f) { W.showMessage(f.message); },
    state(f) {
      if (!validConv(f.conversation)) return;
      if (f.conversation.state !== 'closed' && !S.convOpen) startConversation();
      // Closed at closing time? The band must not say "réécris quand tu veux" then: ask the line.
      if (f.conversation.state === 'closed' && S.convOpen) fetchLine(true);
      setConv(f.conversation);
    },
    typing(f) { if (f.active === true && S.convOpen) W.showPeerTyping(); else W.hidePeerTyping(); },
    follow_up_code(f) { W.showFollowUpCode(f.code); },
    survey(f) { if (!S.convOpen) W.showSurvey(f); }, // after the closing state only
    survey_thanks(f) { W.thankSurvey(f.text); },
    error(f) {
      if (f.code === 'unavailable') { // a passing outage: nothing to click, it goes again by itself
        if (!S.outageNoted) W.addNote('Petit souci technique, on renvoie ton message tout seul.');
        S.outageNoted = true;
        resendLater();
        return;
      }
      W.addNote(typeof f.message === 'string' && f.message ? f.message : 'Ça n\'a pas marché. Réessaie dans un instant.');
      if (f.code === 'too_many_conversations' && typeof f.client_id === 'string') {
        backToComposer(f.client_id); // nothing stored, no conversation: the text goes back where it was written
        return;
      }
      if (typeof f.client_id === 'string') { // the server named it
        const p = S.pending.find((x) => x.client_id === f.client_id);
        if (p) giveUp(p);
        return;
      }
      // An error frame does not say which frame it refuses. Frames are answered in order, so
      // a message sent before the error and still unacked a little later is the refused one:
      // stop resending it and offer "Réessayer" instead of looping on every reconnect.
      const at = Date.now();
      const sock = S.sockId;
      setTimeout(() => markFailed(at, sock), ERROR_GRACE);
    },
  };

  // ---------------------------------------------------------------- sending

  function newClientId() {
    const c = window.crypto;
    if (c && typeof c.randomUUID === 'function') return c.randomUUID(); // secure contexts only
    if (c && typeof c.getRandomValues === 'function') {
      return Array.from(c.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
    }
    return Date.now().toString(36) + '-' + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
  }

  function transmit(p) {
    if (sendFrame({ type: 'message', client_id: p.client_id, text: p.text })) {
      p.sentAt = Date.now();
      p.sock = S.sockId;
    }
  }

  /** The unacked list changed: keep the tab's copy and the offline count in step. */
  function pendingChanged() {
    W.savePending();
    W.renderOffline();
  }

  function dropPending(clientId) {
    S.pending = S.pending.filter((p) => p.client_id !== clientId);
    pendingChanged();
  }

  /** Stored (acked, or a duplicate of one stored): neither pending nor failed any more. */
  function settle(clientId) {
    dropPending(clientId);
    S.failed.delete(clientId);
  }

  /** Refused: no more resending; its bubble offers "Réessayer". */
  function giveUp(p) {
    dropPending(p.client_id);
    S.failed.set(p.client_id, p);
    const node = W.bubbleFor(p.client_id);
    if (node) W.setUnconfirmed(node, 'failed');
  }

  /** A first message refused before anything was stored (too many new conversations from this
   *  network): its bubble goes and its text returns to the composer, ahead of anything typed since. */
  function backToComposer(clientId) {
    const p = S.pending.find((x) => x.client_id === clientId);
    if (!p) return;
    dropPending(clientId);
    const node = W.bubbleFor(clientId);
    if (node) node.remove();
    D.input.value = D.input.value ? p.text + '\n' + D.input.value : p.text;
    W.updateCount();
  }

  function markFailed(at, sock) {
    if (S.exiting) return;
    S.pending.filter((p) => p.sock === sock && p.sentAt <= at).forEach(giveUp);
  }

  W.retrySend = function (clientId) {
    const p = S.failed.get(clientId);
    const node = W.bubbleFor(clientId);
    if (!p || !node) return;
    S.failed.delete(clientId);
    W.setUnconfirmed(node, 'pending');
    p.sentAt = undefined;
    S.pending.push(p);
    pendingChanged();
    transmit(p);
    D.input.focus();
  };

  W.sendFromInput = function () {
    const text = D.input.value.trim();
    if (!text) return;
    if (S.maxLen && text.length > S.maxLen) { W.addNote(W.tooLongText(S.maxLen)); return; }
    const p = { client_id: newClientId(), text, at: Date.now() };
    stopTyping();
    S.pending.push(p);
    pendingChanged();
    W.renderPending(p);
    D.input.value = '';
    W.updateCount();
    transmit(p); // if offline, it goes out after the next welcome
    D.input.focus();
  };

  W.onInput = function () {
    W.updateCount();
    if (!S.convOpen) return; // no one to tell before a conversation exists
    if (!D.input.value) { stopTyping(); return; }
    const now = Date.now();
    if (now - S.typingSentAt >= TYPING_THROTTLE && sendFrame({ type: 'typing', active: true })) {
      S.typingActive = true;
      S.typingSentAt = now;
    }
    clearTimeout(S.typingIdleTimer);
    S.typingIdleTimer = setTimeout(() => stopTyping(), TYPING_IDLE);
  };

  /** `tell` false: the conversation is over, a typing frame would only earn an error. */
  function stopTyping(tell = true) {
    clearTimeout(S.typingIdleTimer);
    if (!S.typingActive) return;
    S.typingActive = false;
    if (tell) sendFrame({ type: 'typing', active: false });
  }

  W.confirmEnd = function () {
    stopTyping();
    const sent = sendFrame({ type: 'end' });
    W.hideConfirm(true);
    if (!sent) W.addNote('Pas de connexion pour l\'instant. Réessaie dans un instant.');
  };
})(window.W3018);
