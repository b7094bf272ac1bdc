/*! formwhy.js: capture a privacy-safe formwhy.trace/v1 trace of one visitor's session on one form.
 *
 * No build step, no dependencies. Usage:
 *
 *   FormWhy.attach(document.querySelector('form'), {
 *     endpoint: '',            // base URL of the formwhy service ('' = same origin)
 *     token: '...',            // per-page session token minted by your server (POST /v1/tokens); preferred
 *     apiKey: undefined,       // or an API key (server-side / trusted pages only: it would be visible to anyone)
 *     formId: 'checkout', kind: 'checkout', sessionId: undefined,
 *     namedAttr: 'data-formwhy', priceAttr: 'data-formwhy-price', stepAttr: 'data-formwhy-step',
 *     idleMs: undefined,       // end the session (exit + send) after this long without an event
 *     onResult: function (result) {}, onError: function (err) {}
 *   });
 *
 * What it records is exactly the event table of the formwhy.trace/v1 spec (see docs/service.md). It never reads a
 * field's value: only `.value.length`. Checkbox, radio and select values are never read at all.
 */
(function (global) {
  'use strict';

  var SCHEMA = 'formwhy.trace/v1';
  var MAX_EVENTS = 5000;          // the trace contract's limit (the last slot is kept for `exit`)
  var MAX_FIELDS = 200;
  var NAME_RE = /^[A-Za-z0-9_.\-\[\]]{1,64}$/;
  var AUTOFILL_ANIM = 'formwhy-autofill-start';
  var KEY_WINDOW_MS = 400;        // an input with no key/paste/drop in this window is treated as autofill
  var sessions = [];
  var styleAdded = false;

  function cleanName(s) {
    if (s == null) return null;
    s = String(s).replace(/[^A-Za-z0-9_.\-\[\]]/g, '_').slice(0, 64);
    return NAME_RE.test(s) ? s : null;
  }

  var AUTOCOMPLETE_TYPES = {
    'name': 'name', 'given-name': 'name', 'family-name': 'name', 'additional-name': 'name', 'nickname': 'name',
    'email': 'email', 'tel': 'tel', 'tel-national': 'tel', 'tel-local': 'tel',
    'street-address': 'address', 'address-line1': 'address', 'address-line2': 'address',
    'address-line3': 'address', 'address-level1': 'address', 'address-level2': 'address', 'country': 'address',
    'country-name': 'address', 'postal-code': 'postal_code',
    'cc-number': 'card_number', 'cc-exp': 'card_expiry', 'cc-exp-month': 'card_expiry',
    'cc-exp-year': 'card_expiry', 'cc-csc': 'card_cvc', 'cc-name': 'name',
    'bday': 'date', 'bday-day': 'date', 'bday-month': 'date', 'bday-year': 'date',
    'current-password': 'password', 'new-password': 'password'
  };
  var INPUT_TYPES = {
    'email': 'email', 'tel': 'tel', 'password': 'password', 'number': 'number', 'range': 'number',
    'date': 'date', 'datetime-local': 'date', 'month': 'date', 'week': 'date', 'time': 'date',
    'checkbox': 'checkbox', 'radio': 'radio', 'text': 'text', 'search': 'text', 'url': 'text'
  };
  var FIELD_TYPES = ['text', 'name', 'email', 'tel', 'password', 'number', 'date', 'select', 'checkbox', 'radio',
    'textarea', 'address', 'postal_code', 'card_number', 'card_expiry', 'card_cvc', 'coupon', 'other'];
  var PRICE_KINDS = ['subtotal', 'shipping', 'tax', 'fee', 'discount', 'total'];

  function autocompleteToken(el) {
    var ac = (el.getAttribute('autocomplete') || '').toLowerCase().trim().split(/\s+/);
    return ac[ac.length - 1] || '';
  }

  function fieldType(el) {
    var declared = el.getAttribute('data-formwhy-type');
    if (declared && FIELD_TYPES.indexOf(declared) >= 0) return declared;
    var tag = el.tagName.toLowerCase();
    if (tag === 'select') return 'select';
    if (tag === 'textarea') return 'textarea';
    var type = (el.getAttribute('type') || 'text').toLowerCase();
    if (type === 'checkbox' || type === 'radio' || type === 'password') return type;
    var ac = AUTOCOMPLETE_TYPES[autocompleteToken(el)];
    if (ac) return ac;
    if (/coupon|promo|voucher/i.test(el.name || el.id || '')) return 'coupon';
    return INPUT_TYPES[type] || 'other';
  }

  function isSensitive(el) {
    var flag = el.getAttribute('data-formwhy-sensitive');
    if (flag === 'true') return true;
    if (flag === 'false') return false;
    var ac = autocompleteToken(el);
    return ac.indexOf('cc-') === 0 || ac.indexOf('tel') === 0 || ac.indexOf('bday') === 0 ||
      (el.getAttribute('type') || '').toLowerCase() === 'tel';
  }

  function isTracked(el) {
    if (!el || !el.tagName) return false;
    var tag = el.tagName.toLowerCase();
    if (tag !== 'input' && tag !== 'select' && tag !== 'textarea') return false;
    var type = (el.getAttribute('type') || '').toLowerCase();
    return ['hidden', 'submit', 'button', 'reset', 'image', 'file'].indexOf(type) < 0;
  }

  function errorCode(el) {
    var v = el && el.validity;
    if (!v) return 'other';
    if (v.valueMissing) return 'required';
    if (v.typeMismatch || v.patternMismatch || v.badInput) return 'invalid_format';
    if (v.tooShort) return 'too_short';
    if (v.tooLong) return 'too_long';
    return 'other';
  }

  function parseAmount(el, priceAttr) {
    var raw = el.getAttribute(priceAttr + '-amount');
    if (raw == null) raw = (el.textContent || '').replace(/[^0-9.,\-]/g, '').replace(/,(?=\d{3}\b)/g, '')
      .replace(',', '.');
    var n = parseFloat(raw);
    return isFinite(n) && n >= 0 && n <= 1e9 ? Math.round(n * 100) / 100 : null;
  }

  function isShown(el) {
    return !el.hidden && el.getClientRects().length > 0;
  }

  function addAutofillStyle() {
    if (styleAdded || !global.document) return;
    styleAdded = true;
    var css = '@keyframes ' + AUTOFILL_ANIM + '{from{}to{}}' +
      'input:-webkit-autofill,select:-webkit-autofill,textarea:-webkit-autofill{animation-name:' + AUTOFILL_ANIM +
      ';animation-duration:1ms}';
    var style = document.createElement('style');
    style.textContent = css;
    (document.head || document.documentElement).appendChild(style);
  }

  function Session(form, opts) {
    var self = this;
    opts = opts || {};
    this.form = form;
    this.opts = opts;
    this.namedAttr = opts.namedAttr || 'data-formwhy';
    this.priceAttr = opts.priceAttr || 'data-formwhy-price';
    this.stepAttr = opts.stepAttr || 'data-formwhy-step';
    this.events = [];
    this.dropped = 0;
    this.ended = false;
    this.t0 = (global.performance && performance.now()) || Date.now();
    this.lastT = 0;
    this.step = 1;
    this.lastKey = {};          // field -> time of the last keydown / paste / drop
    this.pendingPaste = {};
    this.lastError = {};        // field -> {code, t}: an `invalid` event and an aria-invalid flip are one message
    this.lastAutofill = {};
    this.prices = typeof WeakMap !== 'undefined' ? new WeakMap() : null;
    this.listeners = [];
    this.fields = this.declareFields();

    addAutofillStyle();
    var on = function (target, type, fn, capture) {
      target.addEventListener(type, fn, capture);
      self.listeners.push([target, type, fn, capture]);
    };
    on(form, 'focusin', function (e) { self.fieldEvent('focus', e.target); }, true);
    on(form, 'focusout', function (e) { self.fieldEvent('blur', e.target); }, true);
    on(form, 'keydown', function (e) { var f = self.nameOf(e.target); if (f) self.lastKey[f] = self.now(); }, true);
    on(form, 'drop', function (e) { var f = self.nameOf(e.target); if (f) self.lastKey[f] = self.now(); }, true);
    on(form, 'paste', function (e) {
      var f = self.nameOf(e.target);
      if (f) { self.pendingPaste[f] = true; self.lastKey[f] = self.now(); }
    }, true);
    on(form, 'input', function (e) { self.onInput(e); }, true);
    on(form, 'change', function (e) {
      var el = e.target, t = fieldType(el);
      if (t === 'select' || t === 'checkbox' || t === 'radio') self.fieldEvent('change', el);
    }, true);
    on(form, 'invalid', function (e) { self.onError(e.target); }, true);
    on(form, 'animationstart', function (e) {
      if (e.animationName === AUTOFILL_ANIM) self.onAutofill(e.target);
    }, true);
    on(form, 'submit', function () { self.push({ type: 'submit', step: self.step }); }, true);
    on(document, 'click', function (e) {
      var el = e.target && e.target.closest ? e.target.closest('[' + self.namedAttr + ']') : null;
      var name = el && cleanName(el.getAttribute(self.namedAttr));
      if (name) self.push({ type: 'click', target: name });
    }, true);
    on(document, 'visibilitychange', function () {
      self.push({ type: document.visibilityState === 'hidden' ? 'hidden' : 'visible' });
    });
    on(global, 'pagehide', function () { self.leave(); });
    on(global, 'error', function (e) {
      var code = e && e.error && e.error.name ? cleanName(e.error.name) : null;
      self.push(code ? { type: 'js_error', code: code } : { type: 'js_error' });
    });

    if (typeof MutationObserver !== 'undefined') {
      this.observer = new MutationObserver(function (records) { self.onMutations(records); });
      this.observer.observe(document.documentElement, {
        subtree: true, childList: true, characterData: true, attributes: true,
        attributeFilter: ['aria-invalid', 'hidden', 'style', 'class', this.priceAttr, this.priceAttr + '-amount']
      });
    }
    this.scanSteps(true);
    this.scanPrices(document);
  }

  Session.prototype.now = function () {
    var t = Math.round(((global.performance && performance.now()) || Date.now()) - this.t0);
    if (t < this.lastT) t = this.lastT;
    if (t > 86400000) t = 86400000;
    this.lastT = t;
    return t;
  };

  // Append one event. The buffer holds MAX_EVENTS - 1 events plus the final `exit`; beyond that events are
  // counted in `dropped` (reported by .stats() and a console warning), never merged or rewritten.
  Session.prototype.push = function (ev) {
    if (this.ended) return;
    var limit = ev.type === 'exit' ? MAX_EVENTS : MAX_EVENTS - 1;
    if (this.events.length >= limit) {
      if (this.dropped++ === 0 && global.console) console.warn('formwhy: event buffer full; dropping events');
      return;
    }
    var out = { t: this.now(), type: ev.type };
    for (var k in ev) if (k !== 'type' && Object.prototype.hasOwnProperty.call(ev, k)) out[k] = ev[k];
    this.events.push(out);
    this.armIdle();
  };

  // opts.idleMs: after this long with no event, the session ends by itself (`exit`, sent like session.end()).
  Session.prototype.armIdle = function () {
    var self = this, ms = this.opts.idleMs;
    if (!(ms > 0) || this.ended) return;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(function () { self.end(); }, ms);
  };

  Session.prototype.declareFields = function () {
    var seen = {}, fields = [], els = this.form.elements || [];
    this.byName = {};
    for (var i = 0; i < els.length && fields.length < MAX_FIELDS; i++) {
      var el = els[i];
      if (!isTracked(el)) continue;
      var name = cleanName(el.name || el.id);
      if (!name || seen[name]) continue;
      seen[name] = true;
      var stepEl = el.closest('[' + this.stepAttr + ']');
      var step = stepEl ? parseInt(stepEl.getAttribute(this.stepAttr), 10) : 1;
      var f = { name: name, type: fieldType(el), step: step >= 1 && step <= 50 ? step : 1,
        required: !!el.required || el.getAttribute('aria-required') === 'true', sensitive: isSensitive(el) };
      fields.push(f);
      this.byName[name] = f;
    }
    if (!fields.length) fields.push({ name: 'form', type: 'other', step: 1, required: false, sensitive: false });
    return fields;
  };

  Session.prototype.nameOf = function (el) {
    if (!isTracked(el) || !this.form.contains(el)) return null;
    var name = cleanName(el.name || el.id);
    return name && this.byName[name] ? name : null;
  };

  Session.prototype.fieldEvent = function (type, el) {
    var f = this.nameOf(el);
    if (f) this.push({ type: type, field: f });
  };

  Session.prototype.onInput = function (e) {
    var el = e.target, f = this.nameOf(el);
    if (!f) return;
    var t = fieldType(el);
    if (t === 'select' || t === 'checkbox' || t === 'radio') return;  // recorded as `change`
    var len = el.value.length;  // the only thing ever read from a field: its length
    if (this.pendingPaste[f] || e.inputType === 'insertFromPaste') {
      this.pendingPaste[f] = false;
      this.push({ type: 'paste', field: f, len: len });
      return;
    }
    var keyed = this.lastKey[f] != null && this.now() - this.lastKey[f] <= KEY_WINDOW_MS;
    if (!keyed && e.inputType !== 'deleteContentBackward' && e.inputType !== 'historyUndo' &&
        e.inputType !== 'historyRedo') {
      this.onAutofill(el);
    }
    this.push({ type: 'input', field: f, len: len });
  };

  Session.prototype.onAutofill = function (el) {
    var f = this.nameOf(el);
    if (!f) return;
    var now = this.now();
    if (this.lastAutofill[f] != null && now - this.lastAutofill[f] < 1000) return;  // animation + input: one fill
    this.lastAutofill[f] = now;
    this.push({ type: 'autofill', field: f });
  };

  Session.prototype.onError = function (el) {
    var f = this.nameOf(el), code = errorCode(el), now = this.now(), key = f || '';
    var last = this.lastError[key];
    if (last && last.code === code && now - last.t < 50) return;  // `invalid` + aria-invalid: one message
    this.lastError[key] = { code: code, t: now };
    this.push(f ? { type: 'error', code: code, field: f } : { type: 'error', code: code });
  };

  Session.prototype.onMutations = function (records) {
    var stepsChanged = false;
    for (var i = 0; i < records.length; i++) {
      var r = records[i], target = r.target;
      if (r.type === 'attributes') {
        if (r.attributeName === 'aria-invalid') {
          if (target.getAttribute('aria-invalid') === 'true') {
            if (this.nameOf(target)) this.onError(target);
            else if (this.form.contains(target)) this.push({ type: 'error', code: 'other' });
          }
          continue;
        }
        if (target.hasAttribute && target.hasAttribute(this.stepAttr)) stepsChanged = true;
        // a price changed, or something was shown/hidden that may hold prices (e.g. the next step)
        if (target.nodeType === 1) this.scanPrices(target);
      } else {
        var el = target.nodeType === 1 ? target : target.parentElement;
        if (el && el.closest && el.closest('[' + this.priceAttr + ']')) this.scanPrices(el);
        for (var j = 0; j < r.addedNodes.length; j++) {
          if (r.addedNodes[j].nodeType === 1) this.scanPrices(r.addedNodes[j]);
        }
      }
    }
    if (stepsChanged) this.scanSteps(false);
  };

  Session.prototype.scanPrices = function (root) {
    var holder = root.closest ? root.closest('[' + this.priceAttr + ']') : null;
    var list = holder ? [holder] : [];
    if (root.querySelectorAll) list = list.concat(Array.prototype.slice.call(root.querySelectorAll('[' + this.priceAttr + ']')));
    for (var i = 0; i < list.length; i++) {
      var el = list[i], kind = el.getAttribute(this.priceAttr);
      if (PRICE_KINDS.indexOf(kind) < 0) continue;
      var amount = parseAmount(el, this.priceAttr);
      if (amount == null || !isShown(el)) continue;
      var key = kind + ':' + amount;
      if (this.prices && this.prices.get(el) === key) continue;  // unchanged: not a new cost shown
      if (this.prices) this.prices.set(el, key);
      this.push({ type: 'price', kind: kind, amount: amount });
    }
  };

  Session.prototype.scanSteps = function (initial) {
    var els = this.form.querySelectorAll('[' + this.stepAttr + ']'), shown = null, max = 1;
    for (var i = 0; i < els.length; i++) {
      var n = parseInt(els[i].getAttribute(this.stepAttr), 10);
      if (!(n >= 1 && n <= 50)) continue;
      if (n > max) max = n;
      if (shown == null && isShown(els[i])) shown = n;
    }
    this.steps = this.opts.steps || max;
    if (shown == null) shown = initial ? 1 : null;
    if (shown != null && (initial || shown !== this.step)) this.view(shown);
  };

  // Public: report that a step is shown (automatic for containers with data-formwhy-step).
  Session.prototype.view = function (step) {
    this.step = step;
    this.push({ type: 'view', step: step });
  };

  // Public: the server's answer to a submit (ok, HTTP status, milliseconds).
  Session.prototype.response = function (ok, status, ms) {
    var ev = { type: 'response', ok: !!ok };
    if (typeof status === 'number' && status >= 0 && status <= 999) ev.status = Math.round(status);
    if (typeof ms === 'number' && ms >= 0) ev.ms = Math.min(600000, Math.round(ms));
    this.push(ev);
  };

  Session.prototype.trace = function () {
    var steps = Math.max(this.steps || 1, 1);
    for (var i = 0; i < this.fields.length; i++) if (this.fields[i].step > steps) steps = this.fields[i].step;
    var trace = {
      schema: SCHEMA,
      form: { id: cleanName(this.opts.formId || this.form.id || 'form') || 'form', kind: this.opts.kind || 'other',
        steps: Math.min(steps, 50), fields: this.fields },
      events: this.events.length ? this.events : [{ t: 0, type: 'view', step: 1 }]
    };
    if (this.opts.sessionId) trace.session_id = String(this.opts.sessionId).slice(0, 128);
    var w = global.innerWidth || 1024;
    trace.context = { device: w < 768 ? 'mobile' : (w < 1100 && 'ontouchstart' in global ? 'tablet' : 'desktop') };
    return trace;
  };

  Session.prototype.stats = function () {
    return { events: this.events.length, dropped: this.dropped, ended: this.ended };
  };

  Session.prototype.detach = function () {
    for (var i = 0; i < this.listeners.length; i++) {
      var l = this.listeners[i];
      l[0].removeEventListener(l[1], l[2], l[3]);
    }
    this.listeners = [];
    if (this.observer) this.observer.disconnect();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    var idx = sessions.indexOf(this);
    if (idx >= 0) sessions.splice(idx, 1);
  };

  function base(opts) { return (opts.endpoint || '').replace(/\/+$/, ''); }

  // Public: end the session on purpose (e.g. an "end session" button): send the trace, call onResult.
  Session.prototype.end = function () {
    var self = this, opts = this.opts;
    if (this.ended) return Promise.resolve(null);
    this.push({ type: 'exit' });
    var body = JSON.stringify(this.trace());
    this.ended = true;
    this.detach();
    var headers = { 'Content-Type': 'application/json' };
    var cred = opts.token || opts.apiKey;
    if (cred) headers.Authorization = 'Bearer ' + cred;
    return fetch(base(opts) + '/v1/classify', { method: 'POST', headers: headers, body: body, keepalive: true })
      .then(function (r) {
        return r.json().then(function (j) {
          if (!r.ok) throw new Error('formwhy: HTTP ' + r.status + ': ' + (j && j.detail));
          if (opts.onResult) opts.onResult(j);
          return j;
        });
      })
      .catch(function (e) { if (opts.onError) opts.onError(e); else if (global.console) console.warn(e); });
  };

  // The visitor leaves: `exit`, then the trace goes out with navigator.sendBeacon. A beacon cannot set headers,
  // so it carries the per-page session token as ?token= (never the API key; without a token nothing is sent).
  Session.prototype.leave = function () {
    if (this.ended) return;
    this.push({ type: 'exit' });
    var body = JSON.stringify(this.trace());
    this.ended = true;
    this.detach();
    if (!this.opts.token) return;
    var url = base(this.opts) + '/v1/beacon?token=' + encodeURIComponent(this.opts.token);
    var blob = new Blob([body], { type: 'text/plain' });
    if (!(navigator.sendBeacon && navigator.sendBeacon(url, blob))) {
      try { fetch(url, { method: 'POST', body: body, keepalive: true }); } catch (e) { /* page is going away */ }
    }
  };

  var FormWhy = {
    version: '1',
    attach: function (form, opts) {
      if (typeof form === 'string') form = document.querySelector(form);
      if (!form) throw new Error('FormWhy.attach: no form');
      var s = new Session(form, opts);
      sessions.push(s);
      return s;
    },
    // The page reports the server's answer to a submit: FormWhy.response(ok, status, ms).
    response: function (ok, status, ms) {
      for (var i = 0; i < sessions.length; i++) sessions[i].response(ok, status, ms);
    },
    // A fetch wrapper that reports the response (or a network failure) to every attached session.
    fetch: function (input, init) {
      var t = (global.performance && performance.now()) || Date.now();
      return fetch(input, init).then(function (r) {
        FormWhy.response(r.ok, r.status, ((global.performance && performance.now()) || Date.now()) - t);
        return r;
      }, function (e) {
        FormWhy.response(false, 0, ((global.performance && performance.now()) || Date.now()) - t);
        throw e;
      });
    },
    _sessions: sessions
  };
  global.FormWhy = FormWhy;
})(typeof window !== 'undefined' ? window : this);
