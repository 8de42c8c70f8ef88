/*
 * Console 3018, frames awaiting their answer. A request is a frame sent and remembered
 * under a key until the server settles it: with its answer frame, with an `error` naming it
 * (docs/protocol.md: "the ids are those of the refused frame"), or by the socket dropping,
 * after which the answer may never come. Replies, closing, transfers, reassignments,
 * erasures, abuse marks and lifts each keep one set of these; this file is the only place
 * that routes answers, errors and drops to them.
 *
 * Loaded after shared.js, before the scripts that make requests.
 */
(() => {
  'use strict';

  const app = window.Console3018;
  const kinds = []; // in creation order: the first kind that knows an error's key takes it

  // An error about a reply names its client_id (and its conversation): only replies take it.
  const byConversation = (frame) => (frame.client_id == null ? frame.conversation_id : undefined);

  /**
   * One kind of request. `spec`:
   *   answer:   the frame type that settles one (omitted: the caller settles with take());
   *   key:      frame -> the key an answer or an error names (default: its conversation_id);
   *   inOrder:  its errors name no id (lift_abuse): an error naming none settles the oldest;
   *   answered(frame, sent), refused(frame, sent): `sent` is what send()/add() remembered,
   *             undefined for an answer to nothing we remember (another tab, before a reset);
   *   lost([sent…]): the socket dropped while these waited;
   *   retried:  true: they stay until answered or given up by the caller (replies: re-sent
   *             after the next init, a refused one offered again), so neither an error nor a
   *             drop forgets them.
   */
  app.requests = (spec) => {
    const waiting = new Map(); // key -> what the caller remembers, oldest first
    const keyOf = spec.key || byConversation;

    const take = (key) => {
      const sent = waiting.get(key);
      waiting.delete(key);
      return sent;
    };

    const kind = {
      /** Send the frame and remember it; false (and nothing remembered) when offline. */
      send(key, frame, sent = {}) {
        if (!app.send(frame)) return false;
        waiting.set(key, sent);
        return true;
      },
      add(key, sent) { waiting.set(key, sent); }, // remembered, sent later (a reply offline)
      has: (key) => waiting.has(key),
      get: (key) => waiting.get(key),
      take,
      forEach: (fn) => waiting.forEach(fn),
      get size() { return waiting.size; },

      // The key this error names, if it is about one of ours.
      claim(frame) {
        const key = keyOf(frame);
        if (key != null && waiting.has(key)) return key;
        const named = frame.conversation_id != null || frame.client_id != null;
        return spec.inOrder && !named && waiting.size ? waiting.keys().next().value : undefined;
      },
      drop() {
        if (spec.retried || !waiting.size) return;
        const sent = Array.from(waiting.values());
        waiting.clear();
        if (spec.lost) spec.lost(sent);
      },
      clear: () => waiting.clear(),
      refuse(frame, key) {
        const sent = spec.retried ? waiting.get(key) : take(key);
        if (spec.refused) spec.refused(frame, sent);
      },
    };

    if (spec.answer) app.handlers[spec.answer] = (frame) => spec.answered(frame, take(keyOf(frame)));
    kinds.push(kind);
    return kind;
  };

  // True when a request took the error: console.js then shows no notice of its own.
  app.on('error', (frame) => {
    for (const kind of kinds) {
      const key = kind.claim(frame);
      if (key !== undefined) { kind.refuse(frame, key); return true; }
    }
    return false;
  });
  app.on('disconnected', () => kinds.forEach((kind) => kind.drop()));
  app.on('reset', () => kinds.forEach((kind) => kind.clear()));
})();
