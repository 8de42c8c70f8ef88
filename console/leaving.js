/*
 * Console 3018, leaving while holding conversations. Logging out, or choosing "Hors ligne",
 * hands every open conversation back to the head of the queue (server side, docs/protocol.md
 * "Console"): the counsellor is told so, in words, and confirms first. Whenever the server says
 * "offline" (after a login, another tab, a lost connection), a banner says what it means and
 * offers "Passer en Disponible"; the page never picks a presence by itself: the select always
 * shows what the server says.
 */
(() => {
  'use strict';

  const app = window.Console3018;
  const { state, el } = app;

  const leave = { kind: null }; // 'logout' | 'offline' while the question is on screen

  const openCount = () => Array.from(state.conversations.values()).filter((c) => c.state !== 'closed').length;

  // False when there is nothing to hand back: the caller goes ahead at once.
  function ask(kind) {
    const n = openCount();
    if (n === 0) return false;
    leave.kind = kind;
    el.leaveQuestion.textContent = n > 1
      ? 'Vous avez ' + n + ' conversations en cours. Elles repartiront en tête de file et un·e collègue les reprendra ; les jeunes seront prévenus.'
      : 'Vous avez 1 conversation en cours. Elle repartira en tête de file et un·e collègue la reprendra ; le jeune sera prévenu.';
    el.leaveConfirm.textContent = kind === 'logout' ? 'Se déconnecter quand même' : 'Passer hors ligne quand même';
    el.leaveBox.hidden = false;
    el.leaveConfirm.focus();
    return true;
  }

  function dismiss(focusBack) {
    const kind = leave.kind;
    leave.kind = null;
    el.leaveBox.hidden = true;
    if (focusBack) (kind === 'offline' ? el.presence : el.logout).focus();
  }

  function onConfirm() {
    const kind = leave.kind;
    dismiss(false);
    if (kind === 'logout') app.logOut();
    else if (kind === 'offline') app.sendPresence('offline');
  }

  // The `presence` frame the server echoes sets the select for good; until then it keeps
  // showing the server's presence, also while the question waits.
  function onPresenceChange() {
    const wanted = el.presence.value;
    el.presence.value = state.me.presence;
    if (wanted === 'offline' && state.me.presence !== 'offline' && ask('offline')) return;
    dismiss(false);
    app.sendPresence(wanted);
  }

  function renderBanner() {
    const offline = state.connected && state.me && state.me.presence === 'offline';
    el.offlineBanner.hidden = !offline;
    if (offline) {
      el.offlineText.textContent = openCount() > 0
        ? 'Vous êtes hors ligne : vos conversations vont repartir dans la file.'
        : 'Vous êtes hors ligne : aucune conversation ne vous sera confiée.';
    }
  }

  app.on('me', () => {
    if (state.me && state.me.presence === 'offline' && leave.kind === 'offline') dismiss(false);
    renderBanner();
  });
  app.on('list', renderBanner);
  app.on('reset', () => {
    leave.kind = null;
    if (!el.leaveBox) return; // before the elements are bound
    el.leaveBox.hidden = true;
    el.offlineBanner.hidden = true;
  });

  app.on('bind', () => {
    el.logout.addEventListener('click', () => { if (!ask('logout')) app.logOut(); });
    el.leaveConfirm.addEventListener('click', onConfirm);
    el.leaveCancel.addEventListener('click', () => dismiss(true));
    el.leaveBox.addEventListener('keydown', (e) => { if (e.key === 'Escape') dismiss(true); });
    el.offlineAvailable.addEventListener('click', () => app.sendPresence('available'));
    el.presence.addEventListener('change', onPresenceChange);
  });
})();
