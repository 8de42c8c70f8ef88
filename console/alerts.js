/*
 * Console 3018, what calls the counsellor's attention: the queue in the top bar (the `queue`
 * frame, docs/protocol.md "Console"), and the opt-in sound and desktop notifications.
 *
 * A notification may show on a lock screen or a shared screen: it names the pseudonym and
 * what happened, never what the teen wrote ("Nouveau message — Jeune 4821", "Conversation
 * transférée — Jeune 4821").
 */
(() => {
  'use strict';

  const app = window.Console3018;
  const { state, el } = app;

  const STORAGE_KEY = '3018.console.notify'; // "on" / "off": the counsellor's choice, per browser
  const TONE_GAP_MS = 1500;                  // a burst of lines makes one tone, not ten
  const TONE_HZ = 660;                       // a soft E5, short: heard, not startling
  const TONE_SECONDS = 0.35;
  const TONE_VOLUME = 0.08;

  const alerts = {
    enabled: readChoice(),
    audio: null,       // one AudioContext, made from the click that turned alerts on
    lastToneAt: 0,
  };

  /* ---------- the queue, for everyone ---------- */

  app.on('reset', () => { state.queue = null; renderQueue(); });
  app.on('tick', () => renderQueueWait());

  // Nothing is shown before the first frame: "0 en attente" would be a guess.
  app.handlers.queue = (frame) => {
    const count = (value) => (Number.isInteger(value) && value > 0 ? value : 0);
    state.queue = {
      waiting: count(frame.waiting),
      raised: count(frame.raised),
      oldestQueuedAt: Number.isFinite(frame.oldest_queued_at) ? frame.oldest_queued_at : null,
    };
    renderQueue();
  };

  function queueText(q) {
    if (q.waiting === 0) return 'Personne en attente';
    let text = q.waiting + ' en attente';
    if (q.raised > 0) text += ' · ' + q.raised + (q.raised > 1 ? ' prioritaires' : ' prioritaire');
    return text;
  }

  function renderQueue() {
    if (!el.queueSummary) return;
    const q = state.queue;
    el.queueSummary.hidden = !q;
    if (!q) return;
    el.queueSummary.classList.toggle('is-waiting', q.waiting > 0);
    el.queueSummary.classList.toggle('is-raised', q.raised > 0);
    app.setText(el.queueCount, queueText(q));
    renderQueueWait();
  }

  // Minutes are enough up there: a number changing every second is noise for 8 hours.
  function renderQueueWait() {
    const q = state.queue;
    if (!q || !el.queueOldest) return;
    const text = q.waiting > 0 && q.oldestQueuedAt != null ? '· la plus longue : ' + minutes(app.serverNow() - q.oldestQueuedAt) : '';
    app.setText(el.queueOldest, text);
  }

  function minutes(ms) {
    const m = Math.floor(Math.max(0, ms) / 60000);
    if (m < 1) return 'moins d’1 min';
    return m < 60 ? m + ' min' : Math.floor(m / 60) + ' h ' + String(m % 60).padStart(2, '0');
  }

  /* ---------- the toggle ---------- */

  function readChoice() {
    try { return localStorage.getItem(STORAGE_KEY) === 'on'; } catch (e) { return false; }
  }

  function saveChoice() {
    try { localStorage.setItem(STORAGE_KEY, alerts.enabled ? 'on' : 'off'); } catch (e) { /* private mode: this tab only */ }
  }

  function renderToggle() {
    el.notifyToggle.setAttribute('aria-pressed', String(alerts.enabled));
    el.notifyToggle.classList.toggle('is-on', alerts.enabled);
  }

  // Browsers start sound and ask for notifications only from a click: both happen here.
  async function onToggle() {
    alerts.enabled = !alerts.enabled;
    saveChoice();
    renderToggle();
    if (!alerts.enabled) return;
    wakeAudio();
    if (!('Notification' in window)) return;
    let permission = Notification.permission;
    if (permission === 'default') permission = await Notification.requestPermission();
    if (permission === 'denied') {
      app.showNotice('Le navigateur bloque les notifications du bureau pour cette page : seul le son est actif.', 'info');
    }
  }

  /* ---------- sound and desktop ---------- */

  function wakeAudio() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    if (!alerts.audio) alerts.audio = new Context();
    if (alerts.audio.state === 'suspended') alerts.audio.resume();
    return alerts.audio;
  }

  // A short sine with a soft attack and fade: made here, no sound file to fetch.
  function tone() {
    const now = Date.now();
    if (now - alerts.lastToneAt < TONE_GAP_MS) return;
    alerts.lastToneAt = now;
    const audio = wakeAudio();
    if (!audio) return;
    const start = audio.currentTime;
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = 'sine';
    osc.frequency.value = TONE_HZ;
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(TONE_VOLUME, start + 0.03);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + TONE_SECONDS);
    osc.connect(gain);
    gain.connect(audio.destination);
    osc.start(start);
    osc.stop(start + TONE_SECONDS + 0.05);
  }

  // One notification per conversation at a time (same tag): a new one replaces the old.
  function desktop(title, conv) {
    if (!('Notification' in window) || Notification.permission !== 'granted') return;
    const note = new Notification(title, { body: 'Console 3018', tag: 'console-3018-' + conv.id, silent: true });
    note.onclick = () => {
      window.focus();
      if (state.conversations.has(conv.id)) app.pane.open(conv.id);
      note.close();
    };
  }

  function alert(what, conv) {
    if (!alerts.enabled || !conv) return;
    tone();
    desktop(what + ' — ' + conv.alias, conv);
  }

  // A colleague's transfer is not a new teen: the counsellor may expect it (ConsoleConv's
  // `transferred_from_colleague`, docs/protocol.md).
  app.on('assigned', (conv) => alert(conv.transferred_from_colleague ? 'Conversation transférée' : 'Nouvelle conversation', conv));
  app.on('teen-line', (conv) => alert('Nouveau message', conv));

  app.on('bind', () => {
    renderToggle();
    el.notifyToggle.addEventListener('click', onToggle);
  });
})();
