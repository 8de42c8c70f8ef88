/*
 * Console 3018, shared part: the namespace the other scripts hang on (window.Console3018),
 * the state they share, the socket (connect, backoff, frames to app.handlers) and small
 * helpers (DOM building, times, reply windows, hooks).
 *
 * Load order (index.html, all `defer`): shared.js, requests.js, console.js, thread.js,
 * transfer.js, alerts.js (queue, notifications), leaving.js (logout / offline with conversations
 * held), abuse.js. console.js boots on DOMContentLoaded, i.e. once every script has run.
 * Every text that comes from the server is rendered with textContent, never as HTML.
 */
(() => {
  'use strict';

  const app = {
    state: {},     // the console's state (console.js resets it at each login)
    el: {},        // elements by id, camel-cased: "reply-input" -> el.replyInput
    handlers: {},  // server frame type -> function(frame)
    pane: {},      // the open conversation (thread.js)
  };
  window.Console3018 = app;

  const CHANNELS = { web: 'Tchat web', messenger: 'Messenger', whatsapp: 'WhatsApp' };
  const PRESENCE = { available: 'disponible', paused: 'en pause', offline: 'hors ligne' };

  // Meta's reply windows (gateway/windows.py): free replies for 24 h after the teen's last
  // message; Messenger then allows 6 more days with the HUMAN_AGENT tag.
  const HOUR_MS = 3600 * 1000;
  const DAY_MS = 24 * HOUR_MS;
  const HUMAN_AGENT_MS = 6 * DAY_MS; // after window_closes_at, i.e. 7 days after the teen wrote
  const WINDOW_ORDER = ['open', 'human_agent', 'closed'];

  /* ---------- hooks between the scripts ---------- */

  const hooks = new Map();

  // Named moments: reset, bind, start, init, tick, disconnected, error, removed, me (presence
  // shown), list (list rendered), assigned (a conversation is new here), teen-line.
  app.on = (name, fn) => {
    if (!hooks.has(name)) hooks.set(name, []);
    hooks.get(name).push(fn);
  };

  // Calls every listener; true when one of them says it took care of it (e.g. an error).
  app.emit = (name, ...args) => {
    let taken = false;
    for (const fn of hooks.get(name) || []) taken = fn(...args) === true || taken;
    return taken;
  };

  /* ---------- the page's socket ---------- */

  // Capped exponential backoff with jitter, so that every console does not return at once
  // (docs/protocol.md "Retries": 1–2 s, 2–4 s … up to 15 s).
  const BACKOFF_MIN_MS = 1000;
  const BACKOFF_MAX_MS = 15000;
  const RESTARTING = 1012; // the server shuts down: another one takes us at once

  /**
   * The page's one socket to `path`, kept open until state.stopped: frames go to app.handlers
   * by type, a drop emits 'disconnected', shows the banner, calls spec.onClose() and tries
   * again after the backoff. A refused upgrade (session over, role lost) only shows as close
   * code 1006, so GET /api/console/me comes first and spec.mayReconnect(response) says whether
   * to go on (false: the page has shown its login or gate). The page's init frame resets
   * state.attempt. Uses state.ws, connected, stopped, attempt, reconnectTimer.
   */
  app.openSocket = (path, spec) => {
    const { state } = app; // the pages reset its fields (Object.assign), never the object

    function connect() {
      if (state.stopped) return;
      const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
      const ws = new WebSocket(scheme + '//' + location.host + path);
      state.ws = ws;
      ws.onmessage = (event) => {
        if (ws !== state.ws) return;
        const frame = onFrame(event.data);
        if (frame && frame.type === 'init') heartbeat(ws, frame.heartbeat_seconds);
      };
      ws.onclose = (event) => {
        if (ws !== state.ws) return;
        if (event.code === RESTARTING) state.attempt = 0;
        dropped();
      };
    }

    // The server closes a console socket silent for `console.idle_seconds` (1001 "idle", a
    // security event); the page says it is there every `init.heartbeat_seconds`, a third of
    // that. A socket closed anyway is a drop like any other: reconnect, never a logout.
    function heartbeat(ws, seconds) {
      clearInterval(ws.heartbeatTimer);
      if (!(seconds > 0)) return;
      ws.heartbeatTimer = setInterval(() => {
        if (ws.readyState === WebSocket.OPEN) ws.send('{"type":"heartbeat"}');
        else if (ws.readyState !== WebSocket.CONNECTING) clearInterval(ws.heartbeatTimer);
      }, seconds * 1000);
    }

    function dropped() {
      state.ws = null;
      state.connected = false;
      app.emit('disconnected');
      if (state.stopped) return;
      app.el.connectionBanner.hidden = false;
      if (spec.onClose) spec.onClose();
      const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** state.attempt);
      state.attempt += 1;
      state.reconnectTimer = setTimeout(reconnect, ceiling / 2 + Math.random() * ceiling / 2);
    }

    async function reconnect() {
      if (state.stopped) return;
      try {
        const res = await fetch('/api/console/me', { method: 'GET', credentials: 'same-origin' });
        if (state.stopped) return;
        if (await spec.mayReconnect(res)) connect();
      } catch (e) {
        if (!state.stopped) dropped();
      }
    }

    return { connect, dropped };
  };

  function onFrame(data) {
    let frame;
    try { frame = JSON.parse(data); } catch (e) { return; }
    const handler = frame && app.handlers[frame.type];
    if (handler) handler(frame); // other types (pong, the other page's frames) are ignored
    return frame;
  }

  // False when offline: the caller decides what to tell.
  app.send = (frame) => {
    const { state } = app;
    if (!state.connected || !state.ws || state.ws.readyState !== WebSocket.OPEN) return false;
    state.ws.send(JSON.stringify(frame));
    return true;
  };

  /* ---------- DOM ---------- */

  app.make = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };

  app.button = (className, text, label) => {
    const node = app.make('button', className, text);
    node.type = 'button';
    if (label) node.setAttribute('aria-label', label);
    return node;
  };

  // Re-setting the same text would make screen readers announce it again, every second.
  app.setText = (node, text) => {
    if (node.textContent !== text) node.textContent = text;
  };

  // The error line of a form: its text, hidden when there is none.
  app.setError = (node, text) => {
    node.textContent = text;
    node.hidden = !text;
  };

  app.byAttr = (name, value) => '[' + name + '="' + CSS.escape(String(value)) + '"]';

  // Lists rebuilt on every change lose keyboard focus: find the control again by its item's
  // data-id and its own data-role.
  app.focusKey = (container, itemSelector) => {
    const active = document.activeElement;
    if (!active || !container.contains(active) || !active.dataset.role) return null;
    const item = active.closest(itemSelector);
    return item ? itemSelector + app.byAttr('data-id', item.dataset.id) + ' ' + app.byAttr('data-role', active.dataset.role) : null;
  };

  app.restoreFocus = (container, key) => {
    if (key) container.querySelector(key)?.focus();
  };

  app.randomId = () => {
    const bytes = crypto.getRandomValues(new Uint8Array(16)); // randomUUID needs https
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  };

  /* ---------- forms under the open conversation ---------- */

  const paneForms = [];

  /**
   * A form opened by a button above the open conversation (transfer, abuse mark). One at a
   * time, and never beside the close question; it closes when the counsellor opens another
   * conversation, or when its own closes or leaves. `spec`: element keys in app.el (form,
   * opener, cancel), reset() for the fields, opened(conv) once shown.
   */
  app.paneForm = (spec) => {
    const f = {
      convId: null, // the conversation the form is open for
      open() {
        const conv = app.state.conversations.get(app.state.openId);
        if (!conv || conv.state === 'closed') return;
        if (f.convId !== conv.id) spec.reset();
        f.convId = conv.id;
        app.el.closeBox.hidden = true;
        paneForms.forEach((other) => { if (other !== f) other.close(false); });
        app.el[spec.form].hidden = false;
        app.el[spec.opener].setAttribute('aria-expanded', 'true');
        spec.opened(conv);
      },
      close(focusOpener) {
        const form = app.el[spec.form];
        const opener = app.el[spec.opener];
        if (form.hidden) return;
        form.hidden = true;
        opener.setAttribute('aria-expanded', 'false');
        f.convId = null;
        if (focusOpener && !opener.hidden) opener.focus();
      },
    };
    app.on('bind', () => {
      app.el[spec.opener].addEventListener('click', () => (app.el[spec.form].hidden ? f.open() : f.close(true)));
      app.el[spec.form].addEventListener('keydown', (e) => { if (e.key === 'Escape') f.close(true); });
      app.el[spec.cancel].addEventListener('click', () => f.close(true));
    });
    paneForms.push(f);
    return f;
  };

  app.on('reset', () => paneForms.forEach((f) => { f.convId = null; }));
  app.on('opened', (id) => paneForms.forEach((f) => { if (f.convId && f.convId !== id) f.close(false); }));
  app.on('removed', (id) => paneForms.forEach((f) => { if (f.convId === id) f.close(false); }));
  app.on('asking-close', () => paneForms.forEach((f) => f.close(false)));
  app.on('head', (conv) => { if (conv.state === 'closed') paneForms.forEach((f) => f.close(false)); });

  /* ---------- words and times ---------- */

  app.channelLabel = (channel) => CHANNELS[channel] || String(channel || '');
  app.presenceLabel = (presence) => PRESENCE[presence] || String(presence || '');
  app.CHANNELS = CHANNELS;

  app.formatWait = (ms) => {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + ' s';
    const m = Math.floor(s / 60);
    if (m < 60) return m + ' min ' + String(s % 60).padStart(2, '0') + ' s';
    return Math.floor(m / 60) + ' h ' + String(m % 60).padStart(2, '0') + ' min';
  };

  app.formatClock = (at) => new Date(at).toLocaleTimeString('fr-FR', { hour: '2-digit', minute: '2-digit' });

  // A date and time as the helpline lives it, whatever the computer's own time zone:
  // "mercredi 25 novembre à 10:00" (Europe/Paris).
  const PARIS_DATE = new Intl.DateTimeFormat('fr-FR', {
    timeZone: 'Europe/Paris', weekday: 'long', day: 'numeric', month: 'long', hour: '2-digit', minute: '2-digit',
  });
  app.formatParisDate = (at) => PARIS_DATE.format(new Date(at));

  // "Prioritaire — Idées suicidaires (« envie de mourir »)": the reason comes from the triage config.
  app.priorityText = (item) => {
    if (!item || !(item.priority > 0)) return '';
    return item.priority_reason ? 'Prioritaire — ' + item.priority_reason : 'Prioritaire';
  };

  app.skillText = (item) => (item && item.required_skill ? 'Compétence requise : ' + item.required_skill : '');

  /* ---------- conversations and reply windows ---------- */

  app.serverNow = () => Date.now() + (app.state.clockOffset || 0);

  // A limit the server announces (`init.limits`): a positive whole number, or null if absent.
  app.limitFrom = (limits, name) => {
    const value = limits && limits[name];
    return Number.isInteger(value) && value > 0 ? value : null;
  };

  // The longest line the server accepts; none is known before the first init.
  app.maxMessageChars = () => app.state.maxMessageChars ?? Infinity;
  app.HOUR_MS = HOUR_MS;
  app.DAY_MS = DAY_MS;

  app.isClosed = (id) => !app.state.conversations.has(id) || app.state.conversations.get(id).state === 'closed';
  app.canReply = (id) => !app.isClosed(id) && app.replyWindow(app.state.conversations.get(id)) !== 'closed';

  // The reply window now: null for the widget. The server's `window` was right when sent and
  // time only pushes it towards "closed", so keep the later of it and the clock's verdict.
  app.replyWindow = (conv) => {
    if (!conv || !conv.window || conv.channel === 'web') return null;
    if (conv.window_closes_at == null) return conv.window;
    const late = app.serverNow() - conv.window_closes_at;
    const byClock = late < 0 ? 'open'
      : conv.channel === 'messenger' && late < HUMAN_AGENT_MS ? 'human_agent' : 'closed';
    return WINDOW_ORDER[Math.max(WINDOW_ORDER.indexOf(conv.window), WINDOW_ORDER.indexOf(byClock))];
  };

  app.windowLeft = (conv) => conv.window_closes_at - app.serverNow();
  app.windowSoon = (conv) => conv.state !== 'closed' && app.replyWindow(conv) === 'open'
    && conv.window_closes_at != null && app.windowLeft(conv) < HOUR_MS;
})();
