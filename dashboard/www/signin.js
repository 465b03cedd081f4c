// signin.js - the dashboard's sign-in, on the page's main thread. When the broker refuses the
// websockets connection for want of credentials (allow_anonymous false, a password file, the
// dynamic-security plugin), dashboard.js shows this form; what is typed goes to the feed worker
// by postMessage, and once the broker has accepted them into the tab's sessionStorage with the
// broker's address, so a reload of the same tab signs in again to that broker only and closing
// the tab forgets it. Credentials are never put in the URL, in localStorage or in a cookie: the
// inputs have no name attribute and the form never submits (a submit, even one that escaped
// the handler, would carry no field and POST, not GET).
'use strict';

var CncSignin = (function () {
  var KEY = 'cnc-ingest.credentials';

  function el(id) { return document.getElementById(id); }

  // What was accepted by `broker`, and only by it: a page sent to another broker (?broker=)
  // never hands that one the credentials of this one.
  function saved(broker) {
    try {
      var c = JSON.parse(sessionStorage.getItem(KEY) || 'null');
      return c && c.broker === broker && typeof c.username === 'string' &&
        typeof c.password === 'string' ? { username: c.username, password: c.password } : null;
    } catch (e) {
      return null; // storage off (a locked-down browser) or damaged: ask again
    }
  }

  function save(broker, c) {
    try {
      sessionStorage.setItem(KEY, JSON.stringify({ broker: broker, username: c.username,
                                                   password: c.password }));
    } catch (e) {
      // No session storage: the credentials live in the worker only, a reload asks again.
    }
  }

  function forget() {
    try {
      sessionStorage.removeItem(KEY);
    } catch (e) {
      // nothing stored
    }
  }

  // Shows the form with why it is shown; onCredentials({username, password}) on submit.
  function ask(why, onCredentials) {
    var box = el('signin');
    var form = el('signin-form');
    el('signin-why').textContent = why;
    el('signin-password').value = '';
    form.onsubmit = function (e) {
      e.preventDefault();
      var c = { username: el('signin-user').value, password: el('signin-password').value };
      el('signin-password').value = '';
      box.hidden = true;
      onCredentials(c);
    };
    el('signin-cancel').onclick = function () { box.hidden = true; };
    box.hidden = false;
    (el('signin-user').value ? el('signin-password') : el('signin-user')).focus();
  }

  function hide() { el('signin').hidden = true; }

  // The header's "sign out" (shown while signed in): forgets and calls onSignOut().
  function signedIn(username, onSignOut) {
    var b = el('signout');
    b.textContent = 'sign out ' + username;
    b.hidden = false;
    b.onclick = function () {
      b.hidden = true;
      forget();
      onSignOut();
    };
  }

  function signedOut() { el('signout').hidden = true; }

  return { saved: saved, save: save, forget: forget, ask: ask, hide: hide, signedIn: signedIn,
           signedOut: signedOut };
})();
