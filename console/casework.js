/*
 * Console 3018, casework (issue #12): the qualification form and the "À qualifier" section.
 * Closing a conversation opens the form in the pane; a closed conversation without a
 * qualification stays under "À qualifier" (also after a reload: `init.to_qualify`) until it
 * is sent with POST /api/conversations/{id}/qualification (docs/protocol.md, "Casework").
 * Until it is sent, what was ticked waits in sessionStorage (this tab only), so a reload or a
 * network failure loses nothing; ready.js ticks an orientation's outcome here.
 * The lists (caller, age band, …) come from GET /api/qualification/options.
 */
(() => {
  'use strict';

  const app = window.Console3018;
  const { state, el, make } = app;

  const MAX_SUMMARY = 500;
  const DRAFT_PREFIX = 'console3018.qualify.'; // + conversation id; never the widget's "3018." keys
  const DRAFT_OWNER = 'console3018.qualify-owner';
  // The form's groups, in order. `single`: radios; `required`: the server refuses without it.
  const GROUPS = [
    { field: 'caller', legend: 'Qui contacte ?', single: true, required: true },
    { field: 'age_band', legend: 'Tranche d’âge', single: true, required: true },
    { field: 'gender', legend: 'Genre, tel que dit (facultatif)', single: true, required: false },
    { field: 'categories', legend: 'Catégories (au moins une)', single: false, required: true },
    { field: 'platforms', legend: 'Plateformes concernées (facultatif)', single: false, required: false },
    { field: 'outcomes', legend: 'Suites données (au moins une)', single: false, required: true },
  ];
  const MISSING = {
    caller: 'Indiquez qui contacte.', age_band: 'Indiquez la tranche d’âge.',
    categories: 'Cochez au moins une catégorie.', outcomes: 'Cochez au moins une suite donnée.',
  };
  const UNREACHABLE = 'Pas de connexion : la qualification n’est pas encore enregistrée. '
    + 'Vos réponses sont gardées dans cette page ; réessayez.';

  let options = null;      // GET /api/qualification/options, read again at each init
  let loading = null;      // the fetch of the options under way
  let formFor = null;      // the conversation the form is open for
  const dismissed = new Set(); // "Plus tard" clicked: not reopened until the item is opened again

  app.on('reset', () => {
    Object.assign(state, {
      toQualify: null,       // closed conversations of mine without a qualification (null: no casework)
      qualified: new Set(),  // those with one (sent from this page or known from init)
    });
    formFor = null;
    dismissed.clear();
  });

  // Drafts belong to the counsellor who ticked them: another login in this tab starts clean.
  app.on('start', (me) => {
    if (sessionStorage.getItem(DRAFT_OWNER) === String(me && me.id)) return;
    Object.keys(sessionStorage).filter((k) => k.startsWith(DRAFT_PREFIX)).forEach((k) => sessionStorage.removeItem(k));
    sessionStorage.setItem(DRAFT_OWNER, String(me && me.id));
    options = null;
  });

  /** A closed conversation of mine that still waits for its qualification. */
  app.mustQualify = (conv) => !!conv && conv.state === 'closed' && !!state.toQualify && state.toQualify.has(conv.id);

  /* ---------- the list: "À qualifier", and the state under "Terminées aujourd'hui" ---------- */

  // init.to_qualify: my closed conversations without a qualification, any day (newest first).
  // The closed ones of today that init lists and to_qualify does not name are qualified.
  app.on('init', (frame) => {
    if (!Array.isArray(frame.to_qualify)) return; // a gateway without casework: nothing to ask
    state.toQualify = new Set();
    for (const conv of frame.to_qualify) {
      if (!conv || !conv.id) continue;
      if (!state.conversations.has(conv.id)) state.conversations.set(conv.id, Object.assign({ last_line: null }, conv));
      state.toQualify.add(conv.id);
    }
    state.conversations.forEach((conv) => {
      if (conv.state === 'closed' && !state.toQualify.has(conv.id)) state.qualified.add(conv.id);
    });
    app.renderList();
    options = null; // the lists may have been reloaded since: read them again
    loadOptions();
    if (state.openId) app.pane.renderHead();
  });

  app.on('item', (li, conv) => {
    if (conv.state !== 'closed' || !state.toQualify) return;
    const todo = app.mustQualify(conv);
    const known = todo || state.qualified.has(conv.id);
    if (!known) return;
    li.dataset.qualified = todo ? 'no' : 'yes';
    const tag = make('span', todo ? 'conv-qualify-tag is-todo' : 'conv-qualify-tag', todo ? 'à qualifier' : 'qualifiée');
    li.querySelector('.conv-meta')?.append(tag);
  });

  // thread.js: `askedHere` when this page asked the close (the button, or the one-click
  // close of a teen who left, from the list): the form then opens in the pane.
  app.on('closed', (id, askedHere) => {
    if (!state.toQualify) return;
    if (!state.qualified.has(id)) state.toQualify.add(id);
    if (!askedHere || !app.mustQualify(state.conversations.get(id))) return;
    dismissed.delete(id);
    if (id !== state.openId) app.pane.open(id);
    openForm(id, true);
  });

  app.on('opened', (id) => {
    if (formFor && formFor !== id) hideForm(false);
    if (id) dismissed.delete(id);
  });
  app.on('removed', (id) => { if (formFor === id) hideForm(false); });

  // Each time the pane shows a conversation: the button's words, and the form shown at once
  // for a closed one that still needs it.
  app.on('head', (conv) => {
    const done = state.qualified && state.qualified.has(conv.id);
    el.qualifyOpen.textContent = done ? 'Modifier la qualification' : 'Qualifier';
    el.qualifyOpen.hidden = !state.toQualify;
    el.paneBody.dataset.convState = conv.state; // closed: the stylesheet hides the dead reply box
    if (app.mustQualify(conv) && formFor !== conv.id && !dismissed.has(conv.id)) openForm(conv.id, false);
  });

  /* ---------- the options ---------- */

  async function loadOptions() {
    if (options) return options;
    if (!loading) {
      loading = fetch('/api/qualification/options', { credentials: 'same-origin' })
        .then((res) => (res.ok ? res.json() : null))
        .catch(() => null)
        .then((body) => { loading = null; options = body && typeof body === 'object' ? body : null; return options; });
    }
    return loading;
  }

  /* ---------- drafts: what was ticked, kept until sent ---------- */

  function readDraft(id) {
    try {
      const draft = JSON.parse(sessionStorage.getItem(DRAFT_PREFIX + id) || 'null');
      return draft && typeof draft === 'object' ? draft : null;
    } catch (e) {
      return null;
    }
  }

  function writeDraft(id, draft) {
    try { sessionStorage.setItem(DRAFT_PREFIX + id, JSON.stringify(draft)); } catch (e) { /* full: the form still holds it */ }
  }

  const dropDraft = (id) => sessionStorage.removeItem(DRAFT_PREFIX + id);

  /** An orientation chosen in the reply box ticks its outcome on this conversation's form. */
  app.tickOutcome = (id, outcome) => {
    if (!id || !outcome) return;
    const draft = formFor === id ? formValues() : (readDraft(id) || {});
    const outcomes = new Set(draft.outcomes || []);
    outcomes.add(outcome);
    draft.outcomes = Array.from(outcomes);
    writeDraft(id, draft);
    if (formFor === id) fillForm(draft);
  };

  /* ---------- the form ---------- */

  async function openForm(id, focus) {
    const conv = state.conversations.get(id);
    if (!conv || id !== state.openId) return;
    if (formFor !== id) {
      app.emit('asking-close'); // the transfer and abuse boxes give way (shared.js paneForm)
      el.closeBox.hidden = true;
      formFor = id;
      el.qualifyTitle.textContent = 'Qualifier la conversation avec ' + conv.alias;
      clearErrors();
      setStatus('');
      el.qualifyFields.replaceChildren();
      el.qualifySummary.value = '';
    }
    el.qualifyForm.hidden = false;
    el.qualifyOpen.setAttribute('aria-expanded', 'true');
    el.qualifySend.disabled = !options;
    if (focus) el.qualifyTitle.focus();
    if (!options) {
      setStatus('Chargement des listes…');
      if (!(await loadOptions())) {
        if (formFor === id) setStatus('Impossible de charger les listes. Réessayez en rouvrant le formulaire.');
        return;
      }
      if (formFor !== id) return;
      setStatus('');
    }
    if (!el.qualifyFields.firstChild) buildFields();
    el.qualifySend.disabled = false;
    const draft = readDraft(id);
    if (draft) fillForm(draft);
    else if (state.qualified.has(id)) fillStored(id);
    updateSummaryCount();
  }

  function hideForm(focusOpener) {
    if (el.qualifyForm.hidden) return;
    if (formFor) saveDraft();
    el.qualifyForm.hidden = true;
    el.qualifyOpen.setAttribute('aria-expanded', 'false');
    formFor = null;
    if (focusOpener && !el.qualifyOpen.hidden) el.qualifyOpen.focus();
  }

  function buildFields() {
    el.qualifyFields.replaceChildren(...GROUPS.map(buildGroup));
  }

  function buildGroup(group) {
    const set = make('fieldset', 'qualify-group');
    set.dataset.field = group.field;
    const errorId = 'qualify-error-' + group.field.replace(/_/g, '-');
    set.setAttribute('aria-describedby', errorId);
    set.append(make('legend', null, group.legend));
    const list = make('div', 'choice-list');
    const items = (group.field === 'gender' ? [{ value: '', label: 'Non renseigné' }] : []).concat(options[group.field] || []);
    items.forEach((item, i) => list.append(choice(group, item, i)));
    const error = make('p', 'field-error');
    error.id = errorId;
    error.hidden = true;
    set.append(list, error);
    return set;
  }

  function choice(group, item, i) {
    const label = make('label', 'choice');
    const input = make('input');
    Object.assign(input, {
      type: group.single ? 'radio' : 'checkbox', name: 'qualify-' + group.field,
      id: 'qualify-' + group.field + '-' + i, value: String(item.value ?? ''),
    });
    if (group.field === 'gender' && item.value === '') input.checked = true;
    label.htmlFor = input.id;
    label.append(input, make('span', null, item.label || item.value));
    return label;
  }

  function inputsOf(field) {
    return Array.from(el.qualifyFields.querySelectorAll('input[name="qualify-' + field + '"]'));
  }

  function formValues() {
    const values = {};
    GROUPS.forEach((g) => {
      const picked = inputsOf(g.field).filter((input) => input.checked).map((input) => input.value);
      values[g.field] = g.single ? (picked[0] || '') : picked;
    });
    values.summary = el.qualifySummary.value;
    return values;
  }

  function fillForm(values) {
    GROUPS.forEach((g) => {
      const wanted = g.single ? [values[g.field] ?? ''] : (Array.isArray(values[g.field]) ? values[g.field] : []);
      inputsOf(g.field).forEach((input) => { input.checked = wanted.includes(input.value); });
    });
    if (typeof values.summary === 'string') el.qualifySummary.value = values.summary.slice(0, MAX_SUMMARY);
    updateSummaryCount();
  }

  // Editing a qualification sent earlier (from another tab, or before a reload): start from it.
  async function fillStored(id) {
    try {
      const res = await fetch('/api/conversations/' + encodeURIComponent(id) + '/qualification', { credentials: 'same-origin' });
      if (res.ok && formFor === id && !readDraft(id)) fillForm(Object.assign({ gender: '' }, await res.json()));
    } catch (e) { /* the form stays empty: the counsellor can fill it again */ }
  }

  function saveDraft() {
    if (formFor && el.qualifyFields.firstChild) writeDraft(formFor, formValues());
  }

  function updateSummaryCount() {
    el.qualifySummaryCount.textContent = el.qualifySummary.value.length + ' / ' + MAX_SUMMARY;
  }

  /* ---------- errors, each next to its field ---------- */

  const setStatus = (text) => app.setText(el.qualifyStatus, text);

  function clearErrors() {
    app.setError(el.qualifyError, '');
    el.qualifyForm.querySelectorAll('.field-error').forEach((p) => app.setError(p, ''));
    el.qualifyForm.querySelectorAll('[aria-invalid]').forEach((n) => n.removeAttribute('aria-invalid'));
  }

  // The message goes beside the field it names, and the first control of that field gets the
  // focus; a message about no field of the form goes in the form's own error line.
  function showFieldError(field, message) {
    const target = field === 'summary' ? el.qualifyErrorSummary
      : el.qualifyFields.querySelector('.qualify-group[data-field="' + field + '"] .field-error');
    if (!target) { app.setError(el.qualifyError, message); return false; }
    app.setError(target, message);
    const control = field === 'summary' ? el.qualifySummary : inputsOf(field)[0];
    const holder = field === 'summary' ? el.qualifySummary : target.closest('fieldset');
    holder.setAttribute('aria-invalid', 'true');
    if (control) control.focus();
    return true;
  }

  function localErrors(values) {
    const errors = [];
    GROUPS.forEach((g) => {
      const empty = g.single ? !values[g.field] : values[g.field].length === 0;
      if (g.required && empty) errors.push([g.field, MISSING[g.field]]);
    });
    if (values.summary.trim().length > MAX_SUMMARY) errors.push(['summary', 'Le résumé dépasse ' + MAX_SUMMARY + ' caractères.']);
    return errors;
  }

  function bodyOf(values) {
    const body = { caller: values.caller, age_band: values.age_band, categories: values.categories,
      platforms: values.platforms, outcomes: values.outcomes };
    if (values.gender) body.gender = values.gender;
    if (values.summary.trim()) body.summary = values.summary.trim();
    return body;
  }

  /* ---------- sending ---------- */

  async function onSubmit(event) {
    event.preventDefault();
    const id = formFor;
    if (!id || !el.qualifyFields.firstChild) return;
    clearErrors();
    const values = formValues();
    writeDraft(id, values);
    const errors = localErrors(values);
    if (errors.length) {
      errors.slice().reverse().forEach(([field, message]) => showFieldError(field, message)); // focus: the first
      app.setError(el.qualifyError, 'Vérifiez les champs signalés.');
      return;
    }
    el.qualifySend.disabled = true;
    setStatus('Enregistrement…');
    try {
      const res = await fetch('/api/conversations/' + encodeURIComponent(id) + '/qualification', {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(bodyOf(values)),
      });
      const answer = await res.json().catch(() => ({}));
      if (res.ok) qualified(id);
      else refused(id, res.status, answer);
    } catch (e) {
      if (formFor === id) { setStatus(''); app.setError(el.qualifyError, UNREACHABLE); }
    } finally {
      el.qualifySend.disabled = false;
    }
  }

  function qualified(id) {
    dropDraft(id);
    state.toQualify.delete(id);
    state.qualified.add(id);
    const alias = state.conversations.get(id)?.alias || 'La conversation';
    if (formFor === id) {
      formFor = null; // nothing left to keep
      el.qualifyForm.hidden = true;
      el.qualifyOpen.setAttribute('aria-expanded', 'false');
    }
    app.renderList();
    if (id === state.openId) app.pane.renderHead();
    app.showNotice(alias + ' : qualification enregistrée.', 'info');
    if (id === state.openId && !el.qualifyOpen.hidden) el.qualifyOpen.focus();
    app.emit('qualified', id); // care.js: after a heavy category, a care pause is offered
  }

  function refused(id, status, answer) {
    if (formFor !== id) return;
    setStatus('');
    const message = typeof answer.error === 'string' && answer.error ? answer.error
      : status === 401 ? 'Votre session a expiré : reconnectez-vous (vos réponses sont gardées).'
        : 'La qualification n’a pas été enregistrée. Réessayez.';
    if (status === 400 && typeof answer.field === 'string' && showFieldError(answer.field, message)) {
      app.setError(el.qualifyError, 'Vérifiez les champs signalés.');
      return;
    }
    app.setError(el.qualifyError, message);
  }

  /* ---------- wiring ---------- */

  app.on('bind', () => {
    el.qualifyOpen.addEventListener('click', () => {
      if (!el.qualifyForm.hidden) { dismissed.add(formFor); hideForm(true); return; }
      if (state.openId) openForm(state.openId, true);
    });
    el.qualifyCancel.addEventListener('click', () => { dismissed.add(formFor); hideForm(true); });
    el.qualifyForm.addEventListener('keydown', (e) => { if (e.key === 'Escape') { dismissed.add(formFor); hideForm(true); } });
    el.qualifyForm.addEventListener('submit', onSubmit);
    el.qualifyForm.addEventListener('change', saveDraft);
    el.qualifySummary.addEventListener('input', () => { updateSummaryCount(); saveDraft(); });
    [el.transferOpen, el.abuseOpen, el.closeConversation].forEach((b) => b.addEventListener('click', () => hideForm(false)));
  });
})();
