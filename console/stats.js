/*
 * Console 3018, the statistics page (/console/stats, supervisors and admins; issue #13 item 4).
 * A period picker asks GET /api/reports/activity?from=&to= (JSON, anonymous aggregates only)
 * and draws each figure as an SVG chart built with createElementNS — no library, no CDN, no
 * inline script or style — followed by the same numbers as a table for screen readers. The
 * shape read is gateway/domain/reports.py `activity` (docs/protocol.md); every chart is
 * horizontal stacked bars (series -> {bar -> count}), which stay readable at 200 % zoom.
 */
(() => {
  'use strict';

  const app = window.Console3018;
  const { make } = app;
  const SVG = 'http://www.w3.org/2000/svg';
  const ROLES = ['supervisor', 'admin'];
  const DAY_MS = 24 * 3600 * 1000;
  const SERIES_COLOURS = ['#1d5b86', '#2f7d5b', '#8a4b00', '#5b3e8c', '#8f1d3f', '#4b5563'];
  const $ = (id) => document.getElementById(id);
  const number = (n) => (Number.isInteger(n) ? String(n) : n.toLocaleString('fr-FR', { maximumFractionDigits: 1 }));
  const isoDay = (at) => new Date(at).toISOString().slice(0, 10);

  /* ---------- who may see it ---------- */

  async function boot() {
    try {
      const res = await fetch('/api/console/me', { credentials: 'same-origin' });
      if (res.status === 401) { gate('gate-login'); return; }
      if (!res.ok) { gate(null, 'Le service ne répond pas. Réessayez dans un instant.'); return; }
      const me = (await res.json()).me;
      if (!me || !ROLES.includes(me.role)) { gate('gate-reserved'); return; }
      $('me-name').textContent = me.display_name || me.username || '';
      $('boot').hidden = true;
      $('app').hidden = false;
      pickDefaultPeriod();
      $('period-form').addEventListener('submit', (e) => { e.preventDefault(); load(); });
      load();
    } catch (e) {
      gate(null, 'Impossible de joindre le serveur. Vérifiez la connexion puis rechargez la page.');
    }
  }

  function gate(which, errorText) {
    $('boot').hidden = true;
    $('app').hidden = true;
    $('gate').hidden = false;
    $('gate-login').hidden = which !== 'gate-login';
    $('gate-reserved').hidden = which !== 'gate-reserved';
    app.setError($('gate-error'), errorText || '');
  }

  // The last 30 days, unless the address names a period (?from=&to=, kept for bookmarks).
  function pickDefaultPeriod() {
    const asked = new URLSearchParams(location.search);
    const today = Date.now();
    $('period-from').value = asked.get('from') || isoDay(today - 29 * DAY_MS);
    $('period-to').value = asked.get('to') || isoDay(today);
  }

  /* ---------- the report ---------- */

  async function load() {
    const from = $('period-from').value;
    const to = $('period-to').value;
    app.setError($('period-error'), '');
    $('period-from').removeAttribute('aria-invalid');
    $('period-to').removeAttribute('aria-invalid');
    if (!from || !to) { refuse(!from ? 'from' : 'to', 'Choisissez les deux dates de la période.'); return; }
    if (from > to) { refuse('from', 'La date de début doit précéder la date de fin.'); return; }
    const query = 'from=' + encodeURIComponent(from) + '&to=' + encodeURIComponent(to);
    $('period-csv').href = '/api/reports/activity?' + query + '&format=csv';
    history.replaceState(null, '', '?' + query);
    app.setText($('stats-status'), 'Calcul des chiffres…');
    try {
      const res = await fetch('/api/reports/activity?' + query + '&format=json', { credentials: 'same-origin' });
      const body = await res.json().catch(() => ({}));
      if (!res.ok) { refuse(body.field, body.error || 'Le serveur a refusé la période.'); app.setText($('stats-status'), ''); return; }
      render(body);
      app.setText($('stats-status'), 'Chiffres du ' + frenchDay(from) + ' au ' + frenchDay(to) + '.');
    } catch (e) {
      app.setText($('stats-status'), '');
      app.setError($('period-error'), 'Pas de connexion : réessayez.');
    }
  }

  const frenchDay = (day) => new Date(day + 'T12:00:00').toLocaleDateString('fr-FR', { day: 'numeric', month: 'long', year: 'numeric' });

  function refuse(field, message) {
    app.setError($('period-error'), message);
    const input = field === 'to' ? $('period-to') : $('period-from');
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  }

  const CHANNEL_LABELS = { web: 'Tchat web', messenger: 'Messenger', whatsapp: 'WhatsApp' };
  const BREAKDOWNS = [['callers', 'Qui contacte'], ['age_bands', 'Tranches d’âge'], ['categories', 'Catégories'],
    ['platforms', 'Plateformes citées'], ['outcomes', 'Orientations (suites données)']];
  const share = (x) => (x === null || x === undefined ? '—' : Math.round(x * 1000) / 10 + ' %');
  const seconds = (x) => (x === null || x === undefined ? '—' : app.formatWait ? app.formatWait(x * 1000) : number(x) + ' s');
  const hours = (x) => (x === null || x === undefined ? '—' : number(x) + ' h');

  // The activity report (gateway/domain/reports.py `activity`): key figures, then one chart
  // (and its table) per aggregate.
  function render(report) {
    const c = report.contacts || {};
    const w = report.waits || {};
    const a = report.abandons || {};
    const n = report.notices || {};
    $('stats-figures').replaceChildren(figures([
      ['Contacts', c.total], ['Contacts pris en charge', c.answered], ['Contacts qualifiés', c.qualified],
      ['Hors des heures d’ouverture', c.out_of_hours], ['Attente médiane (p50)', seconds(w.p50_seconds)],
      ['Attente p90', seconds(w.p90_seconds)], ['Répondus en moins d’une minute', share(w.answered_within_1_min)],
      ['Abandons', a.abandons], ['dont en moins de 5 s', a.short_abandons], ['Signalements envoyés', n.total],
      ['Délai médian de retrait', hours(n.median_hours_to_removal_all)], ['Part des signalements refusés', share(n.refused_share)],
    ]));
    const channels = report.channels || Object.keys(CHANNEL_LABELS);
    const charts = [
      chart('per-day', 'Contacts par jour et par canal', perChannel(report.per_day || [], channels, (row) => frenchShort(row.date))),
      chart('per-hour', 'Contacts par heure et par canal', perChannel(report.per_hour || [], channels, (row) => String(row.hour).padStart(2, '0') + ' h')),
      chart('by-channel', 'Contacts par canal', { '': relabel(c.by_channel || {}, CHANNEL_LABELS) }),
      chart('waits', 'Attente avant la prise en charge (secondes)', { '': { 'Médiane (p50)': w.p50_seconds || 0, p90: w.p90_seconds || 0 } }),
      chart('abandons', 'Abandons dans la file', { '': { 'Abandons': a.abandons || 0, 'En moins de 5 s': a.short_abandons || 0 } }),
      ...BREAKDOWNS.filter(([key]) => Array.isArray(report[key]))
        .map(([key, name]) => chart(key, name, { '': Object.fromEntries(report[key].map((o) => [o.label || o.value, o.count])) })),
      chart('notices', 'Signalements par plateforme et issue', noticesByPlatform(n)),
      chart('removal', 'Délai médian de retrait par plateforme (heures)', { '': platformLabels(n, n.median_hours_to_removal || {}) }),
    ];
    $('stats-charts').replaceChildren(...charts);
  }

  function figures(pairs) {
    const list = make('dl', 'figures');
    pairs.forEach(([name, value]) => {
      const pair = make('div', 'figure');
      pair.append(make('dt', 'figure-label', name), make('dd', 'figure-value', typeof value === 'number' ? number(value) : (value ?? '—')));
      list.append(pair);
    });
    return list;
  }

  const frenchShort = (day) => new Date(day + 'T12:00:00').toLocaleDateString('fr-FR', { day: 'numeric', month: 'short' });
  const relabel = (counts, labels) => Object.fromEntries(Object.entries(counts).map(([k, v]) => [labels[k] || k, v]));

  // Rows [{date|hour, web, messenger, whatsapp, total}] -> series per channel.
  function perChannel(rows, channels, barOf) {
    const data = {};
    channels.forEach((ch) => { data[CHANNEL_LABELS[ch] || ch] = Object.fromEntries(rows.map((row) => [barOf(row), row[ch] || 0])); });
    return data;
  }

  function noticesByPlatform(n) {
    const data = {};
    (n.actions || []).forEach((action) => {
      data[action.label || action.value] = Object.fromEntries((n.by_platform || []).map((p) => [p.label || p.platform, (p.actions || {})[action.value] || 0]));
    });
    return data;
  }

  function platformLabels(n, byPlatform) {
    const names = Object.fromEntries((n.by_platform || []).map((p) => [p.platform, p.label || p.platform]));
    return relabel(byPlatform, names);
  }

  /* ---------- one chart: SVG bars, stacked by series, then its table ---------- */

  // `data`: series -> {bar -> count}; one unnamed series ('') for a plain count map.
  function chart(key, name, data) {
    const series = Object.keys(data);
    const bars = Array.from(new Set(series.flatMap((s) => Object.keys(data[s]))));
    const figure = make('figure', 'stats-chart');
    figure.dataset.chart = key;
    const caption = make('figcaption', null, name);
    caption.id = 'chart-' + key + '-title';
    figure.append(caption);
    if (!bars.length) { figure.append(make('p', 'side-empty', 'Aucune donnée sur la période.')); return figure; }
    figure.append(svgOf(series, bars, data), legendOf(series), tableOf(series, bars, data, caption.id));
    return figure;
  }

  function svgEl(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  // Horizontal bars: long labels (offences, categories) stay readable at 200 % zoom.
  function svgOf(series, bars, data) {
    const ROW = 22;
    const LABEL = 200;
    const WIDTH = 640;
    const max = Math.max(1, ...bars.map((b) => series.reduce((sum, s) => sum + (data[s][b] || 0), 0)));
    const svg = svgEl('svg', { viewBox: '0 0 ' + WIDTH + ' ' + (bars.length * ROW + 4), class: 'stats-svg', 'aria-hidden': 'true', focusable: 'false' });
    bars.forEach((bar, i) => {
      const y = i * ROW + 2;
      svg.append(svgEl('text', { x: LABEL - 6, y: y + ROW * 0.65, 'text-anchor': 'end', class: 'stats-label' }, shorten(bar)));
      let x = LABEL;
      let total = 0;
      series.forEach((s, j) => {
        const count = data[s][bar] || 0;
        total += count;
        if (!count) return;
        const w = (count / max) * (WIDTH - LABEL - 50);
        const rect = svgEl('rect', { x, y: y + 2, width: Math.max(w, 1), height: ROW - 6, fill: SERIES_COLOURS[j % SERIES_COLOURS.length], 'data-bar': bar, 'data-series': s, 'data-value': count });
        rect.append(svgEl('title', {}, (s ? s + ', ' : '') + bar + ' : ' + number(count)));
        svg.append(rect);
        x += w;
      });
      svg.append(svgEl('text', { x: x + 4, y: y + ROW * 0.65, class: 'stats-value' }, number(total)));
    });
    return svg;
  }

  const shorten = (text) => (text.length > 28 ? text.slice(0, 27) + '…' : text);

  function legendOf(series) {
    const list = make('ul', 'stats-legend');
    list.setAttribute('aria-hidden', 'true');
    if (series.length < 2) return list;
    series.forEach((s, j) => {
      const li = make('li');
      const swatch = make('span', 'stats-swatch stats-swatch-' + (j % SERIES_COLOURS.length));
      li.append(swatch, make('span', null, s));
      list.append(li);
    });
    return list;
  }

  function tableOf(series, bars, data, captionId) {
    const table = make('table', 'stats-table visually-hidden');
    table.setAttribute('aria-labelledby', captionId);
    const head = make('tr');
    head.append(th('col', 'Élément'), ...(series.length > 1 || series[0] ? series.map((s) => th('col', s)) : [th('col', 'Nombre')]));
    const body = make('tbody');
    bars.forEach((bar) => {
      const tr = make('tr');
      tr.append(th('row', bar), ...series.map((s) => make('td', null, number(data[s][bar] || 0))));
      body.append(tr);
    });
    const thead = make('thead');
    thead.append(head);
    table.append(thead, body);
    return table;
  }

  function th(scope, text) {
    const cell = make('th', null, text);
    cell.scope = scope;
    return cell;
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
