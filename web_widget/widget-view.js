/* 3018 widget, what the teen sees: the launcher, the panel and the words in it (loaded by
 * widget.js). Every text from the network or the teen goes through textContent /
 * createTextNode, never innerHTML; no inline handlers, no style attributes in markup
 * (visibility uses the `hidden` attribute; only the visual viewport's size goes in two CSS
 * custom properties through the CSSOM, which a strict CSP allows), so the widget runs under
 * a strict CSP.
 *
 * Layout (issue #11): the conversation first. A one-row header (3018, the line's state,
 * Urgences, Quitter vite, réduire), the list takes every pixel left, the composer stays at
 * the bottom of the *visual* viewport, above a phone's keyboard.
 */
(function (W) {
  'use strict';

  const { S, D, cfg } = W;
  const PEER_TYPING_TTL = 15000; // hide "… est en train d'écrire" if active:false got lost
  const FROM = new Set(['teen', 'counsellor', 'system']);
  const STAFF = 'Ton écoutant·e'; // one word for staff in every teen text: écoutant·e
  const TIME = new Intl.DateTimeFormat('fr-FR', { hour: '2-digit', minute: '2-digit' });
  // Whom to call, one tap away (never a permanent footer eating the height).
  const HELP_NUMBERS = [
    [['3114'], 'Prévention du suicide, 24h/24, gratuit'],
    [['17', '112'], 'Danger immédiat'],
    [['119'], 'Enfant en danger, 24h/24'],
    [['3018'], 'Le 3018 par téléphone'],
  ];

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

  /** The quick exit next to the launcher shows only while the panel is closed: one at a time. */
  W.buildLauncherArea = function () {
    D.launcherText = el('span', {}, 'Parler au 3018');
    D.badge = el('span', { class: 'w3018-badge', hidden: true }, 'Nouveau message');
    D.launcher = el('button', { type: 'button', id: 'w3018-launcher', class: 'w3018-launcher',
      'aria-controls': 'w3018-panel', 'aria-expanded': 'false' },
    el('span', { class: 'w3018-launcher-icon', 'aria-hidden': 'true' }), D.launcherText, D.badge);
    D.launcher.addEventListener('click', () => W.setOpen(!S.open, true));
    D.launcherExit = exitControl('w3018-exit-launcher');
    return el('div', { class: 'w3018-launcher-area' }, D.launcherExit, D.launcher);
  };

  // Divs, not <header>: landmarks inside the widget would compete with the host page's.
  function buildHeader() {
    const minimise = el('button', { type: 'button', class: 'w3018-minimise', 'aria-label': 'Réduire le tchat' },
      el('span', { 'aria-hidden': 'true' }, '▾'));
    minimise.addEventListener('click', () => W.setOpen(false, true));
    D.urgentToggle = el('button', { type: 'button', id: 'w3018-urgent', class: 'w3018-urgent',
      'aria-expanded': 'false', 'aria-controls': 'w3018-urgences' }, 'Urgences');
    D.urgentToggle.addEventListener('click', () => W.showUrgences(D.urgences.hidden));
    D.line = el('p', { id: 'w3018-line', class: 'w3018-line' }, 'On vérifie…');
    return el('div', { class: 'w3018-header' },
      el('div', { class: 'w3018-header-top' },
        el('h2', { id: 'w3018-title', class: 'w3018-title' }, '3018',
          el('span', { class: 'w3018-sr' }, ' — tchat anonyme et gratuit')),
        D.urgentToggle, exitControl('w3018-exit'), minimise),
      D.line, buildUrgences());
  }

  function buildUrgences() {
    const list = el('ul', { class: 'w3018-urgences-list' });
    for (const [numbers, what] of HELP_NUMBERS) {
      const calls = el('span', { class: 'w3018-urgences-numbers' });
      numbers.forEach((n, i) => {
        if (i) calls.appendChild(document.createTextNode(' ou '));
        calls.appendChild(tel(n));
      });
      list.appendChild(el('li', {}, calls, el('span', { class: 'w3018-urgences-what' }, what)));
    }
    D.urgences = el('div', { id: 'w3018-urgences', class: 'w3018-urgences', role: 'group',
      'aria-labelledby': 'w3018-urgences-title', hidden: true },
    el('p', { id: 'w3018-urgences-title', class: 'w3018-urgences-title' }, 'Besoin d\'aide tout de suite ? Appelle :'),
    list);
    return D.urgences;
  }

  /** A sheet over the top of the conversation: nothing moves, the composer keeps its place. */
  W.showUrgences = function (show) {
    D.urgences.hidden = !show;
    D.urgentToggle.setAttribute('aria-expanded', String(show));
  };

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
    D.input = el('textarea', { id: 'w3018-input', class: 'w3018-input', rows: '1',
      placeholder: 'Écris ton message…', enterkeyhint: 'send', 'aria-describedby': 'w3018-count' });
    D.count = el('span', { id: 'w3018-count', class: 'w3018-count' });
    D.send = el('button', { type: 'submit', id: 'w3018-send', class: 'w3018-send' }, 'Envoyer');
    D.input.addEventListener('input', () => W.onInput());
    D.input.addEventListener('keydown', onInputKey);
    const form = el('form', { class: 'w3018-composer', novalidate: true },
      el('label', { for: 'w3018-input', class: 'w3018-sr' }, 'Ton message'),
      D.count, el('div', { class: 'w3018-composer-row' }, D.input, D.send));
    form.addEventListener('submit', (e) => { e.preventDefault(); W.sendFromInput(); });
    return form;
  }

  /** The offline banner: what is happening, and how many messages wait to go. */
  function buildBanner() {
    D.bannerCount = el('span', { class: 'w3018-banner-count' });
    D.banner = el('p', { id: 'w3018-banner', class: 'w3018-banner', role: 'status', hidden: true },
      el('span', {}, 'Tu es hors ligne. Tes messages partiront dès que la connexion revient.'), D.bannerCount);
    return D.banner;
  }

  function buildStatusRow() {
    D.status = el('p', { id: 'w3018-status', class: 'w3018-status', role: 'status' });
    D.end = el('button', { type: 'button', id: 'w3018-end', class: 'w3018-end', hidden: true,
      'aria-label': 'Terminer la conversation' }, 'Terminer');
    D.end.addEventListener('click', askEnd);
    D.statusRow = el('div', { class: 'w3018-status-row', hidden: true }, D.status, D.end);
    return D.statusRow;
  }

  /** The first thing in the list: who answers and the promises, then the conversation. */
  function buildIntro() {
    D.introLine = el('p', { class: 'w3018-intro-line', hidden: true });
    return el('div', { id: 'w3018-intro', class: 'w3018-intro' },
      el('p', { class: 'w3018-intro-hello' }, 'Ici, tu peux écrire à un·e écoutant·e du 3018.'),
      el('p', {}, 'C\'est anonyme, gratuit et confidentiel : tu n\'as pas besoin de dire ton nom.'),
      D.introLine);
  }

  W.buildPanel = function () {
    D.messages = el('div', { id: 'w3018-messages', class: 'w3018-messages', role: 'log',
      'aria-live': 'polite', 'aria-relevant': 'additions', 'aria-label': 'Messages', tabindex: '0' }, buildIntro());
    D.typing = el('p', { id: 'w3018-typing', class: 'w3018-typing', 'aria-live': 'polite', hidden: true });
    D.panel = el('div', { id: 'w3018-panel', class: 'w3018-panel', role: 'dialog',
      'aria-modal': 'false', 'aria-labelledby': 'w3018-title', hidden: true },
    buildHeader(), buildBanner(), buildStatusRow(), D.messages, D.typing, buildConfirm(),
    buildComposer());
    return D.panel;
  };

  W.loadStylesheet = function () {
    // Hidden until styled, so the host page never flashes an unstyled widget.
    const reveal = () => { if (D.root && D.root.hidden) { D.root.hidden = false; W.scrollToLatest(); } };
    D.link = el('link', { rel: 'stylesheet', href: cfg.origin + '/widget/widget.css' });
    D.link.addEventListener('load', reveal);
    D.link.addEventListener('error', reveal);
    setTimeout(reveal, 3000);
    (document.head || document.documentElement).appendChild(D.link);
  };

  /** Phones: the panel follows the visual viewport, so the keyboard never covers the composer. */
  W.followVisualViewport = function () {
    const vv = window.visualViewport;
    if (!vv) return; // 100dvh in widget.css is the fallback
    const fit = () => {
      const stick = nearBottom();
      D.root.style.setProperty('--w3018-vv-height', Math.round(vv.height) + 'px');
      D.root.style.setProperty('--w3018-vv-top', Math.round(vv.offsetTop) + 'px');
      if (stick) scrollToEnd();
    };
    vv.addEventListener('resize', fit);
    vv.addEventListener('scroll', fit);
    fit();
  };

  // ---------------------------------------------------------------- messages

  function nearBottom() { return D.messages.scrollHeight - D.messages.scrollTop - D.messages.clientHeight < 80; }

  function scrollToEnd() { D.messages.scrollTop = D.messages.scrollHeight; }

  /** After a reload or an opening: the latest line, not the top of the history. */
  W.scrollToLatest = scrollToEnd;

  function formatTime(at) { return typeof at === 'number' ? TIME.format(new Date(at)) : ''; }

  // dir="auto" + unicode-bidi isolation (widget.css): a U+202E in a text reorders that text
  // only, never the author line nor the next bubble.
  function bubble(from, author, text) {
    const node = el('div', { class: 'w3018-msg w3018-msg--' + from, 'data-from': from });
    if (from !== 'system') {
      node.appendChild(el('span', { class: 'w3018-author' }, from === 'teen' ? 'Toi' : (author || 'Écoutant·e')));
    }
    node.appendChild(el('p', { class: 'w3018-text', dir: 'auto' }, text));
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

  // ---------------------------------------------------------------- follow-up code (issue #12)

  /** After a chat with an écoutant·e ends: an optional code, asked for by the teen, shown once. */
  W.offerFollowUp = function () {
    W.dropFollowUp();
    const ask = el('button', { type: 'button', id: 'w3018-followup-ask', class: 'w3018-btn-secondary' },
      'Obtenir un code');
    ask.addEventListener('click', () => {
      if (W.askFollowUpCode()) ask.disabled = true;
      else W.addNote('Pas de connexion pour l\'instant. Réessaie dans un instant.');
    });
    D.followUp = el('div', { id: 'w3018-followup', class: 'w3018-note', role: 'group',
      'aria-label': 'Code pour revenir' },
    el('p', {}, 'Si tu reviens un jour, un code permet à l\'écoutant·e de retrouver cet échange. '
      + 'C\'est toi qui choisis.'), ask);
    const stick = nearBottom();
    D.messages.appendChild(D.followUp);
    if (stick) scrollToEnd();
  };

  W.showFollowUpCode = function (code) {
    if (!D.followUp || typeof code !== 'string' || !/^[A-Z0-9-]{1,16}$/.test(code)) return;
    const value = el('strong', { id: 'w3018-followup-code', class: 'w3018-followup-code' }, code);
    const copy = el('button', { type: 'button', id: 'w3018-followup-copy', class: 'w3018-btn-secondary' }, 'Copier');
    const done = el('span', { role: 'status', class: 'w3018-followup-copied' });
    copy.addEventListener('click', () => copyCode(code, value, done));
    D.followUp.replaceChildren(
      el('p', {}, 'Si tu reviens, donne ce code : ', value,
        '. Il permet à l\'écoutant·e de retrouver notre échange.'),
      el('p', {}, 'Note-le quelque part : il ne s\'affichera plus.'), copy, done);
  };

  function copyCode(code, node, done) {
    const clip = navigator.clipboard;
    const copied = () => { done.textContent = ' Copié !'; };
    if (clip && typeof clip.writeText === 'function') {
      clip.writeText(code).then(copied, () => selectText(node));
    } else selectText(node);
  }

  /** No clipboard (an old browser, an insecure page): select it, so a long press copies it. */
  function selectText(node) {
    const range = document.createRange();
    range.selectNodeContents(node);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  W.dropFollowUp = function () {
    if (D.followUp) D.followUp.remove();
    D.followUp = null;
  };

  // ---------------------------------------------------------------- post-chat question (issue #12)

  /** "Est-ce que cet échange t'a aidé ?" with its answers as buttons; one tap, then thanks. */
  W.showSurvey = function (frame) {
    const answers = Array.isArray(frame.answers) ? frame.answers.slice(0, 5) : [];
    const valid = typeof frame.question === 'string' && frame.question.length <= 200 && answers.length > 0
      && answers.every((a) => a && typeof a.value === 'string' && /^[a-z0-9_]{1,40}$/.test(a.value)
        && typeof a.label === 'string' && a.label.length > 0 && a.label.length <= 40);
    if (!valid) return;
    W.dropSurvey();
    const buttons = answers.map((a) => el('button', { type: 'button', class: 'w3018-btn-secondary w3018-survey-answer' },
      a.label));
    buttons.forEach((button, i) => button.addEventListener('click', () => {
      if (W.answerSurvey(answers[i].value)) buttons.forEach((b) => { b.disabled = true; });
    }));
    D.survey = el('div', { id: 'w3018-survey', class: 'w3018-note', role: 'group', 'aria-label': 'Ton avis' },
      el('p', {}, frame.question), ...buttons);
    const stick = nearBottom();
    D.messages.appendChild(D.survey);
    if (stick) scrollToEnd();
  };

  W.thankSurvey = function (text) {
    if (!D.survey) return;
    D.survey.replaceChildren(el('p', { role: 'status' },
      typeof text === 'string' && text && text.length <= 200 ? text : 'Merci pour ta réponse !'));
  };

  W.dropSurvey = function () {
    if (D.survey) D.survey.remove();
    D.survey = null;
  };

  // ---------------------------------------------------------------- status, line, typing

  function reopening() {
    const next = S.line && typeof S.line.next_opening_text === 'string' ? S.line.next_opening_text : '';
    return 'Le tchat est fermé pour l\'instant' + (next ? ', il rouvre ' + next + '.' : '.');
  }

  function lineClosed() { return !!S.line && S.line.open === false; }

  // Closed while the line is closed: no "réécris quand tu veux", but when and whom to call.
  function closedText() {
    if (!lineClosed()) return 'La conversation est terminée. Tu peux nous réécrire quand tu veux.';
    return reopening() + ' Si ça ne va pas du tout : 3114 (24h/24). En danger : 17 ou 112.';
  }

  // The server's sentence (`queue_text`) when it sends one: position and wait in one voice.
  function queuedText(conv) {
    if (S.handedBack) return 'Ton écoutant·e a dû partir. Quelqu\'un d\'autre va te répondre, tu passes en premier.';
    if (typeof conv.queue_text === 'string' && conv.queue_text.trim()) return conv.queue_text;
    const where = Number.isInteger(conv.position) && conv.position > 0
      ? 'Tu es n° ' + conv.position + ' dans la file.'
      : 'Tu es dans la file.';
    // An estimate reads "environ 5 minutes"; "we cannot tell yet" is a whole sentence.
    const wait = typeof conv.wait !== 'string' || !conv.wait ? ''
      : /[.!]$/.test(conv.wait) ? ' ' + conv.wait : ' Attente estimée : ' + conv.wait + '.';
    return where + wait + ' Reste là, quelqu\'un va te répondre.';
  }

  function statusText() {
    const conv = S.conv;
    if (!conv || conv.state === 'closed') return conv || S.hadConv ? closedText() : '';
    if (conv.state === 'assigned') return (conv.counsellor || 'Un·e écoutant·e') + ' est avec toi.';
    return queuedText(conv);
  }

  W.renderStatus = function () {
    D.status.textContent = statusText();
    D.statusRow.hidden = !D.status.textContent && D.end.hidden;
    renderIntro();
  };

  /** Before any conversation, the intro says the line is closed; afterwards the band does. */
  function renderIntro() {
    D.introLine.textContent = lineClosed() && !D.status.textContent
      ? reopening() + ' En cas d\'urgence, touche « Urgences » en haut.'
      : '';
    D.introLine.hidden = !D.introLine.textContent;
  }

  /** The header says opening hours only: whether someone is free is the status band's job. */
  W.setLine = function (line) {
    if (!line || typeof line.open !== 'boolean') return;
    S.line = line;
    const next = typeof line.next_opening_text === 'string' ? line.next_opening_text : '';
    D.line.textContent = line.open ? 'Ouvert' : 'Fermé' + (next ? ' — réouverture ' + next : ' pour l\'instant');
    D.line.classList.toggle('w3018-line--open', line.open);
    D.line.classList.toggle('w3018-line--closed', !line.open);
    W.renderStatus();
  };

  /** Offline: a banner while the socket is down (or the browser says so), with what waits. */
  W.renderOffline = function () {
    const offline = !S.exiting && (S.disconnected || navigator.onLine === false);
    const waiting = S.pending.length;
    D.bannerCount.textContent = !waiting ? ''
      : ' ' + waiting + (waiting === 1 ? ' message en attente.' : ' messages en attente.');
    D.banner.hidden = !offline;
  };

  W.showPeerTyping = function () {
    const name = (S.conv && S.conv.counsellor) || STAFF;
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
    W.renderStatus();
    if (focusInput) D.input.focus();
  };

  W.setOpen = function (open, moveFocus) {
    S.open = open;
    W.store(W.KEY.open, open ? '1' : null);
    D.panel.hidden = !open;
    D.launcherExit.hidden = open; // the panel's header has its own: never two at once
    D.root.classList.toggle('w3018-is-open', open);
    D.launcher.setAttribute('aria-expanded', String(open));
    if (open) {
      D.badge.hidden = true;
      W.ensureConnected();
      scrollToEnd();
      if (moveFocus) D.input.focus();
    } else {
      W.showUrgences(false);
      if (moveFocus) D.launcher.focus();
    }
  };
})(window.W3018);
