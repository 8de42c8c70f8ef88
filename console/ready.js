/*
 * Console 3018, ready answers and orientations in the reply box (issue #12): typing "/" at
 * the start of the reply box, or the "Réponses prêtes" button, opens a searchable list
 * (↑ ↓, Entrée, Échap). Choosing one inserts its text into the reply box for editing, with
 * {conseiller} replaced by my display name: nothing is ever sent by itself. An orientation
 * also ticks its outcome on the conversation's pending qualification (casework.js).
 * The lists come with `init.casework` (config.yaml, `casework.ready_answers` / `orientations`).
 */
(() => {
  'use strict';

  const app = window.Console3018;
  const { state, el, make } = app;

  const MAX_QUERY = 40;    // a "/word" longer than this is text, not a search
  const PREVIEW_CHARS = 90;

  let items = [];          // [{kind, key, label, text, outcome?}] orientations first
  let shown = [];          // the items matching the search, in the list's order
  let active = 0;          // index in `shown`
  let caret = 0;           // where the text goes in the reply box
  let bySlash = false;     // opened by typing "/": Échap gives the "/" back

  app.on('reset', () => { items = []; closePanel(false); });

  app.on('init', (frame) => {
    const casework = frame.casework && typeof frame.casework === 'object' ? frame.casework : {};
    const orientations = (Array.isArray(casework.orientations) ? casework.orientations : [])
      .filter((o) => o && typeof o.text === 'string' && o.command)
      .map((o) => ({ kind: 'orientation', key: String(o.command), label: String(o.label || o.command), text: o.text, outcome: o.outcome }));
    const answers = (Array.isArray(casework.ready_answers) ? casework.ready_answers : [])
      .filter((a) => a && typeof a.text === 'string' && a.key)
      .map((a) => ({ kind: 'answer', key: String(a.key), label: String(a.label || a.key), text: a.text }));
    items = orientations.concat(answers);
    el.readyOpen.hidden = items.length === 0;
  });

  app.on('opened', () => closePanel(false));

  /* ---------- matching ---------- */

  // Case and accents do not matter: "/penal" finds "Pénal".
  const fold = (s) => String(s).normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase();

  // The exact shortcut first (`/3114` + Entrée inserts that one), then shortcuts starting
  // with the search, then labels and texts containing it.
  function rank(item, q) {
    const key = fold(item.key);
    if (!q) return 3;
    if (key === q) return 0;
    if (key.startsWith(q)) return 1;
    if (fold(item.label).includes(q)) return 2;
    return fold(item.text).includes(q) ? 3 : -1;
  }

  function search(query) {
    const q = fold(query.trim());
    return items.map((item, i) => [rank(item, q), i, item])
      .filter(([r]) => r >= 0)
      .sort((a, b) => a[0] - b[0] || a[1] - b[1])
      .map(([, , item]) => item);
  }

  /* ---------- the panel ---------- */

  function openPanel(query) {
    if (!items.length || !state.openId || !app.canReply(state.openId)) return false;
    caret = el.replyInput.selectionStart ?? el.replyInput.value.length;
    el.readyPanel.hidden = false;
    el.readyOpen.setAttribute('aria-expanded', 'true');
    el.readySearch.value = query;
    render();
    el.readySearch.focus();
    return true;
  }

  // Échap gives back what was typed ("/" and the search) so nothing is lost.
  function closePanel(giveBack) {
    if (el.readyPanel.hidden) return;
    const typed = el.readySearch.value;
    el.readyPanel.hidden = true;
    el.readyOpen.setAttribute('aria-expanded', 'false');
    el.readySearch.removeAttribute('aria-activedescendant');
    if (giveBack === 'typed') insert('/' + typed);
    else if (giveBack) el.replyInput.focus();
  }

  function render() {
    shown = search(el.readySearch.value);
    active = Math.min(active, Math.max(0, shown.length - 1));
    el.readyList.replaceChildren(...shown.map(option));
    el.readyEmpty.hidden = shown.length > 0;
    markActive();
  }

  function option(item, i) {
    const li = make('li', 'ready-item');
    li.id = 'ready-option-' + i;
    li.setAttribute('role', 'option');
    li.dataset.index = String(i);
    li.dataset.kind = item.kind;
    const top = make('span', 'ready-top');
    top.append(make('span', 'ready-key', '/' + item.key), make('span', 'ready-label', item.label));
    if (item.kind === 'orientation') top.append(make('span', 'ready-kind', 'orientation'));
    li.append(top, make('span', 'ready-preview', fill(item.text).slice(0, PREVIEW_CHARS)));
    return li;
  }

  function markActive() {
    el.readyList.querySelectorAll('.ready-item').forEach((li, i) => {
      const on = i === active;
      li.setAttribute('aria-selected', String(on));
      if (on) li.scrollIntoView({ block: 'nearest' });
    });
    if (shown.length) el.readySearch.setAttribute('aria-activedescendant', 'ready-option-' + active);
    else el.readySearch.removeAttribute('aria-activedescendant');
  }

  /* ---------- choosing ---------- */

  const fill = (text) => String(text).replace(/\{conseiller\}/g, (state.me && state.me.display_name) || '');

  function choose(item) {
    if (!item) return;
    const convId = state.openId;
    closePanel(false);
    insert(fill(item.text));
    if (item.kind === 'orientation' && item.outcome) {
      app.tickOutcome?.(convId, item.outcome);
      app.setText(el.readyStatus, 'Suite « ' + item.label + ' » cochée dans la qualification.');
    } else {
      app.setText(el.readyStatus, '');
    }
  }

  // Into the reply box where the caret was, for editing: the counsellor still sends it.
  function insert(text) {
    const box = el.replyInput;
    const at = Math.min(caret, box.value.length);
    const max = Number.isFinite(box.maxLength) && box.maxLength > 0 ? box.maxLength : Infinity;
    box.value = (box.value.slice(0, at) + text + box.value.slice(at)).slice(0, max);
    box.focus();
    box.setSelectionRange(at + text.length, at + text.length);
    box.dispatchEvent(new Event('input', { bubbles: true })); // the counter (thread.js)
  }

  /* ---------- keys ---------- */

  // "/" typed as the first character of the reply box opens the list; the search goes on there.
  function onReplyInput(event) {
    if (event.inputType !== 'insertText' || event.data !== '/' || !el.readyPanel.hidden) return;
    const box = el.replyInput;
    if (box.selectionStart !== 1 || box.value[0] !== '/') return;
    box.value = box.value.slice(1);
    box.setSelectionRange(0, 0);
    bySlash = true;
    if (!openPanel('')) { box.value = '/' + box.value; box.setSelectionRange(1, 1); return; }
    box.dispatchEvent(new Event('input', { bubbles: true })); // the counter: the "/" is not text
  }

  function onSearchKeydown(event) {
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      if (!shown.length) return;
      active = (active + (event.key === 'ArrowDown' ? 1 : shown.length - 1)) % shown.length;
      markActive();
    } else if (event.key === 'Enter') {
      event.preventDefault();
      choose(shown[active]);
    } else if (event.key === 'Escape') {
      event.preventDefault();
      event.stopPropagation();
      closePanel(bySlash ? 'typed' : true);
    } else if (event.key === 'Tab') {
      closePanel(false);
    }
  }

  app.on('bind', () => {
    el.replyInput.addEventListener('input', onReplyInput);
    el.readyOpen.addEventListener('click', () => {
      if (!el.readyPanel.hidden) { closePanel(true); return; }
      bySlash = false;
      openPanel('');
    });
    el.readySearch.addEventListener('input', () => { active = 0; render(); if (el.readySearch.value.length > MAX_QUERY) closePanel('typed'); });
    el.readySearch.addEventListener('keydown', onSearchKeydown);
    el.readyPanel.addEventListener('focusout', (e) => { if (!el.readyPanel.contains(e.relatedTarget)) closePanel(false); });
    el.readyList.addEventListener('mousedown', (e) => e.preventDefault()); // keep the focus in the search
    el.readyList.addEventListener('click', (e) => {
      const li = e.target.closest('.ready-item');
      if (li) choose(shown[Number(li.dataset.index)]);
    });
  });
})();
