/* 3018 — the teen-facing chat widget.
 *
 * Embedded with one tag: <script src="https://gateway.example/widget/widget.js" defer></script>
 * (optional data-exit-url="…" for the quick exit). This file reads that tag, holds the
 * state, loads the widget's parts from the same folder and starts them. The parts change
 * for different reasons, so each has its file (run in this order, no bundler):
 *   widget-exit.js    sessionStorage ("3018.*" only) and the quick exit: the privacy rules;
 *   widget-view.js    the launcher, the panel and the words in it;
 *   widget-socket.js  /ws/widget, the "Widget" part of docs/protocol.md.
 * They share window.W3018 and nothing else. Plain ES2020, no dependency, written for a
 * strict CSP: no inline script or style, so a host page allows the gateway's origin (or its
 * /widget/ folder) in script-src, as it does for this file; every text from the network or
 * the teen goes through textContent, never innerHTML.
 */
(function () {
  'use strict';

  if (window.W3018) return; // embedded twice
  const script = document.currentScript || findOwnScript();
  const src = new URL(script && script.src ? script.src : location.href, location.href);
  const PARTS = ['widget-exit.js', 'widget-view.js', 'widget-socket.js'];

  const W = {
    cfg: {
      origin: src.origin,
      wsUrl: (src.protocol === 'https:' ? 'wss://' : 'ws://') + src.host + '/ws/widget',
      exitAttribute: script && script.getAttribute('data-exit-url'), // checked by widget-exit.js
    },
    /** All mutable state of the widget. */
    S: {
      ws: null, sockId: 0, ready: false, welcomed: false, attempt: 0, reconnectTimer: 0,
      token: null, open: false, line: null, lineFromWelcome: false, lineFetched: false,
      maxLen: null, // welcome.limits.max_message_chars
      // The protocol's seq restarts at 1 with each conversation: `epoch` counts the
      // conversations this page has shown, `seen` maps seq -> element for the current one.
      conv: null, convOpen: false, hadConv: false, epoch: 0, seen: new Map(), maxSeq: 0,
      pending: [], failed: new Map(), resendTimer: 0, resendAttempt: 0, outageNoted: false,
      disconnected: false, // the socket dropped and no welcome since: the offline banner shows
      handedBack: false,   // queued again after an écoutant·e had the conversation
      typingActive: false, typingSentAt: 0, typingIdleTimer: 0, peerTypingTimer: 0,
      lastEsc: 0, exiting: false,
    },
    D: {}, // DOM references
  };
  window.W3018 = W;

  function findOwnScript() {
    const all = document.querySelectorAll('script[src*="/widget/widget.js"]');
    return all[all.length - 1] || null;
  }

  /** Inserted scripts with async=false run in insertion order; start once the last has run. */
  function loadParts(then) {
    let left = PARTS.length;
    for (const name of PARTS) {
      const part = document.createElement('script');
      part.src = W.cfg.origin + '/widget/' + name;
      part.async = false;
      part.addEventListener('load', () => { left -= 1; if (left === 0) then(); });
      (document.head || document.documentElement).appendChild(part);
    }
  }

  function start() {
    const { S, D } = W;
    if (document.getElementById('w3018-root')) return; // embedded twice
    // A named region (a landmark of its own, so no content sits outside landmarks), and the
    // first child of <body>: the quick exit and the launcher are the first Tab stops, not
    // the last ones after the whole host page.
    D.root = W.el('div', { id: 'w3018-root', hidden: true, lang: 'fr', role: 'region', 'aria-label': 'Tchat du 3018' },
      W.buildLauncherArea(), W.buildPanel());
    W.loadStylesheet();
    document.body.insertBefore(D.root, document.body.firstChild);
    document.addEventListener('keydown', W.onDocumentKey, true);
    window.addEventListener('online', W.reconnectNow);
    window.addEventListener('offline', W.wentOffline);
    W.followVisualViewport();

    S.token = W.load(W.KEY.token);
    S.pending = W.loadPending();
    S.pending.forEach(W.renderPending);
    W.renderStatus();
    W.renderOffline();
    if (W.load(W.KEY.open) === '1') W.setOpen(true, false);
    else if (S.token || S.pending.length) W.ensureConnected(); // a conversation may be going on
  }

  loadParts(() => {
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
    else start();
  });
})();
