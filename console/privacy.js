/*
 * Console 3018, the supervision page's "Droits des jeunes" (GDPR Art. 15 and 17, on a teen's or
 * a parent's request): find a teen's conversations by their number or PSID, their pseudonym or
 * their follow-up code, then export one (a .txt or .json file, as the teen saw it: no internal
 * note) or erase it. JSON routes (gateway/http/privacy_api.py): POST /api/console/privacy/find
 * (POST: a phone number never sits in a URL), GET …/export/{id}?format=, POST …/erase/{id}.
 * Erasing asks for the pseudonym to be typed, with the danger zone's rule (erase.js:
 * sup.confirmMatches). What is searched is never kept by the page after the answer.
 * Every server text is rendered with textContent. Loaded after supervision.js and erase.js.
 */
(() => {
  'use strict';

  const app = window.Console3018;
  const { el, make, button } = app;
  const sup = app.sup;

  const STATES = { queued: 'en attente', assigned: 'en cours', closed: 'terminée' };
  const FAILED = 'Impossible de joindre le serveur : rien n’a été fait. Réessayez.';
  const found = new Map(); // conversation id -> its row as the server sent it
  let erasing = null;      // the row the erase confirmation is for

  const dateTime = (iso) => (iso ? new Date(iso).toLocaleString('fr-FR', {
    timeZone: 'Europe/Paris', day: '2-digit', month: '2-digit', year: 'numeric', hour: '2-digit', minute: '2-digit',
  }) : '—');

  async function call(method, path, body) {
    const init = { method, credentials: 'same-origin', headers: {} };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(path, init);
  }

  async function errorOf(res) {
    try { return (await res.json()).error || 'Refusé.'; } catch (e) { return 'Refusé (' + res.status + ').'; }
  }

  /* ---------- the search ---------- */

  function searchBody() {
    const by = el.privacyBy.value;
    if (by === 'alias') return { alias: el.privacyAlias.value, since: el.privacySince.value || undefined };
    if (by === 'code') return { code: el.privacyCode.value };
    return { channel: el.privacyChannel.value, id: el.privacyId.value };
  }

  function showCriterion() {
    const by = el.privacyBy.value;
    el.privacyByPhone.hidden = by !== 'phone';
    el.privacyByAlias.hidden = by !== 'alias';
    el.privacyByCode.hidden = by !== 'code';
  }

  async function onSearch(event) {
    event.preventDefault();
    app.setError(el.privacyError, '');
    closeErase();
    el.privacySearch.disabled = true;
    try {
      const res = await call('POST', '/api/console/privacy/find', searchBody());
      if (!res.ok) { app.setError(el.privacyError, await errorOf(res)); return; }
      render((await res.json()).conversations);
      el.privacyId.value = '';  // the number is not left on screen once searched
      el.privacyCode.value = '';
    } catch (e) {
      app.setError(el.privacyError, FAILED);
    } finally {
      el.privacySearch.disabled = false;
    }
  }

  function render(rows) {
    found.clear();
    rows.forEach((row) => found.set(row.id, row));
    const count = rows.length === 1 ? '1 conversation trouvée.' : rows.length + ' conversations trouvées, la plus récente d’abord.';
    app.setText(el.privacyStatus, rows.length ? count
      : 'Aucune conversation trouvée (les conversations effacées à la fin de la conservation ne laissent rien).');
    el.privacyResults.replaceChildren(...rows.map(resultItem));
  }

  function resultItem(row) {
    const item = make('li', 'privacy-result' + (row.erased ? ' is-erased' : ''));
    item.dataset.id = row.id;
    const head = make('p', 'privacy-result-head');
    head.append(make('span', 'privacy-alias', row.alias), make('span', null, app.channelLabel(row.channel)),
      make('span', 'privacy-state', row.erased ? 'effacée' : (STATES[row.state] || row.state)));
    const times = make('p', 'privacy-times', 'Ouverte le ' + dateTime(row.opened_at)
      + (row.closed_at ? ' · terminée le ' + dateTime(row.closed_at) : ''));
    item.append(head, times);
    if (!row.erased) {
      const actions = make('p', 'privacy-actions');
      const label = ' la conversation de ' + row.alias + ' du ' + dateTime(row.opened_at);
      const txt = button('btn btn-quiet', 'Exporter (texte)', 'Exporter en texte' + label);
      txt.dataset.export = 'txt';
      const json = button('btn btn-quiet', 'Exporter (JSON)', 'Exporter en JSON' + label);
      json.dataset.export = 'json';
      const erase = button('btn btn-danger', 'Effacer…', 'Effacer' + label);
      erase.dataset.erase = '1';
      actions.append(txt, json, erase);
      item.append(actions);
    }
    return item;
  }

  /* ---------- export: a file download, or the refusal in words ---------- */

  async function exportOf(id, format) {
    app.setError(el.privacyError, '');
    try {
      const res = await call('GET', '/api/console/privacy/export/' + encodeURIComponent(id) + '?format=' + format);
      if (!res.ok) { app.setError(el.privacyError, await errorOf(res)); return; }
      const link = make('a');
      link.href = URL.createObjectURL(await res.blob());
      link.download = 'conversation-3018-' + id + '.' + format;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 60000);
      app.setText(el.privacyStatus, 'Export prêt : ' + link.download + ' (dans vos téléchargements).');
    } catch (e) {
      app.setError(el.privacyError, FAILED);
    }
  }

  /* ---------- erase: the pseudonym typed to confirm, as in the danger zone ---------- */

  function openErase(row) {
    erasing = row;
    app.setText(el.privacyEraseAlias, ' « ' + row.alias + ' »');
    el.privacyEraseTyped.value = '';
    app.setError(el.privacyEraseError, '');
    refreshEraseButton();
    el.privacyEraseForm.hidden = false;
    el.privacyEraseTyped.focus();
  }

  function closeErase() {
    erasing = null;
    el.privacyEraseForm.hidden = true;
  }

  function refreshEraseButton() {
    el.privacyEraseSend.disabled = !erasing || !sup.confirmMatches(el.privacyEraseTyped.value, erasing.alias);
  }

  async function onErase(event) {
    event.preventDefault();
    refreshEraseButton();
    if (!erasing || el.privacyEraseSend.disabled) return;
    const row = erasing;
    el.privacyEraseSend.disabled = true;
    try {
      const res = await call('POST', '/api/console/privacy/erase/' + encodeURIComponent(row.id));
      if (!res.ok) { app.setError(el.privacyEraseError, await errorOf(res)); refreshEraseButton(); return; }
      const erased = await res.json();
      found.set(erased.id, erased);
      closeErase();
      render([...found.values()]);
      sup.showNotice(row.alias + ' : conversation close et effacée. Les chiffres anonymes sont gardés.');
      el.privacyResults.querySelector(app.byAttr('data-id', erased.id))?.setAttribute('tabindex', '-1');
      el.privacyResults.querySelector(app.byAttr('data-id', erased.id))?.focus();
    } catch (e) {
      app.setError(el.privacyEraseError, 'Connexion perdue : l’effacement n’a peut-être pas abouti. Cherchez à nouveau pour vérifier.');
      refreshEraseButton();
    }
  }

  function onResultsClick(event) {
    const b = event.target.closest('button');
    const id = b && b.closest('.privacy-result')?.dataset.id;
    if (!id || !found.has(id)) return;
    if (b.dataset.export) exportOf(id, b.dataset.export); else if (b.dataset.erase) openErase(found.get(id));
  }

  app.on('bind', () => {
    el.privacyForm.addEventListener('submit', onSearch);
    el.privacyBy.addEventListener('change', showCriterion);
    el.privacyResults.addEventListener('click', onResultsClick);
    el.privacyEraseForm.addEventListener('submit', onErase);
    el.privacyEraseTyped.addEventListener('input', refreshEraseButton);
    el.privacyEraseCancel.addEventListener('click', closeErase);
    el.privacyEraseForm.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeErase(); });
    showCriterion();
  });
})();
