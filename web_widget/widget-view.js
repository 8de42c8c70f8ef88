/* 3018 widget, what the teen sees: the launcher, the panel and the words in it (loaded by
 * widget.js). Every text from the network or the teen goes through textContent /
 * createTextNode, never innerHTML; no inline handlers, no style attributes (visibility uses
 * the `hidden` attribute), so the widget runs under a strict CSP.
 */
(function (W) {
  'use strict';

  const { S, D, cfg } = W;
  const PEER_TYPING_TTL = 15000; // hide "… est en train d'écrire" if active:false got lost
  const FROM = new Set(['teen', 'counsellor', 'system']);
  const CLOSED_TEXT = 'La conversation est terminée. Tu peux nous réécrire quand tu veux.';
  const TIME = new Intl.DateTimeFormat('fr-FR', { hour: '2-digit', minute: '2-digit' });

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
  W.el = el;

  function exitControl(id) {
    const button = el('button', { type: 'button', id, class: 'w3018-exit', 'aria-describedby': id + '-hint' },
      el('span', { class: 'w3018-exit-icon', 'aria-hidden': 'true' }, '✕'), ' Quitter vite');
    button.addEventListener('click', W.quickExit);
    return el('div', { class: 'w3018-exit-box' }, button,
      el('span', { id: id + '-hint', class: 'w3018-exit-hint' }, 'Quitte la page tout de suite (Échap ×2)'));
  }

  function tel(number) { return el('a', { href: 'tel:' + number, class: 'w3018-tel' }, number); }

  W.buildLauncherArea = function () {
    D.launcherText = el('span', {}, 'Parler au 3018');
    D.badge = el('span', { class: 'w3018-badge', hidden: true }, 'Nouveau message');
    D.launcher = el('button', { type: 'button', id: 'w3018-launcher', class: 'w3018-launcher',
      'aria-controls': 'w3018-panel', 'aria-expanded': 'false' },
    el('span', { class: 'w3018-launcher-icon', 'aria-hidden': 'true' }), D.launcherText, D.badge);
    D.launcher.addEventListener('click', () => W.setOpen(!S.open, true));
    D.launcherExit = exitControl('w3018-exit-launcher');
    D.launcherExit.hidden = true;
    return el('div', { class: 'w3018-launcher-area' }, D.launcherExit, D.launcher);
  };

  function buildHeader() {
    const minimise = el('button', { type: 'button', class: 'w3018-minimise', 'aria-label': 'Réduire le tchat' },
      el('span', { 'aria-hidden': 'true' }, '▾'));
    minimise.addEventListener('click', () => W.setOpen(false, true));
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
    D.confirmNo.addEventListener('click', () => W.hideConfirm(true));
    yes.addEventListener('click', () => W.confirmEnd());
    D.confirm = el('div', { id: 'w3018-confirm', class: 'w3018-confirm', role: 'group',
      'aria-labelledby': 'w3018-confirm-q', hidden: true },
    el('p', { id: 'w3018-confirm-q' }, 'Tu veux vraiment terminer la conversation ?'), yes, D.confirmNo);
    return D.confirm;
  }

  // No maxlength yet: the server says its limit in `welcome` (W.setLimit).
  function buildComposer() {
    D.input = el('textarea', { id: 'w3018-input', class: 'w3018-input', rows: '2',
      placeholder: 'Écris ton message…', enterkeyhint: 'send', 'aria-describedby': 'w3018-count' });
    D.count = el('span', { id: 'w3018-count', class: 'w3018-count' });
    D.send = el('button', { type: 'submit', id: 'w3018-send', class: 'w3018-send' }, 'Envoyer');
    D.end = el('button', { type: 'button', id: 'w3018-end', class: 'w3018-end', hidden: true,
      'aria-label': 'Terminer la conversation' }, 'Terminer');
    D.end.addEventListener('click', askEnd);
    D.input.addEventListener('input', () => W.onInput());
    D.input.addEventListener('keydown', onInputKey);
    const form = el('form', { class: 'w3018-composer', novalidate: true },
      el('label', { for: 'w3018-input', class: 'w3018-sr' }, 'Ton message'),
      D.input, el('div', { class: 'w3018-composer-bar' }, D.count, D.end, D.send));
    form.addEventListener('submit', (e) => { e.preventDefault(); W.sendFromInput(); });
    return form;
  }

  W.buildPanel = function () {
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
  };

  W.loadStylesheet = function () {
    // Hidden until styled, so the host page never flashes an unstyled widget.
    const reveal = () => { if (D.root) D.root.hidden = false; };
    D.link = el('link', { rel: 'stylesheet', href: cfg.origin + '/widget/widget.css' });
    D.link.addEventListener('load', reveal);
    D.link.addEventListener('error', reveal);
    setTimeout(reveal, 3000);
    (document.head || document.documentElement).appendChild(D.link);
  };

  // ---------------------------------------------------------------- messages

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

  W.validMessage = function (m) {
    return !!m && Number.isInteger(m.seq) && FROM.has(m.from) && typeof m.text === 'string';
  };

  /** Show a stored message (MessageView); `node` is the teen's pending bubble when acked. */
  W.place = function (m, node) {
    const stick = nearBottom() || !!node;
    node = node || bubble(m.from, m.author, m.text);
    node.setAttribute('data-seq', String(m.seq));
    node.setAttribute('data-conv', String(S.epoch));
    insertConfirmed(node, m.seq);
    W.setUnconfirmed(node, null);
    node.querySelector('.w3018-meta').textContent = formatTime(m.at);
    S.seen.set(m.seq, node);
    S.maxSeq = Math.max(S.maxSeq, m.seq);
    if (stick) scrollToEnd();
  };

  W.showMessage = function (m) {
    if (!W.validMessage(m) || S.seen.has(m.seq)) return; // the server resent one we show
    W.place(m);
    if (m.from === 'counsellor') W.hidePeerTyping();
    if (!S.open && m.from !== 'teen') D.badge.hidden = false;
  };

  W.bubbleFor = function (clientId) { // compared, not put in a selector: the id comes from the network
    return Array.from(D.messages.querySelectorAll('[data-client-id]'))
      .find((n) => n.getAttribute('data-client-id') === clientId) || null;
  };

  /** A teen bubble not stored yet: 'pending' (envoi…), 'failed' (Réessayer) or null (stored). */
  W.setUnconfirmed = function (node, how) {
    node.classList.toggle('w3018-pending', how === 'pending');
    node.classList.toggle('w3018-failed', how === 'failed');
    const retry = node.querySelector('.w3018-retry');
    if (how !== 'failed' && retry) retry.remove();
    if (!how) return;
    node.querySelector('.w3018-meta').textContent = how === 'pending' ? 'envoi…' : 'Pas envoyé.';
    if (how === 'failed' && !retry) {
      const button = el('button', { type: 'button', class: 'w3018-retry' }, 'Réessayer');
      button.addEventListener('click', () => W.retrySend(node.getAttribute('data-client-id')));
      node.appendChild(button);
    }
  };

  W.renderPending = function (p) {
    const node = bubble('teen', null, p.text);
    node.setAttribute('data-client-id', p.client_id);
    W.setUnconfirmed(node, 'pending');
    D.messages.appendChild(node);
    scrollToEnd();
  };

  /** A local line (error, notice): not a stored message, so no data-seq. */
  W.addNote = function (text, beforePending) {
    const stick = nearBottom();
    const ref = beforePending ? D.messages.querySelector('.w3018-pending') : null;
    D.messages.insertBefore(el('p', { class: 'w3018-note', 'data-from': 'system' }, text), ref);
    if (stick) scrollToEnd();
  };

  // ---------------------------------------------------------------- status, line, typing

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

  W.renderStatus = function () { D.status.textContent = statusText(); };

  W.setLine = function (line) {
    if (!line || typeof line.open !== 'boolean') return;
    S.line = line;
    const next = typeof line.next_opening_text === 'string' ? line.next_opening_text : '';
    D.line.textContent = line.open
      ? 'En ligne : un·e conseiller·e peut te répondre'
      : 'Fermé pour l\'instant' + (next ? ' — réouverture ' + next : '');
    D.line.classList.toggle('w3018-line--open', line.open);
    D.line.classList.toggle('w3018-line--closed', !line.open);
    W.renderStatus();
  };

  W.showPeerTyping = function () {
    const name = (S.conv && S.conv.counsellor) || 'Un·e conseiller·e';
    const stick = nearBottom();
    D.typing.textContent = name + ' est en train d\'écrire…';
    D.typing.hidden = false;
    if (stick) scrollToEnd();
    clearTimeout(S.peerTypingTimer);
    S.peerTypingTimer = setTimeout(W.hidePeerTyping, PEER_TYPING_TTL);
  };

  W.hidePeerTyping = function () { clearTimeout(S.peerTypingTimer); D.typing.hidden = true; };

  // ---------------------------------------------------------------- composer and panel

  // The server's limit (welcome.limits.max_message_chars): the box takes no more, and the
  // count shows from 90 % of it. Unknown before the first welcome: the server still checks.
  W.setLimit = function (max) {
    S.maxLen = max;
    if (max) D.input.maxLength = max; else D.input.removeAttribute('maxlength');
    W.updateCount();
  };

  W.tooLongText = (max) => 'Ton message est trop long (' + max + ' caractères au maximum).';

  W.updateCount = function () {
    const n = D.input.value.length;
    const max = S.maxLen;
    D.count.textContent = max && n >= max * 0.9 ? n + ' / ' + max : '';
    D.count.classList.toggle('w3018-count--full', !!max && n >= max);
  };

  function onInputKey(e) {
    // keyCode 229: an IME is composing (e.g. accents on some mobile keyboards).
    if (e.key !== 'Enter' || e.shiftKey || e.isComposing || e.keyCode === 229) return;
    e.preventDefault();
    W.sendFromInput();
  }

  function askEnd() {
    const stick = nearBottom(); // the list gets shorter: keep the last message in view
    D.end.hidden = true;
    D.confirm.hidden = false;
    D.confirmNo.focus();
    if (stick) scrollToEnd();
  }

  W.hideConfirm = function (focusInput) {
    D.confirm.hidden = true;
    D.end.hidden = !S.convOpen;
    if (focusInput) D.input.focus();
  };

  W.setOpen = function (open, moveFocus) {
    S.open = open;
    W.store(W.KEY.open, open ? '1' : null);
    D.panel.hidden = !open;
    D.launcherExit.hidden = !open;
    D.root.classList.toggle('w3018-is-open', open);
    D.launcher.setAttribute('aria-expanded', String(open));
    D.launcherText.textContent = open ? 'Réduire le tchat' : 'Parler au 3018';
    if (open) {
      D.badge.hidden = true;
      W.ensureConnected();
      scrollToEnd();
      if (moveFocus) D.input.focus();
    } else if (moveFocus) {
      D.launcher.focus();
    }
  };
})(window.W3018);
