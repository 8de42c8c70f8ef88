/* 3018 — the teen-facing chat widget.
 *
 * Embedded with one tag: <script src="https://gateway.example/widget/widget.js" defer></script>
 * (optional data-exit-url="…" for the quick exit). Speaks the "Widget" part of
 * docs/protocol.md over /ws/widget. Plain ES2020, no dependency, written for a strict CSP:
 * every text from the network or the teen goes through textContent / createTextNode, no
 * innerHTML, no inline handlers, no style attributes (visibility uses the `hidden` attribute).
 *
 * Privacy: the session token, the open/closed panel and the unacked messages live in
 * sessionStorage under "3018.*" only (gone when the tab closes); the quick exit wipes them.
 */
(function () {
  'use strict';

  const SCRIPT = document.currentScript || findOwnScript();
  const DEFAULT_EXIT = 'https://www.google.fr/';
  const MAX_LEN = 2000;
  const COUNT_FROM = 1800;         // show the character count from here on
  const TYPING_THROTTLE = 2000;     // at most one typing:true per 2 s
  const TYPING_IDLE = 3000;        // typing:false after 3 s without a key
  const PEER_TYPING_TTL = 15000;   // hide "… est en train d'écrire" if active:false got lost
  const BACKOFF_MIN = 1000;
  const BACKOFF_MAX = 15000;
  const ESC_WINDOW = 800;          // two Escapes within this = quick exit
  const ERROR_GRACE = 2000;        // see onError
  const KEY = { token: '3018.token', open: '3018.open', pending: '3018.pending' };
  const FROM = new Set(['teen', 'counsellor', 'system']);
  const CLOSED_TEXT = 'La conversation est terminée. Tu peux nous réécrire quand tu veux.';
  const TIME = new Intl.DateTimeFormat('fr-FR', { hour: '2-digit', minute: '2-digit' });

  const CFG = readConfig(SCRIPT);

  /** All mutable state of the widget. */
  const S = {
    ws: null, sockId: 0, ready: false, welcomed: false, attempt: 0, reconnectTimer: 0,
    token: null, open: false, line: null, lineFromWelcome: false, lineFetched: false,
    // The protocol's seq restarts at 1 with each conversation: `epoch` counts the
    // conversations this page has shown, `seen` maps seq -> element for the current one.
    conv: null, convOpen: false, hadConv: false, epoch: 0, seen: new Map(), maxSeq: 0,
    pending: [], failed: new Map(),
    typingActive: false, typingSentAt: 0, typingIdleTimer: 0, peerTypingTimer: 0,
    lastEsc: 0, exiting: false,
  };
  const D = {}; // DOM references

  // ---------------------------------------------------------------- config & storage

  function findOwnScript() {
    const all = document.querySelectorAll('script[src*="/widget/widget.js"]');
    return all[all.length - 1] || null;
  }

  function readConfig(script) {
    const src = new URL(script && script.src ? script.src : location.href, location.href);
    return {
      origin: src.origin,
      wsUrl: (src.protocol === 'https:' ? 'wss://' : 'ws://') + src.host + '/ws/widget',
      exitUrl: safeExitUrl(script && script.getAttribute('data-exit-url')),
    };
  }

  /** Only an http(s) address: a "javascript:" exit would run on the host page. */
  function safeExitUrl(value) {
    try {
      const url = new URL(value || DEFAULT_EXIT, location.href);
      return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : DEFAULT_EXIT;
    } catch (_) { return DEFAULT_EXIT; }
  }

  // Storage may be disabled (privacy settings): the widget then works for this page only.
  function load(key) {
    try { return sessionStorage.getItem(key); } catch (_) { return null; }
  }

  function store(key, value) {
    try { if (value == null) sessionStorage.removeItem(key); else sessionStorage.setItem(key, value); } catch (_) { /* */ }
  }

  function clearStorage() {
    try {
      for (let i = sessionStorage.length - 1; i >= 0; i--) {
        const key = sessionStorage.key(i);
        if (key && key.startsWith('3018.')) sessionStorage.removeItem(key);
      }
    } catch (_) { /* nothing stored */ }
  }

  function loadPending() {
    try {
      const list = JSON.parse(load(KEY.pending) || '[]');
      return list.filter((p) => p && typeof p.client_id === 'string' && typeof p.text === 'string');
    } catch (_) { return []; } // not JSON, not a list: start afresh
  }

  function savePending() {
    const list = S.pending.map((p) => ({ client_id: p.client_id, text: p.text, at: p.at }));
    store(KEY.pending, list.length ? JSON.stringify(list) : null);
  }

  function newClientId() {
    const c = window.crypto;
    if (c && typeof c.randomUUID === 'function') return c.randomUUID(); // secure contexts only
    if (c && typeof c.getRandomValues === 'function') {
      return Array.from(c.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
    }
    return Date.now().toString(36) + '-' + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
  }

  // ---------------------------------------------------------------- DOM building

  /** createElement with plain attributes (never HTML) and text/element children. */
  function el(tag, attrs, ...kids) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === true) node.setAttribute(name, '');
      else if (value != null && value !== false) node.setAttribute(name, String(value));
    }
    for (const kid of kids) node.appendChild(typeof kid === 'string' ? document.createTextNode(kid) : kid);
    return node;
  }

  function exitControl(id) {
    const button = el('button', { type: 'button', id, class: 'w3018-exit', 'aria-describedby': id + '-hint' },
      el('span', { class: 'w3018-exit-icon', 'aria-hidden': 'true' }, '✕'), ' Quitter vite');
    button.addEventListener('click', quickExit);
    return el('div', { class: 'w3018-exit-box' }, button,
      el('span', { id: id + '-hint', class: 'w3018-exit-hint' }, 'Quitte la page tout de suite (Échap ×2)'));
  }

  function tel(number) { return el('a', { href: 'tel:' + number, class: 'w3018-tel' }, number); }

  function buildLauncherArea() {
    D.launcherText = el('span', {}, 'Parler au 3018');
    D.badge = el('span', { class: 'w3018-badge', hidden: true }, 'Nouveau message');
    D.launcher = el('button', { type: 'button', id: 'w3018-launcher', class: 'w3018-launcher',
      'aria-controls': 'w3018-panel', 'aria-expanded': 'false' },
    el('span', { class: 'w3018-launcher-icon', 'aria-hidden': 'true' }), D.launcherText, D.badge);
    D.launcher.addEventListener('click', () => setOpen(!S.open, true));
    D.launcherExit = exitControl('w3018-exit-launcher');
    D.launcherExit.hidden = true;
    return el('div', { class: 'w3018-launcher-area' }, D.launcherExit, D.launcher);
  }

  function buildHeader() {
    const minimise = el('button', { type: 'button', class: 'w3018-minimise', 'aria-label': 'Réduire le tchat' },
      el('span', { 'aria-hidden': 'true' }, '▾'));
    minimise.addEventListener('click', () => setOpen(false, true));
    D.line = el('p', { id: 'w3018-line', class: 'w3018-line' }, 'On vérifie si le tchat est ouvert…');
    return el('header', { class: 'w3018-header' },
      el('div', { class: 'w3018-header-top' },
        el('h2', { id: 'w3018-title', class: 'w3018-title' }, '3018 — Tchat anonyme et gratuit'),
        exitControl('w3018-exit'), minimise),
      D.line,
      el('p', { class: 'w3018-reassure' },
        'C\'est anonyme, gratuit et confidentiel. Tu n\'as pas besoin de dire ton nom.'));
  }

  function buildConfirm() {
    D.confirmNo = el('button', { type: 'button', id: 'w3018-end-no', class: 'w3018-btn-secondary' }, 'Non');
    const yes = el('button', { type: 'button', id: 'w3018-end-yes', class: 'w3018-btn-danger' }, 'Oui');
    D.confirmNo.addEventListener('click', () => hideConfirm(true));
    yes.addEventListener('click', confirmEnd);
    D.confirm = el('div', { id: 'w3018-confirm', class: 'w3018-confirm', role: 'group',
      'aria-labelledby': 'w3018-confirm-q', hidden: true },
    el('p', { id: 'w3018-confirm-q' }, 'Tu veux vraiment terminer la conversation ?'), yes, D.confirmNo);
    return D.confirm;
  }

  function buildComposer() {
    D.input = el('textarea', { id: 'w3018-input', class: 'w3018-input', rows: '2', maxlength: String(MAX_LEN),
      placeholder: 'Écris ton message…', enterkeyhint: 'send', 'aria-describedby': 'w3018-count' });
    D.count = el('span', { id: 'w3018-count', class: 'w3018-count' });
    D.send = el('button', { type: 'submit', id: 'w3018-send', class: 'w3018-send' }, 'Envoyer');
    D.end = el('button', { type: 'button', id: 'w3018-end', class: 'w3018-end', hidden: true,
      'aria-label': 'Terminer la conversation' }, 'Terminer');
    D.end.addEventListener('click', askEnd);
    D.input.addEventListener('input', onInput);
    D.input.addEventListener('keydown', onInputKey);
    const form = el('form', { class: 'w3018-composer', novalidate: true },
      el('label', { for: 'w3018-input', class: 'w3018-sr' }, 'Ton message'),
      D.input, el('div', { class: 'w3018-composer-bar' }, D.count, D.end, D.send));
    form.addEventListener('submit', (e) => { e.preventDefault(); sendFromInput(); });
    return form;
  }

  function buildPanel() {
    D.banner = el('p', { id: 'w3018-banner', class: 'w3018-banner', role: 'status', hidden: true },
      'Connexion perdue, on réessaie…');
    D.status = el('p', { id: 'w3018-status', class: 'w3018-status', role: 'status' });
    D.messages = el('div', { id: 'w3018-messages', class: 'w3018-messages', role: 'log',
      'aria-live': 'polite', 'aria-relevant': 'additions', 'aria-label': 'Messages', tabindex: '0' });
    D.typing = el('p', { id: 'w3018-typing', class: 'w3018-typing', 'aria-live': 'polite', hidden: true });
    D.panel = el('section', { id: 'w3018-panel', class: 'w3018-panel', role: 'dialog',
      'aria-modal': 'false', 'aria-labelledby': 'w3018-title', hidden: true },
    buildHeader(), D.banner, D.status, D.messages, D.typing, buildConfirm(), buildComposer(),
    el('footer', { class: 'w3018-emergency' },
      'En danger immédiat : ', tel('17'), ' ou ', tel('112'),
      ' · Enfant en danger : ', tel('119'), ' · Le 3018 par téléphone : ', tel('3018')));
    return D.panel;
  }

  // ---------------------------------------------------------------- rendering

  function nearBottom() { return D.messages.scrollHeight - D.messages.scrollTop - D.messages.clientHeight < 80; }

  function scrollToEnd() { D.messages.scrollTop = D.messages.scrollHeight; }

  function formatTime(at) { return typeof at === 'number' ? TIME.format(new Date(at)) : ''; }

  function bubble(from, author, text) {
    const node = el('div', { class: 'w3018-msg w3018-msg--' + from, 'data-from': from });
    if (from !== 'system') {
      node.appendChild(el('span', { class: 'w3018-author' }, from === 'teen' ? 'Toi' : (author || 'Conseiller·e')));
    }
    node.appendChild(el('p', { class: 'w3018-text' }, text));
    node.appendChild(el('span', { class: 'w3018-meta' }));
    return node;
  }

  function isUnconfirmed(node) {
    return node.classList.contains('w3018-pending') || node.classList.contains('w3018-failed');
  }

  /** Put a stored message in seq order among the current conversation's, before any unacked one. */
  function insertConfirmed(node, seq) {
    let ref = D.messages.lastChild;
    while (ref && (isUnconfirmed(ref) ||
      (ref.getAttribute('data-conv') === String(S.epoch) && Number(ref.getAttribute('data-seq')) > seq))) {
      ref = ref.previousSibling;
    }
    const before = ref ? ref.nextSibling : D.messages.firstChild;
    if (before !== node) D.messages.insertBefore(node, before); // an acked bubble in place stays put
  }

  function validMessage(m) {
    return !!m && Number.isInteger(m.seq) && FROM.has(m.from) && typeof m.text === 'string';
  }

  /** Show a stored message (MessageView); `node` is the teen's pending bubble when acked. */
  function place(m, node) {
    const stick = nearBottom() || !!node;
    node = node || bubble(m.from, m.author, m.text);
    node.setAttribute('data-seq', String(m.seq));
    node.setAttribute('data-conv', String(S.epoch));
    insertConfirmed(node, m.seq);
    setUnconfirmed(node, null);
    node.querySelector('.w3018-meta').textContent = formatTime(m.at);
    S.seen.set(m.seq, node);
    S.maxSeq = Math.max(S.maxSeq, m.seq);
    if (stick) scrollToEnd();
  }

  function showMessage(m) {
    if (!validMessage(m) || S.seen.has(m.seq)) return; // the server resent one we show
    place(m);
    if (m.from === 'counsellor') hidePeerTyping();
    if (!S.open && m.from !== 'teen') D.badge.hidden = false;
  }

  function bubbleFor(clientId) { // compared, not put in a selector: the id comes from the network
    return Array.from(D.messages.querySelectorAll('[data-client-id]'))
      .find((n) => n.getAttribute('data-client-id') === clientId) || null;
  }

  /** A teen bubble not stored yet: 'pending' (envoi…), 'failed' (Réessayer) or null (stored). */
  function setUnconfirmed(node, how) {
    node.classList.toggle('w3018-pending', how === 'pending');
    node.classList.toggle('w3018-failed', how === 'failed');
    const retry = node.querySelector('.w3018-retry');
    if (how !== 'failed' && retry) retry.remove();
    if (!how) return;
    node.querySelector('.w3018-meta').textContent = how === 'pending' ? 'envoi…' : 'Pas envoyé.';
    if (how === 'failed' && !retry) {
      const button = el('button', { type: 'button', class: 'w3018-retry' }, 'Réessayer');
      button.addEventListener('click', () => retrySend(node.getAttribute('data-client-id')));
      node.appendChild(button);
    }
  }

  function renderPending(p) {
    const node = bubble('teen', null, p.text);
    node.setAttribute('data-client-id', p.client_id);
    setUnconfirmed(node, 'pending');
    D.messages.appendChild(node);
    scrollToEnd();
  }

  /** A local line (error, notice): not a stored message, so no data-seq. */
  function addNote(text, beforePending) {
    const stick = nearBottom();
    const ref = beforePending ? D.messages.querySelector('.w3018-pending') : null;
    D.messages.insertBefore(el('p', { class: 'w3018-note', 'data-from': 'system' }, text), ref);
    if (stick) scrollToEnd();
  }

  function ordinal(n) { return n === 1 ? '1re' : n + 'e'; }

  function statusText() {
    const conv = S.conv;
    if (!conv || conv.state === 'closed') {
      if (conv || S.hadConv) return CLOSED_TEXT;
      return S.line && !S.line.open
        ? 'Si tu es en danger maintenant, appelle le 17 ou le 112.'
        : 'Dis-nous ce qui se passe, on est là pour t\'aider.';
    }
    if (conv.state === 'assigned') return (conv.counsellor || 'Un·e conseiller·e') + ' est là pour t\'écouter.';
    const where = Number.isInteger(conv.position) && conv.position > 0
      ? 'Tu es ' + ordinal(conv.position) + ' dans la file d\'attente.'
      : 'Tu es dans la file d\'attente.';
    // An estimate reads "environ 5 minutes"; "we cannot tell yet" is a whole sentence.
    const wait = typeof conv.wait !== 'string' || !conv.wait ? ''
      : /[.!]$/.test(conv.wait) ? ' ' + conv.wait : ' Attente estimée : ' + conv.wait + '.';
    return where + wait + ' Reste là, quelqu\'un va te répondre.';
  }

  function renderStatus() { D.status.textContent = statusText(); }

  function setLine(line) {
    if (!line || typeof line.open !== 'boolean') return;
    S.line = line;
    const next = typeof line.next_opening_text === 'string' ? line.next_opening_text : '';
    D.line.textContent = line.open
      ? 'En ligne : un·e conseiller·e peut te répondre'
      : 'Fermé pour l\'instant' + (next ? ' — réouverture ' + next : '');
    D.line.classList.toggle('w3018-line--open', line.open);
    D.line.classList.toggle('w3018-line--closed', !line.open);
    renderStatus();
  }

  function fetchLine() {
    S.lineFetched = true;
    fetch(CFG.origin + '/api/line', { credentials: 'omit', cache: 'no-store' })
      .then((r) => (r.ok ? r.json() : null))
      .then((line) => { if (!S.lineFromWelcome && !S.exiting) setLine(line); })
      .catch(() => { S.lineFetched = false; }); // try again at the next opening
  }

  // ---------------------------------------------------------------- conversation state

  /** A new conversation begins (after none or a closed one): its seq starts again at 1. */
  function startConversation() {
    if (S.hadConv && D.messages.lastChild) addNote('Nouvelle conversation', true);
    S.epoch += 1;
    S.seen = new Map();
    S.maxSeq = 0;
    S.convOpen = true;
    S.hadConv = true;
  }

  function setConv(conv) {
    S.conv = conv;
    S.convOpen = !!conv && conv.state !== 'closed';
    if (S.convOpen) S.hadConv = true;
    else { hidePeerTyping(); hideConfirm(false); stopTyping(false); }
    D.end.hidden = !S.convOpen || !D.confirm.hidden;
    renderStatus();
  }

  function validConv(c) { return !!c && ['queued', 'assigned', 'closed'].includes(c.state); }

  // ---------------------------------------------------------------- socket

  function connect() {
    if (S.ws || S.reconnectTimer || S.exiting) return;
    let ws;
    try { ws = new WebSocket(CFG.wsUrl); } catch (_) { scheduleReconnect(); return; }
    S.ws = ws;
    S.sockId += 1;
    S.ready = false;
    ws.addEventListener('open', () => {
      // After a reload nothing is shown, so maxSeq is 0 and the server resends the history.
      // With no open conversation we also ask from 0: a message sent just before a drop
      // may have opened a new conversation whose seq started again at 1.
      ws.send(JSON.stringify({ type: 'hello', token: S.token, last_seq: S.convOpen ? S.maxSeq : 0 }));
    });
    ws.addEventListener('message', (e) => onFrame(e.data));
    ws.addEventListener('close', () => {
      if (S.ws !== ws) return;
      S.ws = null;
      S.ready = false;
      S.typingActive = false;
      hidePeerTyping();
      if (S.exiting) return;
      D.banner.hidden = false;
      scheduleReconnect();
    });
  }

  /** Capped exponential backoff, equal jitter (half fixed, half random): 1–2 s, 2–4 s, … 7.5–15 s. */
  function scheduleReconnect() {
    if (S.exiting || S.reconnectTimer) return;
    const cap = Math.min(BACKOFF_MAX, 2 * BACKOFF_MIN * 2 ** S.attempt);
    S.attempt += 1;
    S.reconnectTimer = setTimeout(() => { S.reconnectTimer = 0; connect(); }, cap / 2 + Math.random() * cap / 2);
  }

  function reconnectNow() { // the browser says the network is back: do not wait for the backoff
    if (S.ws || !S.reconnectTimer) return;
    clearTimeout(S.reconnectTimer);
    S.reconnectTimer = 0;
    connect();
  }

  function ensureConnected() { if (!S.lineFetched) fetchLine(); connect(); }

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
      if (typeof f.token === 'string') { S.token = f.token; store(KEY.token, f.token); }
      if (f.line) { S.lineFromWelcome = true; setLine(f.line); }
      const conv = validConv(f.conversation) ? f.conversation : null;
      if (conv && conv.state !== 'closed' && !S.convOpen) startConversation();
      const firstWelcome = !S.welcomed; // after a reload: history, not news
      S.ready = true;
      S.welcomed = true;
      S.attempt = 0;
      D.banner.hidden = true;
      for (const m of Array.isArray(f.messages) ? f.messages : []) showMessage(m);
      if (firstWelcome) D.badge.hidden = true;
      setConv(conv);
      S.pending.forEach(transmit); // unacked ones again; the server drops duplicates by client_id
    },
    ack(f) {
      const m = f.message;
      if (typeof f.client_id !== 'string') return;
      if (f.duplicate === true) { // stored before the connection dropped: the history shows it
        dropPending(f.client_id);
        S.failed.delete(f.client_id);
        const dup = bubbleFor(f.client_id);
        if (dup && !dup.dataset.seq) dup.remove();
        return;
      }
      if (!validMessage(m)) return;
      if (!S.convOpen) startConversation(); // the first message after a close opens a new one
      dropPending(f.client_id);
      S.failed.delete(f.client_id);
      const node = bubbleFor(f.client_id);
      if (S.seen.has(m.seq)) { if (node && node !== S.seen.get(m.seq)) node.remove(); return; }
      place(m, node);
    },
    message(f) { showMessage(f.message); },
    state(f) {
      if (!validConv(f.conversation)) return;
      if (f.conversation.state !== 'closed' && !S.convOpen) startConversation();
      setConv(f.conversation);
    },
    typing(f) { if (f.active === true && S.convOpen) showPeerTyping(); else hidePeerTyping(); },
    error(f) {
      addNote(typeof f.message === 'string' && f.message ? f.message : 'Ça n\'a pas marché. Réessaie dans un instant.');
      if (typeof f.client_id === 'string') { failOne(f.client_id); return; } // the server named it
      // An error frame does not say which frame it refuses. Frames are answered in order, so
      // a message sent before the error and still unacked a little later is the refused one:
      // stop resending it and offer "Réessayer" instead of looping on every reconnect.
      const at = Date.now();
      const sock = S.sockId;
      setTimeout(() => markFailed(at, sock), ERROR_GRACE);
    },
  };

  // ---------------------------------------------------------------- sending

  function transmit(p) {
    if (sendFrame({ type: 'message', client_id: p.client_id, text: p.text })) {
      p.sentAt = Date.now();
      p.sock = S.sockId;
    }
  }

  function dropPending(clientId) {
    S.pending = S.pending.filter((p) => p.client_id !== clientId);
    savePending();
  }

  function markFailed(at, sock) {
    if (S.exiting) return;
    for (const p of S.pending.slice()) {
      if (p.sock !== sock || !(p.sentAt <= at)) continue;
      dropPending(p.client_id);
      S.failed.set(p.client_id, p);
      const node = bubbleFor(p.client_id);
      if (node) setUnconfirmed(node, 'failed');
    }
  }

  function failOne(clientId) {
    const p = S.pending.find((x) => x.client_id === clientId);
    if (!p) return;
    dropPending(clientId);
    S.failed.set(clientId, p);
    const node = bubbleFor(clientId);
    if (node) setUnconfirmed(node, 'failed');
  }

  function retrySend(clientId) {
    const p = S.failed.get(clientId);
    const node = bubbleFor(clientId);
    if (!p || !node) return;
    S.failed.delete(clientId);
    setUnconfirmed(node, 'pending');
    p.sentAt = undefined;
    S.pending.push(p);
    savePending();
    transmit(p);
    D.input.focus();
  }

  function sendFromInput() {
    const text = D.input.value.trim();
    if (!text) return;
    if (text.length > MAX_LEN) { addNote('Ton message est trop long (2000 caractères au maximum).'); return; }
    const p = { client_id: newClientId(), text, at: Date.now() };
    stopTyping();
    S.pending.push(p);
    savePending();
    renderPending(p);
    D.input.value = '';
    updateCount();
    transmit(p); // if offline, it goes out after the next welcome
    D.input.focus();
  }

  function updateCount() {
    const n = D.input.value.length;
    D.count.textContent = n >= COUNT_FROM ? n + ' / ' + MAX_LEN : '';
    D.count.classList.toggle('w3018-count--full', n >= MAX_LEN);
  }

  function onInput() {
    updateCount();
    if (!S.convOpen) return; // no one to tell before a conversation exists
    if (!D.input.value) { stopTyping(); return; }
    const now = Date.now();
    if (now - S.typingSentAt >= TYPING_THROTTLE && sendFrame({ type: 'typing', active: true })) {
      S.typingActive = true;
      S.typingSentAt = now;
    }
    clearTimeout(S.typingIdleTimer);
    S.typingIdleTimer = setTimeout(() => stopTyping(), TYPING_IDLE);
  }

  function onInputKey(e) {
    // keyCode 229: an IME is composing (e.g. accents on some mobile keyboards).
    if (e.key !== 'Enter' || e.shiftKey || e.isComposing || e.keyCode === 229) return;
    e.preventDefault();
    sendFromInput();
  }

  /** `tell` false: the conversation is over, a typing frame would only earn an error. */
  function stopTyping(tell = true) {
    clearTimeout(S.typingIdleTimer);
    if (!S.typingActive) return;
    S.typingActive = false;
    if (tell) sendFrame({ type: 'typing', active: false });
  }

  function showPeerTyping() {
    const name = (S.conv && S.conv.counsellor) || 'Un·e conseiller·e';
    const stick = nearBottom();
    D.typing.textContent = name + ' est en train d\'écrire…';
    D.typing.hidden = false;
    if (stick) scrollToEnd();
    clearTimeout(S.peerTypingTimer);
    S.peerTypingTimer = setTimeout(hidePeerTyping, PEER_TYPING_TTL);
  }

  function hidePeerTyping() { clearTimeout(S.peerTypingTimer); D.typing.hidden = true; }

  // ---------------------------------------------------------------- ending, panel, exit

  function askEnd() {
    const stick = nearBottom(); // the list gets shorter: keep the last message in view
    D.end.hidden = true;
    D.confirm.hidden = false;
    D.confirmNo.focus();
    if (stick) scrollToEnd();
  }

  function hideConfirm(focusInput) {
    D.confirm.hidden = true;
    D.end.hidden = !S.convOpen;
    if (focusInput) D.input.focus();
  }

  function confirmEnd() {
    stopTyping();
    const sent = sendFrame({ type: 'end' });
    hideConfirm(true);
    if (!sent) addNote('Pas de connexion pour l\'instant. Réessaie dans un instant.');
  }

  function setOpen(open, moveFocus) {
    S.open = open;
    store(KEY.open, open ? '1' : null);
    D.panel.hidden = !open;
    D.launcherExit.hidden = !open;
    D.root.classList.toggle('w3018-is-open', open);
    D.launcher.setAttribute('aria-expanded', String(open));
    D.launcherText.textContent = open ? 'Réduire le tchat' : 'Parler au 3018';
    if (open) {
      D.badge.hidden = true;
      ensureConnected();
      scrollToEnd();
      if (moveFocus) D.input.focus();
    } else if (moveFocus) {
      D.launcher.focus();
    }
  }

  /** Leave now: no socket, no trace in sessionStorage, no widget, and no way Back. */
  function quickExit() {
    S.exiting = true;
    try {
      [S.reconnectTimer, S.typingIdleTimer, S.peerTypingTimer].forEach(clearTimeout);
      if (S.ws) S.ws.close(1000);
      S.ws = null;
      S.pending = [];
      S.failed.clear();
      clearStorage();
      document.removeEventListener('keydown', onDocumentKey, true);
      window.removeEventListener('online', reconnectNow);
      if (D.root) D.root.remove();
      if (D.link) D.link.remove();
    } finally {
      window.location.replace(CFG.exitUrl);
    }
  }

  function onDocumentKey(e) {
    if (e.key !== 'Escape' || e.repeat) return;
    const now = Date.now();
    if (now - S.lastEsc <= ESC_WINDOW) quickExit();
    else S.lastEsc = now;
  }

  // ---------------------------------------------------------------- start

  function loadStylesheet() {
    // Hidden until styled, so the host page never flashes an unstyled widget.
    const reveal = () => { if (D.root) D.root.hidden = false; };
    D.link = el('link', { rel: 'stylesheet', href: CFG.origin + '/widget/widget.css' });
    D.link.addEventListener('load', reveal);
    D.link.addEventListener('error', reveal);
    setTimeout(reveal, 3000);
    (document.head || document.documentElement).appendChild(D.link);
  }

  function init() {
    if (document.getElementById('w3018-root')) return; // embedded twice
    D.root = el('div', { id: 'w3018-root', hidden: true, lang: 'fr' }, buildPanel(), buildLauncherArea());
    loadStylesheet();
    document.body.appendChild(D.root);
    document.addEventListener('keydown', onDocumentKey, true);
    window.addEventListener('online', reconnectNow);

    S.token = load(KEY.token);
    S.pending = loadPending();
    S.pending.forEach(renderPending);
    renderStatus();
    if (load(KEY.open) === '1') setOpen(true, false);
    else if (S.token || S.pending.length) ensureConnected(); // a conversation may be going on
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
