/*
 * Console 3018, trusted-flagger notices (issue #13): from the open conversation,
 * "Signalement plateforme" shows this conversation's notices and a form to build one with the
 * teen (saved as "brouillon" with POST /api/conversations/{id}/notices, edited with PATCH
 * /api/notices/{id} while a draft), then follows it: export (printable page, new tab), sent
 * (channel, ticket id), acknowledged, decision (date, automated means), appeal (Art. 20).
 * A notice sent without an answer past the platform's delay (`overdue` in the notice's JSON)
 * gets a "relance" badge here and on the button. Lists come from GET /api/notices/options;
 * the DSA categories from the casework options (GET /api/qualification/options, `dsa`).
 */
(() => {
  'use strict';

  const app = window.Console3018;
  const { state, el, make, button } = app;

  const STATES = { brouillon: 'Brouillon', envoye: 'Envoyé', accuse_reception: 'Accusé de réception', decision: 'Décision reçue' };
  const APPEALS = { depose: 'Recours déposé', accepte: 'Recours accepté', rejete: 'Recours rejeté' };
  const NOT_SPECIFIED = 'STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE';
  const UNREACHABLE = 'Pas de connexion : rien n’est enregistré. Réessayez.';

  let options = null;    // GET /api/notices/options
  let dsaValues = [];    // the DSA categories the casework options name
  let boxFor = null;     // the conversation the box is open for
  let editing = null;    // the notice the form edits (null: a new one)
  let mine = [];         // GET /api/notices: the notices I may see, newest first

  const api = async (method, path, body) => {
    const init = { method, credentials: 'same-origin' };
    if (body !== undefined) Object.assign(init, { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const res = await fetch(path, init);
    return { res, body: await res.json().catch(() => ({})) };
  };

  const ofConversation = (id) => mine.filter((n) => n.conversation_id === id);
  const label = (list, value) => ((list || []).find((x) => x.value === value) || {}).label || String(value || '');

  /* ---------- loading ---------- */

  async function loadOptions() {
    if (options) return options;
    try {
      const [notices, casework] = await Promise.all([api('GET', '/api/notices/options'), api('GET', '/api/qualification/options')]);
      if (!notices.res.ok) return null;
      options = notices.body;
      const fromCasework = (casework.res.ok && Array.isArray(casework.body.categories) ? casework.body.categories : []).map((c) => c.dsa);
      dsaValues = Array.from(new Set([...(options.dsa_categories || []).map((c) => c.value || c), ...fromCasework, NOT_SPECIFIED])).filter(Boolean);
    } catch (e) {
      return null;
    }
    return options;
  }

  async function loadMine() {
    try {
      const { res, body } = await api('GET', '/api/notices');
      if (!res.ok) return;
      mine = Array.isArray(body) ? body : (Array.isArray(body.notices) ? body.notices : []);
    } catch (e) { return; }
    renderBadge();
    app.renderList();
    if (boxFor) renderList();
  }

  // Being late is a matter of time: the list is read again now and then, not only on init.
  const REFRESH_MS = 5 * 60 * 1000;
  let refreshTimer = null;
  app.on('init', () => { loadMine(); clearInterval(refreshTimer); refreshTimer = setInterval(loadMine, REFRESH_MS); });
  app.on('reset', () => { mine = []; boxFor = null; editing = null; clearInterval(refreshTimer); });
  app.on('head', () => { renderBadge(); });
  app.on('opened', (id) => { if (boxFor && boxFor !== id) hideBox(false); });
  app.on('removed', (id) => { if (boxFor === id) hideBox(false); });
  app.on('asking-close', () => hideBox(false));

  // The conversation list: a "relance" tag on a conversation with a notice left unanswered.
  app.on('item', (li, conv) => {
    if (!ofConversation(conv.id).some((n) => n.overdue)) return;
    li.querySelector('.conv-meta')?.append(make('span', 'conv-qualify-tag is-todo notice-relance', 'signalement à relancer'));
  });

  function renderBadge() {
    const late = state.openId ? ofConversation(state.openId).filter((n) => n.overdue).length : 0;
    el.noticeBadge.hidden = late === 0;
    el.noticeBadge.textContent = late ? late + ' à relancer' : '';
  }

  /* ---------- the box: list, form, follow-up ---------- */

  async function showBox() {
    const id = state.openId;
    if (!id) return;
    app.emit('asking-close'); // the other boxes give way
    boxFor = id;
    el.noticeBox.hidden = false;
    el.noticeOpen.setAttribute('aria-expanded', 'true');
    el.noticeTitle.focus();
    hideForm();
    app.setError(el.noticeError, '');
    app.setText(el.noticeStatus, 'Chargement…');
    if (!(await loadOptions())) { app.setText(el.noticeStatus, 'Impossible de charger les listes. Réessayez.'); return; }
    await loadMine();
    if (boxFor !== id) return;
    app.setText(el.noticeStatus, '');
    renderList();
  }

  function hideBox(focusOpener) {
    if (el.noticeBox.hidden) return;
    el.noticeBox.hidden = true;
    el.noticeOpen.setAttribute('aria-expanded', 'false');
    boxFor = null;
    if (focusOpener) el.noticeOpen.focus();
  }

  function renderList() {
    const notices = ofConversation(boxFor);
    el.noticeEmpty.hidden = notices.length > 0;
    el.noticeList.replaceChildren(...notices.map(noticeItem));
  }

  function noticeItem(n) {
    const li = make('li', 'notice-item');
    li.dataset.id = n.id;
    li.dataset.state = n.state;
    const head = make('p', 'notice-head');
    head.append(make('strong', null, label(options.platforms, n.platform)), ' — ' + label(options.content_kinds, n.content_kind) + ' ');
    head.append(make('span', 'chip notice-state', STATES[n.state] || n.state));
    if (n.decision) head.append(' ', make('span', 'chip', label(options.decisions, n.decision)));
    if (n.appeal) head.append(' ', make('span', 'chip', APPEALS[n.appeal] || n.appeal));
    if (n.overdue) head.append(' ', make('span', 'badge notice-overdue', 'à relancer'));
    li.append(head, make('p', 'hint', label(options.offences, n.offence)));
    li.append(actionsOf(n));
    return li;
  }

  function actionsOf(n) {
    const bar = make('div', 'box-actions notice-actions');
    const add = (text, role, fn, cls) => { const b = button(cls || 'btn btn-quiet btn-small', text); b.dataset.role = role; b.addEventListener('click', fn); bar.append(b); };
    add('Exporter', 'export', () => window.open('/api/notices/' + encodeURIComponent(n.id) + '/export?format=html', '_blank', 'noopener'));
    if (n.state === 'brouillon') {
      add('Modifier', 'edit', () => showForm(n));
      add('Marquer envoyé', 'send', () => showStep(n, 'envoye'), 'btn btn-primary btn-small');
    } else if (n.state === 'envoye') {
      add('Accusé de réception', 'ack', () => move(n, { state: 'accuse_reception' }), 'btn btn-primary btn-small');
    } else if (n.state === 'accuse_reception') {
      add('Décision', 'decide', () => showStep(n, 'decision'), 'btn btn-primary btn-small');
    }
    if (n.state === 'decision' && n.decision && app.canReply(n.conversation_id) && n.conversation_id === state.openId) {
      add('Prévenir le ou la jeune', 'tell', () => tellTeen(n));
    }
    if (n.state === 'decision' && !n.appeal) {
      add('Recours déposé', 'appeal', () => move(n, { appeal: 'depose' }));
    } else if (n.appeal === 'depose') {
      add('Recours accepté', 'appeal-ok', () => move(n, { appeal: 'accepte' }));
      add('Recours rejeté', 'appeal-no', () => move(n, { appeal: 'rejete' }));
    }
    return bar;
  }

  // The outcome in the teen's words, put in the reply box for editing: the counsellor sends it.
  const REMOVED = ['retire', 'restreint', 'compte_suspendu'];
  function outcomeText(n) {
    const where = label(options.platforms, n.platform);
    if (REMOVED.includes(n.decision)) return where + ' a agi sur le contenu qu’on a signalé ensemble : il n’est plus visible comme avant. ';
    if (n.decision === 'refuse') return where + ' a refusé de retirer le contenu qu’on a signalé. Ce n’est pas fini : on peut contester et voir ensemble d’autres solutions. ';
    return where + ' n’a pas répondu à notre signalement. On continue de suivre ça pour toi. ';
  }

  function tellTeen(n) {
    const box = el.replyInput;
    box.value = (box.value ? box.value.trimEnd() + ' ' : '') + outcomeText(n);
    box.focus();
    box.dispatchEvent(new Event('input', { bubbles: true })); // the counter (thread.js)
  }

  /* ---------- state moves ---------- */

  // "Marquer envoyé" (channel, ticket) and "Décision" (decision, date, automated) ask a few
  // fields first; the other moves are one click.
  function showStep(n, step) {
    hideForm();
    editing = n;
    el.noticeStep.hidden = false;
    el.noticeStep.dataset.step = step;
    el.noticeStepSent.hidden = step !== 'envoye';
    el.noticeStepDecision.hidden = step !== 'decision';
    app.setText(el.noticeStepTitle, step === 'envoye' ? 'Marquer comme envoyé' : 'Décision de la plateforme');
    el.noticeDecision.replaceChildren(...options.decisions.map((d) => option(d.value, d.label)));
    el.noticeDecidedAt.value = '';
    app.setError(el.noticeStepError, '');
    (step === 'envoye' ? el.noticeChannel : el.noticeDecision).focus();
  }

  function stepBody() {
    if (el.noticeStep.dataset.step === 'envoye') {
      const body = { state: 'envoye' };
      if (el.noticeChannel.value.trim()) body.channel = el.noticeChannel.value.trim();
      if (el.noticeTicket.value.trim()) body.ticket_id = el.noticeTicket.value.trim();
      return body;
    }
    const body = { state: 'decision', decision: el.noticeDecision.value, automated: el.noticeAutomated.checked };
    // Empty or today: the server's "now" (this computer's clock may be ahead of it).
    const day = el.noticeDecidedAt.value;
    if (day && day !== new Date().toISOString().slice(0, 10)) body.decided_at = Date.parse(day + 'T12:00:00');
    return body;
  }

  async function move(n, body, errorLine) {
    const line = errorLine || el.noticeError;
    app.setError(line, '');
    try {
      const { res, body: answer } = await api('PATCH', '/api/notices/' + encodeURIComponent(n.id), body);
      if (!res.ok) { app.setError(line, answer.error || 'Refusé par le serveur.'); return false; }
      replace(answer);
      app.setText(el.noticeStatus, 'Signalement mis à jour : ' + (STATES[answer.state] || answer.state) + '.');
      return true;
    } catch (e) {
      app.setError(line, UNREACHABLE);
      return false;
    }
  }

  function replace(notice) {
    if (!notice || !notice.id) return;
    mine = [notice, ...mine.filter((m) => m.id !== notice.id)];
    renderList();
    renderBadge();
  }

  /* ---------- the form ---------- */

  const option = (value, text) => { const o = make('option', null, text); o.value = value; return o; };

  function showForm(n) {
    el.noticeStep.hidden = true;
    editing = n || null;
    el.noticeForm.hidden = false;
    app.setText(el.noticeFormTitle, n ? 'Modifier le brouillon' : 'Nouveau signalement');
    el.noticePlatform.replaceChildren(...options.platforms.map((p) => option(p.value, p.label)));
    el.noticeKind.replaceChildren(...options.content_kinds.map((k) => option(k.value, k.label)));
    el.noticeOffence.replaceChildren(...options.offences.map((o) => option(o.value, o.label)));
    const dsa = n && n.dsa_category && !dsaValues.includes(n.dsa_category) ? [n.dsa_category, ...dsaValues] : dsaValues;
    el.noticeDsa.replaceChildren(option('', 'Selon la qualification de la conversation'), ...dsa.map((v) => option(v, dsaLabel(v))));
    const v = n || {};
    el.noticePlatform.value = v.platform || options.platforms[0].value;
    el.noticeKind.value = v.content_kind || options.content_kinds[0].value;
    el.noticeOffence.value = v.offence || options.offences[0].value;
    el.noticeDsa.value = v.dsa_category || '';
    el.noticeLocations.value = (v.locations || []).join('\n');
    el.noticeExplanation.value = v.explanation || '';
    el.noticeDates.value = v.facts_dates || '';
    el.noticeEvidence.value = v.evidence || '';
    el.noticeConsent.checked = !!v.consent;
    clearFieldErrors();
    el.noticePlatform.focus();
  }

  const dsaLabel = (value) => value.replace(/^STATEMENT_CATEGORY_/, '').toLowerCase().replace(/_/g, ' ');

  function hideForm() {
    el.noticeForm.hidden = true;
    el.noticeStep.hidden = true;
    editing = null;
  }

  function formBody() {
    const body = {
      platform: el.noticePlatform.value, content_kind: el.noticeKind.value, offence: el.noticeOffence.value,
      locations: el.noticeLocations.value.split('\n').map((s) => s.trim()).filter(Boolean),
      explanation: el.noticeExplanation.value.trim(), consent: el.noticeConsent.checked,
    };
    if (el.noticeDsa.value) body.dsa_category = el.noticeDsa.value;
    if (el.noticeDates.value.trim()) body.facts_dates = el.noticeDates.value.trim();
    if (el.noticeEvidence.value.trim()) body.evidence = el.noticeEvidence.value.trim();
    return body;
  }

  const FIELD_CONTROLS = {
    platform: 'noticePlatform', content_kind: 'noticeKind', locations: 'noticeLocations', offence: 'noticeOffence',
    dsa_category: 'noticeDsa', explanation: 'noticeExplanation', facts_dates: 'noticeDates', evidence: 'noticeEvidence', consent: 'noticeConsent',
  };

  function clearFieldErrors() {
    app.setError(el.noticeFormError, '');
    el.noticeForm.querySelectorAll('[aria-invalid]').forEach((n) => n.removeAttribute('aria-invalid'));
  }

  // A refused field: its control marked and focused, the server's French message in the form's alert line.
  function showFieldError(field, message) {
    app.setError(el.noticeFormError, message);
    const control = el[FIELD_CONTROLS[field]];
    if (control) { control.setAttribute('aria-invalid', 'true'); control.focus(); }
  }

  async function onSubmit(event) {
    event.preventDefault();
    clearFieldErrors();
    const body = formBody();
    if (!body.locations.length) { showFieldError('locations', 'Indiquez au moins un lien ou identifiant, un par ligne.'); return; }
    if (!body.consent) { showFieldError('consent', 'Le signalement demande l’accord du ou de la jeune (ou d’un parent).'); return; }
    el.noticeSave.disabled = true;
    try {
      const path = editing ? '/api/notices/' + encodeURIComponent(editing.id) : '/api/conversations/' + encodeURIComponent(boxFor) + '/notices';
      const { res, body: answer } = await api(editing ? 'PATCH' : 'POST', path, body);
      if (!res.ok) { showFieldError(answer.field, answer.error || 'Refusé par le serveur.'); return; }
      hideForm();
      replace(answer);
      app.setText(el.noticeStatus, 'Brouillon enregistré.');
      el.noticeNew.focus();
    } catch (e) {
      app.setError(el.noticeFormError, UNREACHABLE);
    } finally {
      el.noticeSave.disabled = false;
    }
  }

  async function onStep(event) {
    event.preventDefault();
    if (editing && (await move(editing, stepBody(), el.noticeStepError))) { hideForm(); el.noticeNew.focus(); }
  }

  app.on('bind', () => {
    el.noticeOpen.addEventListener('click', () => (el.noticeBox.hidden ? showBox() : hideBox(true)));
    el.noticeHide.addEventListener('click', () => hideBox(true));
    el.noticeBox.addEventListener('keydown', (e) => { if (e.key === 'Escape') hideBox(true); });
    el.noticeNew.addEventListener('click', () => { if (options) showForm(null); });
    el.noticeCancel.addEventListener('click', () => { hideForm(); el.noticeNew.focus(); });
    el.noticeStepCancel.addEventListener('click', () => { hideForm(); el.noticeNew.focus(); });
    el.noticeForm.addEventListener('submit', onSubmit);
    el.noticeStep.addEventListener('submit', onStep);
  });
})();
