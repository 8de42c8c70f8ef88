/* 3018 widget, what the tab keeps and how to leave without a trace (loaded by widget.js).
 *
 * Privacy: the session token, the open/closed panel and the unacked messages live in
 * sessionStorage under "3018.*" only (gone when the tab closes); the quick exit wipes them,
 * closes the socket, removes the widget and replaces this page in the history.
 */
(function (W) {
  'use strict';

  const { S, D, cfg } = W;
  const DEFAULT_EXIT = 'https://www.google.fr/';
  const ESC_WINDOW = 800; // two Escapes within this = quick exit
  W.KEY = { token: '3018.token', open: '3018.open', pending: '3018.pending' };

  /** Only an http(s) address: a "javascript:" exit would run on the host page. */
  function safeExitUrl(value) {
    try {
      const url = new URL(value || DEFAULT_EXIT, location.href);
      return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : DEFAULT_EXIT;
    } catch (_) { return DEFAULT_EXIT; }
  }
  cfg.exitUrl = safeExitUrl(cfg.exitAttribute);

  // ---------------------------------------------------------------- sessionStorage

  // Storage may be disabled (privacy settings): the widget then works for this page only.
  W.load = function (key) {
    try { return sessionStorage.getItem(key); } catch (_) { return null; }
  };

  W.store = function (key, value) {
    try { if (value == null) sessionStorage.removeItem(key); else sessionStorage.setItem(key, value); } catch (_) { /* */ }
  };

  function clearStorage() {
    try {
      for (let i = sessionStorage.length - 1; i >= 0; i--) {
        const key = sessionStorage.key(i);
        if (key && key.startsWith('3018.')) sessionStorage.removeItem(key);
      }
    } catch (_) { /* nothing stored */ }
  }

  W.loadPending = function () {
    try {
      const list = JSON.parse(W.load(W.KEY.pending) || '[]');
      return list.filter((p) => p && typeof p.client_id === 'string' && typeof p.text === 'string');
    } catch (_) { return []; } // not JSON, not a list: start afresh
  };

  W.savePending = function () {
    const list = S.pending.map((p) => ({ client_id: p.client_id, text: p.text, at: p.at }));
    W.store(W.KEY.pending, list.length ? JSON.stringify(list) : null);
  };

  // ---------------------------------------------------------------- quick exit

  /** Leave now: no socket, no trace in sessionStorage, no widget, and no way Back. */
  W.quickExit = function () {
    S.exiting = true;
    try {
      [S.reconnectTimer, S.typingIdleTimer, S.peerTypingTimer].forEach(clearTimeout);
      if (S.ws) S.ws.close(1000);
      S.ws = null;
      S.pending = [];
      S.failed.clear();
      clearStorage();
      document.removeEventListener('keydown', W.onDocumentKey, true);
      window.removeEventListener('online', W.reconnectNow);
      window.removeEventListener('offline', W.wentOffline);
      if (D.root) D.root.remove();
      if (D.link) D.link.remove();
      delete window.W3018;
    } finally {
      window.location.replace(cfg.exitUrl);
    }
  };

  W.onDocumentKey = function (e) {
    if (e.key !== 'Escape' || e.repeat) return;
    const now = Date.now();
    if (now - S.lastEsc <= ESC_WINDOW) W.quickExit();
    else S.lastEsc = now;
  };
})(window.W3018);
