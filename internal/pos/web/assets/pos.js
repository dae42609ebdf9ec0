// posd handheld: the waiter's tables, orders, menu, kitchen sends and
// payments, on a phone or a tablet. No dependencies, no build step.
//
// The token is typed once and kept in localStorage; it travels only in the
// Authorization header (the venue stream is read with fetch, not
// EventSource, so it never goes into a URL).
//
// Nothing typed is ever lost. Every edit goes into the order's draft (ops,
// kept in localStorage). "Save" turns the draft into a queued write: one
// PATCH with expected_version (the version the waiter was looking at) and an
// Idempotency-Key made once for it and kept until an answer arrives, so a
// retry after a timeout or a dropped connection is the same request, and a
// stored replay (Idempotent-Replayed: true) is a success like any other.
// Opening a table (POST /v1/orders) is queued the same way. The queue is
// replayed in order, per order one write at a time; while the network is
// away it waits, retrying with exponential backoff and jitter. A stale
// version (409/412 version-conflict) is never retried on its own: it opens
// the merge screen (what colleagues changed, in words; the waiter's own
// changes, with those that no longer apply marked; the result), where one
// tap applies the changes to the latest version with a new key.
//
// Test hooks: body[data-screen] (pair, floor, order), body[data-merges]
// (how many times the merge screen was opened); #net[data-state] (online,
// offline) and [data-queue] (writes waiting); #live[data-state] (off,
// connecting, live) and [data-cursor]; tables are #tables
// button[data-table][data-state]; lines .line[data-line-id][data-status];
// menu items #menu button[data-sku]; #order[data-order-id][data-version]
// and [data-loaded] (1 once the order screen's read of the order is done).
// The split screen (body[data-screen=split]): #checks .check[data-check]
// with [data-total] and [data-due], its lines .sline[data-line-id]
// [aria-pressed], buttons [data-move-to], [data-pay], [data-merge-check];
// #askbox is the one small question dialog. #floor[data-pick] (transfer,
// merge) while a table is being picked on the floor.
(() => {
  'use strict';

  const K = {
    token: 'posd.pos.token', me: 'posd.pos.me', drafts: 'posd.pos.drafts', queue: 'posd.pos.queue',
    orders: 'posd.pos.orders', menu: 'posd.pos.menu', floor: 'posd.pos.floor', screen: 'posd.pos.screen',
  };
  const WRITE_TIMEOUT = 8000;
  const READ_TIMEOUT = 8000;
  const BACKOFF_MIN = 400;
  const BACKOFF_MAX = 8000;
  const STREAM_IDLE = 45000; // no byte (heartbeats included) for this long: reconnect

  // ---- small helpers -----------------------------------------------------
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...kids) => {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') n.className = v;
      else if (k === 'text') n.textContent = v;
      else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'type' || k === 'title') n.setAttribute(k, v === true ? '' : String(v));
      else n[k] = v;
    }
    for (const c of kids) if (c !== null && c !== undefined) n.append(c);
    return n;
  };
  const btn = (text, attrs, onTap) => {
    const b = el('button', Object.assign({ type: 'button', text }, attrs));
    if (onTap) b.addEventListener('click', onTap);
    return b;
  };
  const load = (k, d) => { try { const v = localStorage.getItem(k); return v === null ? d : JSON.parse(v); } catch (e) { return d; } };
  const keep = (k, v) => { try { localStorage.setItem(k, JSON.stringify(v)); } catch (e) { /* full or private: memory only */ } };
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  // A v4 UUID from crypto.getRandomValues, which (unlike randomUUID) works
  // on a plain-http LAN address too.
  const uuid = () => {
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  };
  const money = (c) => { const n = Number(c || 0); const s = n < 0 ? '−' : ''; return s + (Math.abs(n) / 100).toFixed(2); };
  const cents = (s) => { const v = String(s || '').trim().replace(',', '.'); if (!/^\d+(\.\d{1,2})?$/.test(v)) return NaN; return Math.round(parseFloat(v) * 100); };
  const hhmm = (t) => { const d = new Date(t); return isNaN(d) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false }); };
  const age = (t) => { const m = Math.max(0, Math.floor((Date.now() - new Date(t)) / 60000)); return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`; };
  const jitter = (n) => { const d = Math.min(BACKOFF_MAX, BACKOFF_MIN * 2 ** n); return Math.round(d / 2 + Math.random() * d / 2); };

  // ---- state ---------------------------------------------------------------
  let token = load(K.token, '');
  let me = load(K.me, null);
  let menu = load(K.menu, null);
  let floor = load(K.floor, { tables: [], orders: {} }); // orders: table -> open order summary
  let drafts = load(K.drafts, {}); // ref -> {ref, table, ops}
  let queue = load(K.queue, []); // writes waiting for an answer, in order
  for (const q of queue) if (q.conflict) { q.conflicts = [q.conflict]; delete q.conflict; } // kept by an older handheld
  let orders = load(K.orders, {}); // ref -> the order as this device last accepted it
  let current = null; // ref of the order on screen
  let seat = 1;
  let course = 1;
  let category = '';
  let online = true;
  let cursor = '';
  let staleNotice = null; // {ref, text}: a colleague changed the open order while it has a draft
  let picked = null; // the line tapped on the split screen
  let floorPick = null; // {kind: 'transfer'|'merge', ref, moves}: the floor picks a table for it
  let payCheck = null; // the check the payment dialog pays (null: the order's only check)
  const liveTables = new Map(); // table -> time of the last live change
  const shownMerges = new Set();

  const isManager = () => !!me && me.role === 'manager';
  const saveDrafts = () => keep(K.drafts, drafts);
  const saveQueue = () => { keep(K.queue, queue); $('net').dataset.queue = String(queue.length); };
  const saveOrders = () => {
    // Keep only what a reload needs: orders with a draft or a queued write,
    // and the one on screen.
    const want = new Set([...Object.keys(drafts), ...queue.map((q) => q.ref), current].filter(Boolean));
    const kept = {};
    for (const r of want) if (orders[r]) kept[r] = orders[r];
    keep(K.orders, kept);
  };

  // ---- the API ---------------------------------------------------------------
  // api answers {status, ok, body, replayed, fromPosd} or throws Offline when
  // posd could not be reached (no answer, a timeout, or an answer that is not
  // posd's: every posd answer carries X-Request-Id).
  class Offline extends Error {}
  async function api(method, path, body, headers, timeout) {
    const h = Object.assign({ Authorization: 'Bearer ' + token }, headers || {});
    if (body !== undefined) h['Content-Type'] = 'application/json';
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), timeout || READ_TIMEOUT);
    let res;
    try {
      res = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), signal: ctrl.signal, cache: 'no-store' });
    } catch (e) {
      clearTimeout(timer);
      setOnline(false);
      throw new Offline(String(e));
    }
    let text = '';
    try { text = await res.text(); } catch (e) { clearTimeout(timer); setOnline(false); throw new Offline(String(e)); }
    clearTimeout(timer);
    if (!res.headers.get('X-Request-Id')) { setOnline(false); throw new Offline('not posd: ' + res.status); }
    setOnline(true);
    let parsed = null;
    try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = null; }
    return { status: res.status, ok: res.ok, body: parsed, replayed: res.headers.get('Idempotent-Replayed') === 'true' };
  }
  const slug = (r) => (r.body && typeof r.body.type === 'string' ? r.body.type.split('/').pop() : '');
  // transient answers: nothing was done, the same request may be sent again.
  const transient = (r) => r.status === 429 || r.status === 502 || r.status === 503 || r.status === 504 ||
    (r.status === 409 && slug(r) === 'idempotency-in-flight');

  function setOnline(v) {
    if (online === v) return;
    online = v;
    const n = $('net');
    n.dataset.state = v ? 'online' : 'offline';
    renderNet();
    if (v) {
      retryNow();
      if (token) loadFloor();
    } else {
      scheduleProbe();
    }
  }
  function renderNet() {
    const waiting = queue.length;
    $('net-text').textContent = online
      ? (waiting ? `Online · sending ${waiting}` : 'Online')
      : (waiting ? `Offline · ${waiting} waiting, kept on this device` : 'Offline · changes are kept');
  }

  // While offline with nothing to send, look for the network now and then.
  let probeTimer = null;
  let probeTry = 0;
  function scheduleProbe() {
    if (probeTimer || online) return;
    probeTimer = setTimeout(async () => {
      probeTimer = null;
      if (online || !token) { probeTry = 0; return; }
      try { await api('GET', '/v1/me'); probeTry = 0; } catch (e) { probeTry++; scheduleProbe(); }
    }, jitter(probeTry));
  }
  window.addEventListener('online', () => { probeTry = 0; retryNow(); if (!online) api('GET', '/v1/me').catch(() => {}); });

  // ---- messages ----------------------------------------------------------------
  let toastTimer = null;
  function toast(text, sticky) {
    const t = $('toast');
    t.textContent = text;
    t.hidden = false;
    clearTimeout(toastTimer);
    if (!sticky) toastTimer = setTimeout(() => { t.hidden = true; }, 8000);
  }
  $('toast').addEventListener('click', () => { $('toast').hidden = true; });

  const menuItem = (sku) => (menu && menu.items || []).find((i) => i.sku === sku);
  const itemName = (sku) => (menuItem(sku) || {}).name || sku;

  // refusal says in words why posd refused a write.
  function refusal(r) {
    const b = r.body || {};
    const first = (b.errors && b.errors[0]) || {};
    const opSku = (ops) => { const op = ops && ops[first.op_index]; return op && op.sku ? itemName(op.sku) : 'an item'; };
    switch (slug(r)) {
      case 'sold-out': return (ops) => `${opSku(ops)} is sold out: ${b.remaining ?? 0} left. Change the quantity or take it off, then save again.`;
      case 'item-unavailable': return (ops) => `${opSku(ops)} is not available now (86'd)${b.unavailable_until ? ' until ' + hhmm(b.unavailable_until) : ''}. Take it off, then save again.`;
      case 'table-occupied': return () => 'That table already has an open order.';
      case 'order-closed': return () => 'This order was closed meanwhile; nothing was changed.';
      case 'refund-required': return () => 'The party has paid: lowering the bill now needs a manager (a refund).';
      case 'overpayment': return () => `That is more than is due: at most ${money(b.payable_cents)}.`;
      case 'forbidden': return () => 'Only a manager can do that.';
      case 'unauthorized': return () => 'This device is not paired any more: pair it again.';
      case 'not-found': return () => 'This order is not there any more.';
      case 'payload-too-large': return () => 'Too many changes at once: save fewer.';
      case 'validation-failed': return () => `Not accepted: ${first.detail || b.detail || 'a change is not valid'}.`;
      default: return () => (b.detail ? `Not accepted: ${b.detail}` : 'Not accepted by posd.');
    }
  }

  // ---- pairing -----------------------------------------------------------------
  async function pair() {
    const t = $('tokenin').value.trim();
    if (!t) { $('pairmsg').textContent = 'Type the token first.'; return; }
    token = t;
    $('pairmsg').textContent = 'Checking…';
    try {
      const r = await api('GET', '/v1/me');
      if (r.status === 401) { token = ''; $('pairmsg').textContent = 'That token is not known. Check it and try again.'; return; }
      if (!r.ok) { token = ''; $('pairmsg').textContent = refusal(r)(); return; }
      if (r.body.role === 'kitchen') { token = ''; $('pairmsg').textContent = 'That is a kitchen token; the handheld needs a waiter\'s or a manager\'s.'; return; }
      me = r.body;
      keep(K.token, token);
      keep(K.me, me);
      $('tokenin').value = '';
      $('pairmsg').textContent = '';
      started();
    } catch (e) {
      token = '';
      $('pairmsg').textContent = 'No connection to posd. Try again when online.';
    }
  }
  $('pairbtn').addEventListener('click', pair);
  $('tokenin').addEventListener('keydown', (e) => { if (e.key === 'Enter') pair(); });
  $('unpair').addEventListener('click', () => {
    if (queue.length || Object.keys(drafts).length) { toast('This device still has unsent changes; save or discard them first.'); return; }
    token = ''; me = null;
    localStorage.removeItem(K.token); localStorage.removeItem(K.me);
    if (streamCtrl) streamCtrl.abort();
    show('pair');
  });

  // ---- screens -----------------------------------------------------------------
  // The order and its split screen both show the order `current`.
  const ofOrder = (screen) => screen === 'order' || screen === 'split';
  function show(screen) {
    document.body.dataset.screen = screen;
    keep(K.screen, ofOrder(screen) ? current : null);
    for (const s of ['pair', 'floor', 'order', 'split']) $(s).hidden = s !== screen;
    $('back').hidden = !ofOrder(screen);
    $('back').textContent = screen === 'split' ? '‹ Order' : '‹ Floor';
    $('who').textContent = me ? `${me.staff} · ${me.role}` : '';
    if (!ofOrder(screen)) { current = null; $('notice').hidden = true; }
    if (screen !== 'split') picked = null;
    $('title').textContent = ofOrder(screen) && current ? `Table ${viewOrder(current).table}` : screen === 'floor' ? 'Floor' : 'Handheld';
  }
  $('back').addEventListener('click', () => {
    if (document.body.dataset.screen === 'split') { show('order'); renderOrder(); return; }
    show('floor'); renderFloor();
  });

  // ---- floor -------------------------------------------------------------------
  let floorLoading = null;
  async function loadFloor() {
    if (floorLoading) return floorLoading;
    floorLoading = (async () => {
      try {
        const t = await api('GET', '/v1/tables');
        if (!t.ok) return;
        const byTable = {};
        let path = '/v1/orders?status=open&limit=500';
        for (let page = 0; path && page < 4; page++) {
          const o = await api('GET', path);
          if (!o.ok) return;
          for (const ord of o.body.orders) byTable[ord.table] = ord;
          path = o.body.next;
        }
        floor = { tables: t.body.tables, orders: byTable };
        keep(K.floor, floor);
        // An order on screen without local changes follows the server
        // (re-rendered only when it changed: a tap must not land on a
        // screen being rebuilt for nothing).
        let moved = false;
        for (const ord of Object.values(byTable)) {
          if (orders[ord.id] && !hasLocal(ord.id) && ord.version > orders[ord.id].version) {
            orders[ord.id] = ord;
            moved = moved || ord.id === current;
          }
        }
        renderFloor();
        if (moved) renderOrder();
      } catch (e) { /* offline: the floor stays as last read */ }
    })();
    try { await floorLoading; } finally { floorLoading = null; }
  }
  let floorSoon = null;
  const loadFloorSoon = () => { clearTimeout(floorSoon); floorSoon = setTimeout(loadFloor, 250); };

  // refsOf are the orders a queued write touches: its own, and the other
  // order of a transfer or a merge.
  const refsOf = (q) => (q.other ? [q.ref, q.other] : [q.ref]);
  const hasLocal = (ref) => !!(drafts[ref] && drafts[ref].ops.length) || queue.some((q) => refsOf(q).includes(ref));

  function renderFloor() {
    const box = $('tables');
    box.replaceChildren();
    const localOpen = {};
    for (const q of queue) if (q.kind === 'open') localOpen[q.table] = q;
    for (const t of floor.tables) {
      const o = floor.orders[t.id];
      const lo = localOpen[t.id];
      const busy = !!o || !!lo;
      const ref = o ? o.id : lo ? lo.ref : null;
      const info = o ? `${o.server || ''} · ${age(o.opened_at)} · ${o.guests} guests` : lo ? 'opening… (waiting to send)' : `free · ${t.seats} seats`;
      const pending = ref && hasLocal(ref) ? ' · not sent yet' : '';
      const live = liveTables.has(t.id) && Date.now() - liveTables.get(t.id) < 10000;
      // Picking a table for a move or a merge: not this order's own table,
      // not one still being opened, for a merge only an occupied one.
      const unpickable = !!floorPick && (ref === floorPick.ref || !!lo || (floorPick.kind === 'merge' && !o));
      const b = btn('', {
        'data-table': t.id, 'data-state': busy ? 'occupied' : 'free', 'data-local': lo ? '1' : undefined,
        'data-live': live ? '1' : undefined, 'data-order-id': ref || '', disabled: unpickable,
        'aria-label': `Table ${t.label}, ${busy ? 'occupied' : 'free'}`,
      }, () => tapTable(t, o, lo));
      b.append(el('span', { class: 'tlabel', text: t.label }), el('span', { class: 'tinfo', text: info + pending }));
      box.append(b);
    }
    $('floor-note').textContent = floor.tables.length ? '' : (online ? 'Loading tables…' : 'Offline: no tables read yet.');
    $('floor').dataset.pick = floorPick ? floorPick.kind : '';
    $('floor-pick').hidden = !floorPick;
    if (floorPick) {
      const from = viewOrder(floorPick.ref).table;
      $('floor-pick-text').textContent = floorPick.kind === 'merge'
        ? `Tap the table whose order merges into table ${from}.`
        : `Tap the table ${movedText(floorPick.ref, floorPick.moves)} moves to (a free one opens).`;
    }
  }
  setInterval(() => { if (document.body.dataset.screen === 'floor') renderFloor(); }, 30000);

  function tapTable(t, o, lo) {
    if (floorPick) return pickTable(t, o);
    if (o) return openOrderScreen(o.id, o);
    if (lo) return openOrderScreen(lo.ref);
    $('open-title').textContent = `Open table ${t.label}`;
    $('guests').textContent = String(Math.min(t.seats || 2, 2));
    $('openbox').dataset.table = t.id;
    $('openbox').hidden = false;
  }
  const guestsBy = (d) => { const g = Math.max(1, Math.min(999, +$('guests').textContent + d)); $('guests').textContent = String(g); };
  $('guests-minus').addEventListener('click', () => guestsBy(-1));
  $('guests-plus').addEventListener('click', () => guestsBy(1));
  $('open-cancel').addEventListener('click', () => { $('openbox').hidden = true; });
  $('open-ok').addEventListener('click', () => {
    const table = $('openbox').dataset.table;
    const guests = +$('guests').textContent;
    $('openbox').hidden = true;
    const ref = 'local-' + uuid();
    orders[ref] = { id: ref, table, guests, status: 'open', version: 0, lines: [], payments: [], totals: null, server: me ? me.staff : '', opened_at: new Date().toISOString(), local: true };
    enqueue({ kind: 'open', ref, table, guests });
    openOrderScreen(ref);
  });

  // ---- orders and drafts ---------------------------------------------------
  // viewOrder is what the waiter sees: the order as last accepted, with the
  // queued writes' ops and the draft's applied on top.
  function viewOrder(ref) {
    const base = orders[ref];
    if (!base) return { id: ref, table: '', lines: [], payments: [], version: 0, status: 'open' };
    let v = applyOps(base, queue.filter((q) => q.ref === ref && q.kind === 'patch').flatMap((q) => q.ops), 'queued');
    if (drafts[ref]) v = applyOps(v, drafts[ref].ops, 'draft');
    return v;
  }

  // applyOps folds ops onto a copy of an order, as far as the handheld can
  // tell without the server (names and prices from the menu; totals are
  // posd's, and only the added amount is shown apart).
  function applyOps(order, ops, mark) {
    const o = Object.assign({}, order, { lines: order.lines.map((l) => Object.assign({}, l)), payments: (order.payments || []).slice() });
    o.pendingCents = order.pendingCents || 0;
    const line = (id) => o.lines.find((l) => l.id === id);
    for (const op of ops) {
      switch (op.op) {
        case 'add_item': {
          const it = menuItem(op.sku) || { name: op.sku, price_cents: 0, station: '' };
          const opts = (op.options || []).map((s) => optionOf(s.group, s.option)).filter(Boolean);
          const unit = it.price_cents + opts.reduce((a, x) => a + x.price_cents, 0);
          o.lines.push({ id: op.line_id, sku: op.sku, name: it.name, qty: op.qty || 1, seat: op.seat || 0, course: op.course || 1,
            status: 'pending', comped: false, unit_price_cents: unit, options: opts.map((x) => ({ name: x.name })), [mark]: true });
          o.pendingCents += unit * (op.qty || 1);
          break;
        }
        case 'set_qty': { const l = line(op.line_id); if (l && l.status === 'pending') { o.pendingCents += (op.qty - l.qty) * l.unit_price_cents; l.qty = op.qty; l[mark] = true; } break; }
        case 'remove_item': { const l = line(op.line_id); if (l && l.status === 'pending') { o.pendingCents -= l.qty * l.unit_price_cents; o.lines = o.lines.filter((x) => x !== l); } break; }
        case 'void_item': { const l = line(op.line_id); if (l) { l.status = 'voided'; l[mark] = true; } break; }
        case 'comp_item': { const l = line(op.line_id); if (l) { l.comped = true; l[mark] = true; } break; }
        case 'send': for (const l of o.lines) if (l.status === 'pending' && (!op.course || l.course === op.course)) { l.status = 'sent'; l[mark] = true; } break;
        case 'add_payment': o.payments.push({ tender: op.tender, amount_cents: op.amount_cents, tip_cents: op.tip_cents || 0, check: op.check || 1, [mark]: true }); break;
        case 'close': o.status = 'closed'; break;
        case 'set_guests': o.guests = op.guests; break;
        // Checks, as posd folds them (DESIGN.md section 11).
        case 'move_to_check': {
          const l = line(op.line_id);
          if (!l) break;
          if (op.qty && op.qty < l.qty && op.new_line_id) {
            l.qty -= op.qty;
            o.lines.push(Object.assign({}, l, { id: op.new_line_id, qty: op.qty, check: op.check, shared_by: null, [mark]: true }));
          } else Object.assign(l, { check: op.check, shared_by: null });
          l[mark] = true;
          break;
        }
        case 'share_line': { const l = line(op.line_id); if (l) Object.assign(l, { check: 0, shared_by: op.checks.slice().sort((a, b) => a - b), [mark]: true }); break; }
        case 'split_even': {
          const by = Array.isArray(op.checks) ? op.checks : Array.from({ length: op.checks }, (_, i) => i + 1);
          for (const l of o.lines) if (l.status !== 'voided') Object.assign(l, { check: 0, shared_by: by.slice(), [mark]: true });
          break;
        }
        case 'split_by_seat': {
          const seats = [...new Set(o.lines.filter((l) => l.status !== 'voided' && l.seat >= 1).map((l) => l.seat))].sort((a, b) => a - b);
          for (const l of o.lines) {
            if (l.status === 'voided' || !seats.length) continue;
            if (l.seat >= 1) Object.assign(l, { check: l.seat, shared_by: null });
            else if (seats.length === 1) Object.assign(l, { check: seats[0], shared_by: null });
            else Object.assign(l, { check: 0, shared_by: seats.slice() });
            l[mark] = true;
          }
          break;
        }
        case 'merge_checks':
          for (const l of o.lines) {
            if (!isShared(l)) { if (checkOf(l) === op.from) Object.assign(l, { check: op.into, [mark]: true }); continue; }
            if (!l.shared_by.includes(op.from)) continue;
            const by = [...new Set(l.shared_by.map((c) => (c === op.from ? op.into : c)))].sort((a, b) => a - b);
            Object.assign(l, by.length === 1 ? { check: by[0], shared_by: null } : { shared_by: by }, { [mark]: true });
          }
          o.payments = o.payments.map((p) => ((p.check || 1) === op.from ? Object.assign({}, p, { check: op.into }) : p));
          break;
        // Between orders: what leaves this one, what arrives.
        case 'transfer_out':
          for (const m of op.moves || []) {
            const l = line(m.line_id);
            if (!l) continue;
            if (m.qty && m.qty < l.qty) { l.qty -= m.qty; l[mark] = true; } else o.lines = o.lines.filter((x) => x !== l);
          }
          break;
        case 'transfer_in': case 'merge_from':
          for (const it of op.items || []) o.lines.push(Object.assign({}, it, { [mark]: true }));
          break;
        case 'merge_into': o.status = 'closed'; break;
        default: break;
      }
    }
    return o;
  }
  const isShared = (l) => !!(l.shared_by && l.shared_by.length);
  // checkOf is the check a line is billed on (0: shared).
  const checkOf = (l) => (isShared(l) ? 0 : l.check || 1);
  // checkNumbers are the order's checks, ascending: 1, and every check a
  // line, a share or a payment names.
  const checkNumbers = (o) => [...new Set([1, ...o.lines.flatMap((l) => (isShared(l) ? l.shared_by : [checkOf(l)])),
    ...(o.payments || []).map((p) => p.check || 1)])].sort((a, b) => a - b);
  // shareOf is check n's part of a line's amount: shared evenly, the
  // remainder cents to the lowest checks first (order.ShareOf).
  const shareOf = (l, n) => {
    const amount = l.status === 'voided' || l.comped ? 0 : l.qty * l.unit_price_cents;
    if (!isShared(l)) return checkOf(l) === n ? amount : 0;
    const k = l.shared_by.indexOf(n);
    if (k < 0) return 0;
    const parts = l.shared_by.length;
    return Math.floor(amount / parts) + (k < amount % parts ? 1 : 0);
  };
  function optionOf(group, option) {
    const g = (menu && menu.modifier_groups || []).find((x) => x.id === group);
    return g && g.options.find((x) => x.id === option);
  }

  // whyNot says why an op no longer applies to order (after the ops before
  // it), or '' when it does.
  function whyNot(order, ops, i) {
    const o = applyOps(order, ops.slice(0, i), 'x');
    const op = ops[i];
    const l = op.line_id ? o.lines.find((x) => x.id === op.line_id) : null;
    const gone = (what) => {
      const orig = order.lines.find((x) => x.id === op.line_id);
      if (!orig) return `${what}: the line is not on the order any more (removed)`;
      if (orig.status === 'sent') return `${what}: the line was sent to the kitchen meanwhile`;
      if (orig.status === 'voided') return `${what}: the line was voided meanwhile`;
      return `${what}: the line changed meanwhile`;
    };
    if (order.status === 'closed') return 'the order was closed';
    switch (op.op) {
      case 'set_qty': case 'remove_item': return l && l.status === 'pending' ? '' : gone(op.op === 'set_qty' ? 'cannot change the quantity' : 'cannot remove it');
      case 'void_item': return l && l.status === 'sent' ? '' : gone('cannot void it');
      case 'comp_item': return l && l.status !== 'voided' ? '' : gone('cannot comp it');
      case 'send': return op.course && !o.lines.some((x) => x.status === 'pending' && x.course === op.course) ? `nothing is left to send in course ${op.course}` : '';
      case 'move_to_check': case 'share_line':
        if (!l || l.status === 'voided') return gone('cannot move it');
        return op.qty && (op.qty >= l.qty || isShared(l)) ? `cannot move ${op.qty} of it: the line has ${l.qty}${isShared(l) ? ', shared' : ''} now` : '';
      case 'merge_checks': return checkNumbers(o).includes(op.from) ? '' : `there is no check ${op.from} any more`;
      case 'split_by_seat': return o.lines.some((x) => x.status !== 'voided' && x.seat >= 1) ? '' : 'no line has a seat';
      case 'transfer_out':
        for (const m of op.moves || []) {
          const x = o.lines.find((y) => y.id === m.line_id);
          if (!x) return 'cannot move it: the line is not on the order any more';
          if (x.status === 'voided') return 'cannot move it: the line was voided meanwhile';
          if (m.qty && m.qty > x.qty) return `cannot move ${m.qty}: the line has ${x.qty} now`;
        }
        return '';
      default: return '';
    }
  }

  // describe puts one op in words, naming lines by what they are.
  function describe(op, order) {
    const l = op.line_id && order ? order.lines.find((x) => x.id === op.line_id) : null;
    const nm = op.name || (l && l.name) || (op.sku ? itemName(op.sku) : 'a line');
    const seatTxt = (s) => (s ? `seat ${s}` : 'the table');
    switch (op.op) {
      case 'open': return `opened the table for ${op.guests}`;
      case 'add_item': {
        const opts = (op.options || []).map((x) => x.name || (optionOf(x.group, x.option) || {}).name || x.option);
        return `+${op.qty || 1} ${nm}${opts.length ? ' (' + opts.join(', ') + ')' : ''}, ${seatTxt(op.seat)}`;
      }
      case 'set_qty': return `${nm}: quantity ${op.qty}`;
      case 'remove_item': return `− ${nm} taken off`;
      case 'void_item': return `voided ${nm}${op.reason ? ' (' + op.reason + ')' : ''}`;
      case 'comp_item': return `comped ${nm}${op.reason ? ' (' + op.reason + ')' : ''}`;
      case 'send': return op.course ? `sent course ${op.course} to the kitchen` : 'sent to the kitchen';
      case 'add_payment': return `payment ${money(op.amount_cents)} ${op.tender}${op.tip_cents ? ' + tip ' + money(op.tip_cents) : ''}`;
      case 'refund_payment': return `refund ${money(op.amount_cents)}`;
      case 'set_guests': return `guests: ${op.guests}`;
      case 'set_note': return op.note ? `note: “${op.note}”` : 'note cleared';
      case 'move_table': return `moved to ${op.table}`;
      case 'close': return 'closed the order';
      case 'add_discount': return 'discount';
      case 'move_to_check': return `${op.qty ? op.qty + ' × ' : ''}${nm} to check ${op.check}`;
      case 'share_line': return `${nm} shared by checks ${op.checks.join(', ')}`;
      case 'split_by_seat': return 'split by seat';
      case 'split_even': return `split evenly into ${Array.isArray(op.checks) ? op.checks.length : op.checks} checks`;
      case 'merge_checks': return `check ${op.from} merged into check ${op.into}`;
      case 'transfer_out': return `moved ${movesText(op.moves, order)} to table ${op.table}`;
      case 'transfer_in': return `${itemsText(op.items)} came from table ${op.table}`;
      case 'merge_into': return `merged into table ${op.table}`;
      case 'merge_from': return `table ${op.table} merged in${op.items ? ': ' + itemsText(op.items) : ''}`;
      default: return op.op.replace(/_/g, ' ');
    }
  }
  const itemsText = (items) => (items || []).map((l) => `${l.qty} × ${l.name || itemName(l.sku)}`).join(', ') || 'nothing';
  // movesText names the lines a transfer takes, "1 × Draft beer, 2 × Fries".
  const movesText = (moves, order) => (moves || []).map((m) => {
    const l = order && order.lines.find((x) => x.id === m.line_id);
    return `${m.qty || (l ? l.qty : 1)} × ${l ? l.name : 'a line'}`;
  }).join(', ');
  const movedText = (ref, moves) => movesText(moves, viewOrder(ref));
  const who = (ev) => `${(ev.actor && (ev.actor.staff || ev.actor.device)) || 'someone'}, ${hhmm(ev.at)}`;
  // describeEvent is one colleague's event: "+2 Steak frites, seat 1 (Alice, 20:14)".
  const describeEvent = (ev, order) => (ev.ops || []).map((op) => `${describe(op, order)} (${who(ev)})${ev.forced ? ' — overwrite' : ''}`);

  function draftOf(ref) {
    if (!drafts[ref]) drafts[ref] = { ref, table: (orders[ref] || {}).table || '', ops: [] };
    return drafts[ref];
  }
  function edited(ref) {
    const d = drafts[ref];
    if (d && !d.ops.length) delete drafts[ref];
    saveDrafts();
    saveOrders();
    if (current === ref) renderOrder();
  }

  function addItem(sku, qty, options) {
    const d = draftOf(current);
    const same = (op) => op.op === 'add_item' && op.sku === sku && op.seat === seat && op.course === course &&
      JSON.stringify(op.options || []) === JSON.stringify(options || []);
    const prev = d.ops.find(same);
    if (prev) prev.qty = Math.min(99, prev.qty + qty);
    else {
      const op = { op: 'add_item', sku, qty, seat, course, line_id: uuid() };
      if (options && options.length) op.options = options;
      d.ops.push(op);
    }
    edited(current);
  }
  function changeQty(l, delta) {
    const d = draftOf(current);
    const add = d.ops.find((op) => op.op === 'add_item' && op.line_id === l.id);
    const q = l.qty + delta;
    if (add) {
      if (q < 1) d.ops = d.ops.filter((op) => op.line_id !== l.id);
      else add.qty = Math.min(99, q);
    } else if (q < 1) {
      d.ops = d.ops.filter((op) => !(op.op === 'set_qty' && op.line_id === l.id));
      d.ops.push({ op: 'remove_item', line_id: l.id });
    } else {
      const set = d.ops.find((op) => op.op === 'set_qty' && op.line_id === l.id);
      if (set) set.qty = Math.min(99, q); else d.ops.push({ op: 'set_qty', line_id: l.id, qty: Math.min(99, q) });
    }
    edited(current);
  }
  function removeLine(l) {
    const d = draftOf(current);
    if (d.ops.some((op) => op.op === 'add_item' && op.line_id === l.id)) d.ops = d.ops.filter((op) => op.line_id !== l.id);
    else { d.ops = d.ops.filter((op) => !(op.op === 'set_qty' && op.line_id === l.id)); d.ops.push({ op: 'remove_item', line_id: l.id }); }
    edited(current);
  }
  function askReason(title, quick, done) {
    $('reason-title').textContent = title;
    $('reason').value = '';
    const q = $('reason-quick');
    q.replaceChildren(...quick.map((r) => btn(r, { 'data-reason': r }, () => { $('reason').value = r; })));
    $('reasonbox').hidden = false;
    reasonDone = done;
    $('reason').focus();
  }
  let reasonDone = null;
  $('reason-cancel').addEventListener('click', () => { $('reasonbox').hidden = true; reasonDone = null; });
  $('reason-ok').addEventListener('click', () => {
    const r = $('reason').value.trim();
    if (!r) { $('reason').focus(); return; }
    $('reasonbox').hidden = true;
    if (reasonDone) reasonDone(r);
    reasonDone = null;
  });
  $('undo').addEventListener('click', () => { if (current) { delete drafts[current]; edited(current); } });
  $('save').addEventListener('click', () => save(current));

  // save turns the order's draft into one queued PATCH.
  function save(ref, extra) {
    const d = drafts[ref];
    const ops = (d ? d.ops : []).concat(extra || []);
    if (!ops.length) return;
    delete drafts[ref];
    saveDrafts();
    enqueue({ kind: 'patch', ref, table: (orders[ref] || {}).table, ops });
    if (current === ref) renderOrder();
  }

  // ---- the queue of writes ------------------------------------------------
  function enqueue(item) {
    const earlier = queue.some((q) => refsOf(q).includes(item.ref));
    item.id = uuid();
    item.key = uuid();
    item.state = 'queued';
    // The version the waiter was looking at; a write queued behind another
    // of the same order takes the version that one's answer gives.
    if (item.kind !== 'open') item.expected = earlier ? null : (orders[item.ref] || {}).version;
    queue.push(item);
    saveQueue();
    saveOrders();
    renderNet();
    retryNow();
  }
  let pumping = false;
  let retryTimer = null;
  let retryTry = 0;
  function retryNow() { clearTimeout(retryTimer); retryTimer = null; retryTry = 0; pump(); }
  function retryLater() {
    if (retryTimer) return;
    retryTimer = setTimeout(() => { retryTimer = null; pump(); }, jitter(retryTry++));
  }
  // blocked: an earlier write of one of the same orders has no answer yet.
  const blocked = (item) => {
    for (const q of queue) { if (q === item) return false; if (refsOf(q).some((r) => refsOf(item).includes(r))) return true; }
    return false;
  };

  async function pump() {
    if (pumping || !token) return;
    pumping = true;
    try {
      for (;;) {
        const item = queue.find((q) => q.state === 'queued' && !blocked(q));
        if (!item) break;
        const r = await send(item);
        if (r === 'retry') { retryLater(); break; }
        retryTry = 0;
      }
    } finally {
      pumping = false;
      renderNet();
      const conflict = queue.find((q) => q.state === 'conflict');
      if (conflict) openMerge(conflict);
    }
  }

  const removeItem = (item) => { queue = queue.filter((q) => q !== item); saveQueue(); };
  // next is the following write of the same order, which waits for this one's version.
  const next = (item) => queue.find((q) => q !== item && q.ref === item.ref);
  // followed: o is this write's answer; the following write of the order
  // takes its version.
  const followed = (item, o) => { const n = next(Object.assign({}, item, { ref: o.id })); if (n && n.expected == null) n.expected = o.version; };

  async function send(item) {
    let r;
    try {
      if (item.kind === 'open') {
        r = await api('POST', '/v1/orders', { table: item.table, guests: item.guests }, { 'Idempotency-Key': item.key }, WRITE_TIMEOUT);
      } else {
        if (item.expected === null || item.expected === undefined) item.expected = (orders[item.ref] || {}).version;
        item.sent = true;
        saveQueue();
        if (item.kind === 'patch') {
          const body = { expected_version: item.expected, ops: item.ops };
          if (item.force) body.force = true;
          r = await api('PATCH', '/v1/orders/' + item.ref, body, { 'Idempotency-Key': item.key }, WRITE_TIMEOUT);
        } else {
          r = await api('POST', `/v1/orders/${item.ref}/${item.kind}`, pairBody(item), { 'Idempotency-Key': item.key }, WRITE_TIMEOUT);
        }
      }
    } catch (e) {
      return 'retry';
    }
    if (transient(r)) return 'retry';
    if (item.kind === 'open') return opened(item, r);
    if (item.kind === 'patch') return patched(item, r);
    return paired(item, r);
  }

  // pairBody is a transfer's or merge's request: this order at the version
  // the waiter saw, and the other order at the version the waiter picked it
  // at (a free table has none).
  function pairBody(item) {
    const other = { order_id: item.other, expected_version: item.otherExpected };
    if (item.kind === 'merge') return { expected_version: item.expected, from: other };
    return { expected_version: item.expected, to: item.other ? other : { table: item.otherTable }, lines: item.ops.flatMap((op) => op.moves) };
  }

  function opened(item, r) {
    if (r.status === 201 || r.status === 200) {
      rename(item.ref, r.body.id, r.body);
      removeItem(item);
      followed(item, r.body);
      floor.orders[r.body.table] = r.body;
      renderFloor();
      loadFloorSoon();
      return 'ok';
    }
    if (slug(r) === 'table-occupied' && r.body.current) {
      const cur = r.body.current;
      const local = item.ref;
      const deps = queue.filter((q) => q.ref === local && q !== item);
      removeItem(item);
      rename(local, cur.id, cur);
      if (deps.length) {
        // A colleague opened the table first: our lines need the merge screen.
        deps[0].expected = 0;
        deps[0].state = 'conflict';
        deps[0].conflicts = [{ current: cur, changes: [], opened: true }];
        loadChanges(deps[0], 0);
      } else {
        toast(`Table ${cur.table} was opened meanwhile by ${cur.server || 'a colleague'}.`);
      }
      loadFloorSoon();
      return 'ok';
    }
    removeItem(item);
    delete orders[item.ref];
    toast(refusal(r)());
    if (current === item.ref) { show('floor'); }
    renderFloor();
    return 'ok';
  }

  // rename moves everything kept under a local ref to the server's order id.
  function rename(from, to, order) {
    orders[to] = order;
    delete orders[from];
    for (const q of queue) if (q.ref === from) q.ref = to;
    if (drafts[from]) {
      const d = drafts[from];
      delete drafts[from];
      if (drafts[to]) drafts[to].ops.push(...d.ops); else drafts[to] = Object.assign(d, { ref: to });
    }
    if (current === from) { current = to; keep(K.screen, to); }
    saveQueue(); saveDrafts(); saveOrders();
    if (current === to) renderOrder();
  }

  function patched(item, r) {
    if (r.ok) {
      const o = r.body;
      removeItem(item);
      orders[item.ref] = o;
      followed(item, o);
      onFloor(o);
      saveOrders();
      if (current === item.ref) {
        if (staleNotice && staleNotice.ref === item.ref && staleNotice.version <= o.version) hideNotice();
        if (o.status === 'closed' && !hasLocal(item.ref)) { toast(`Table ${o.table} closed.`); show('floor'); renderFloor(); }
        else { renderOrder(); loadLast(item.ref); }
      }
      renderFloor();
      return 'ok';
    }
    const kind = slug(r);
    if (conflicted(item, r)) return 'ok';
    // Any other refusal: nothing was written. The edits go back into the
    // draft, so the waiter can fix them (take the sold-out item off) and
    // save again; a tap that did something at once (send, pay, close, a
    // split) is not redone by the next save.
    removeItem(item);
    const d = draftOf(item.ref);
    d.ops = item.ops.filter((op) => !TAPS.has(op.op)).concat(d.ops);
    if (r.body && r.body.current && r.body.current.id === item.ref) orders[item.ref] = r.body.current;
    const n = next(item);
    if (n) n.expected = null;
    const msg = refusal(r)(item.ops);
    edited(item.ref);
    toast(msg, true);
    $('toast').dataset.kind = kind;
    if (kind === 'unauthorized') { show('pair'); }
    return 'ok';
  }

  // The ops a tap sends at once, which never go back into a draft.
  const TAPS = new Set(['send', 'close', 'add_payment', 'move_to_check', 'split_by_seat', 'share_line', 'split_even', 'merge_checks']);

  // onFloor keeps the floor's summary of o's table.
  function onFloor(o) {
    const f = floor.orders[o.table];
    if (o.status === 'open' && (!f || f.id === o.id)) floor.orders[o.table] = o;
    if (o.status === 'closed' && f && f.id === o.id) delete floor.orders[o.table];
  }

  // conflicted takes a 409/412 version-conflict: the write waits for the
  // merge screen with each order that moved (one for a PATCH; for a
  // transfer or merge, each of its two orders that moved, in `conflicts`).
  function conflicted(item, r) {
    if (!((r.status === 409 || r.status === 412) && slug(r) === 'version-conflict')) return false;
    const each = r.body.conflicts || [r.body];
    item.state = 'conflict';
    item.conflicts = each.map((c) => ({ current: c.current, changes: c.changes || [], truncated: !!c.changes_truncated, expected: c.expected_version }));
    saveQueue();
    for (const c of item.conflicts) if (c.truncated) loadChanges(item, c.expected, c);
    return true;
  }

  // paired takes the answer to a transfer or a merge: both orders as they
  // are after it.
  function paired(item, r) {
    if (r.ok) {
      removeItem(item);
      for (const o of [r.body.from, r.body.to]) {
        if (orders[o.id] || o.id === current) orders[o.id] = o;
        followed(item, o);
        onFloor(o);
      }
      saveOrders();
      const other = r.body.from.id === item.ref ? r.body.to : r.body.from;
      toast(item.kind === 'merge' ? `Table ${other.table} merged into table ${r.body.to.table}.` : `Moved to table ${other.table}.`);
      if (current === item.ref) { renderOrder(); loadLast(item.ref); }
      renderFloor();
      loadFloorSoon();
      return 'ok';
    }
    if (conflicted(item, r)) { loadFloorSoon(); return 'ok'; }
    // Refused: nothing was written on either order.
    removeItem(item);
    const n = next(item);
    if (n) n.expected = null;
    const b = r.body || {};
    toast(slug(r) === 'table-occupied'
      ? `Table ${item.otherTable} was opened meanwhile: nothing was moved. Pick the table again.`
      : refusal(r)(), true);
    $('toast').dataset.kind = slug(r);
    if (b.current && orders[b.current.id]) orders[b.current.id] = b.current;
    if (current === item.ref) renderOrder();
    loadFloor();
    return 'ok';
  }

  // loadChanges fills conflict c's changes with the whole list when posd
  // sent only the newest (or none: a table a colleague opened first).
  async function loadChanges(item, after, c) {
    c = c || item.conflicts[0];
    try {
      const r = await api('GET', `/v1/orders/${c.current.id}/events?after_version=${after}`);
      if (r.ok && item.conflicts) { c.changes = r.body.events; c.truncated = !!r.body.next; saveQueue(); renderMerge(); }
    } catch (e) { /* the merge screen shows what it has */ }
    if (!shownMerges.has(item.id)) openMerge(item);
  }

  // ---- the merge screen -------------------------------------------------------
  let merging = null;
  function openMerge(item) {
    if (merging && merging !== item && queue.includes(merging)) return;
    merging = item;
    if (!shownMerges.has(item.id)) {
      shownMerges.add(item.id);
      document.body.dataset.merges = String(+document.body.dataset.merges + 1);
    }
    renderMerge();
    $('merge').hidden = false;
  }
  function closeMerge() { merging = null; $('merge').hidden = true; $('confirm').hidden = true; }

  function theirChanges(c) {
    const out = [];
    for (const ev of c.changes) for (const t of describeEvent(ev, c.current)) out.push(t);
    if (c.opened) out.unshift(`${c.current.server || 'A colleague'} opened table ${c.current.table} first (${hhmm(c.current.opened_at)})`);
    if (c.truncated) out.unshift('… and earlier changes');
    return out;
  }

  // The merge screen serves every write that met a version conflict: a
  // PATCH (one order), a transfer or a merge (each of its orders that
  // moved, named by table).
  const pairKind = (item) => item.kind === 'transfer' || item.kind === 'merge';
  // latest is what the merge screen knows of order ref: the conflict's
  // current when it moved, else the order as last read.
  const latest = (item, ref) => {
    const c = item.conflicts.find((x) => x.current.id === ref);
    return c ? c.current : orders[ref] || (ref === item.other ? floor.orders[item.otherTable] : null) || { id: ref, table: item.otherTable, lines: [], status: 'open' };
  };
  // mineWhy says why the write's op i no longer applies, or ''.
  function mineWhy(item, i) {
    const op = item.ops[i];
    if (op.op === 'merge_from') {
      const o = latest(item, item.other);
      if (o.status !== 'open') return `table ${op.table} was closed meanwhile`;
      return latest(item, item.ref).status !== 'open' ? 'the order was closed' : '';
    }
    return whyNot(latest(item, item.ref), item.ops, i);
  }
  // mergeResult is each order after the write: [table, lines].
  function mergeResult(item) {
    const own = latest(item, item.ref);
    if (item.kind === 'patch') return [[own.table, applyOps(own, item.ops, 'draft').lines]];
    const other = latest(item, item.other);
    if (item.kind === 'merge') return [[own.table, own.lines.concat(other.lines.map((l) => Object.assign({}, l, { draft: true })))]];
    const moved = item.ops.flatMap((op) => op.moves).map((m) => {
      const l = own.lines.find((x) => x.id === m.line_id);
      return l && Object.assign({}, l, { qty: m.qty || l.qty, draft: true });
    }).filter(Boolean);
    return [[own.table, applyOps(own, item.ops, 'x').lines], [item.otherTable, other.lines.concat(moved)]];
  }

  function renderMerge() {
    const item = merging;
    if (!item || !item.conflicts) return;
    const cs = item.conflicts;
    const pair = pairKind(item);
    const tables = cs.map((c) => c.current.table);
    $('merge').dataset.itemId = item.id;
    $('merge').dataset.tables = tables.join(' ');
    $('merge-title').textContent = tables.length > 1 ? `Tables ${tables.join(' and ')} changed since you looked` : `Table ${tables[0]} changed since you ${pair ? 'looked' : 'opened it'}`;
    $('merge-theirs').replaceChildren(...cs.flatMap((c) => theirChanges(c).map((t) => el('li', { 'data-table': c.current.table },
      el('span', { class: 'txt', text: pair ? `Table ${c.current.table}: ${t}` : t })))));
    if (!$('merge-theirs').children.length) $('merge-theirs').append(el('li', {}, el('span', { class: 'txt', text: 'Nothing you can see changed (a colleague saved the same).' })));
    let invalid = 0;
    const own = latest(item, item.ref);
    $('merge-mine').replaceChildren(...item.ops.map((op, i) => {
      const why = mineWhy(item, i);
      if (why) invalid++;
      const li = el('li', { 'data-op-index': i, 'data-invalid': why ? '1' : undefined },
        el('span', { class: 'txt' }, describe(op, applyOps(own, item.ops.slice(0, i), 'x')), why ? el('span', { class: 'why', text: 'No longer applies — ' + why }) : null));
      li.append(btn(why ? 'Drop it' : 'Drop', { 'data-drop': i }, () => {
        item.ops.splice(i, 1);
        saveQueue();
        if (!item.ops.length) { removeItem(item); closeMerge(); refreshAfterMerge(item); return; }
        renderMerge();
      }));
      return li;
    }));
    const results = mergeResult(item);
    $('merge-result').replaceChildren(...results.flatMap(([table, lines]) => lines.filter((l) => l.status !== 'voided').map((l) => el('li', { 'data-line-id': l.id, 'data-mine': l.draft ? '1' : undefined },
      el('span', { class: 'txt', text: `${results.length > 1 ? 'Table ' + table + ': ' : ''}${l.qty} × ${l.name}, ${l.seat ? 'seat ' + l.seat : 'table'}, course ${l.course} — ${l.status}${l.draft ? ' (yours)' : ''}` })))));
    $('merge-apply').disabled = invalid > 0;
    $('merge-msg').textContent = invalid ? `${invalid} of your changes no longer apply: drop ${invalid > 1 ? 'them' : 'it'} to go on.` : '';
    $('merge-force').hidden = !isManager() || pair;
  }
  // refreshAfterMerge shows the latest of the orders that moved once the
  // write is dropped.
  function refreshAfterMerge(item) {
    // A write queued behind the discarded one takes the latest version
    // when it is sent (its expected version is still open).
    for (const c of item.conflicts) if (c.current.id === item.ref || orders[c.current.id]) orders[c.current.id] = c.current;
    saveOrders();
    if (current === item.ref) renderOrder();
    renderFloor();
    if (pairKind(item)) loadFloor();
    pump();
  }
  function resend(force) {
    const item = merging;
    if (!item) return;
    for (const c of item.conflicts) {
      if (c.current.id === item.ref) { item.expected = c.current.version; orders[item.ref] = c.current; }
      if (c.current.id === item.other) item.otherExpected = c.current.version;
    }
    item.key = uuid(); // a new request: a new key
    item.force = !!force && !pairKind(item);
    item.state = 'queued';
    delete item.conflicts;
    saveQueue(); saveOrders();
    closeMerge();
    if (current === item.ref) { hideNotice(); renderOrder(); }
    retryNow();
  }
  $('merge-apply').addEventListener('click', () => resend(false));
  $('merge-discard').addEventListener('click', () => {
    const item = merging;
    if (!item) return;
    removeItem(item);
    closeMerge();
    refreshAfterMerge(item);
  });
  $('merge-force').addEventListener('click', () => {
    const item = merging;
    if (!item || !isManager() || pairKind(item)) return;
    const c = item.conflicts[0];
    $('confirm-text').textContent = `Your changes will be saved over version ${c.current.version} of table ${c.current.table} without checking, on top of these changes by your colleagues:`;
    $('confirm-list').replaceChildren(...theirChanges(c).map((t) => el('li', { text: t })));
    $('confirm').hidden = false;
  });
  $('confirm-cancel').addEventListener('click', () => { $('confirm').hidden = true; });
  $('confirm-ok').addEventListener('click', () => { $('confirm').hidden = true; resend(true); });

  // ---- the order screen ---------------------------------------------------------
  async function openOrderScreen(ref, summary) {
    current = ref;
    seat = 1; course = 1;
    if (summary && (!orders[ref] || (!hasLocal(ref) && summary.version > orders[ref].version))) orders[ref] = summary;
    hideNotice();
    show('order');
    $('order').dataset.loaded = '0';
    renderOrder();
    if (ref.startsWith('local-')) { $('order').dataset.loaded = '1'; return; }
    try {
      const r = await api('GET', '/v1/orders/' + ref);
      if (current !== ref) return;
      if (r.ok) acceptServerOrder(ref, r.body, null);
      else if (r.status === 404) { toast('That order is not there any more.'); show('floor'); loadFloor(); return; }
    } catch (e) { /* offline: show what we have */ }
    if (current === ref) $('order').dataset.loaded = '1';
    loadLast(ref);
  }

  // acceptServerOrder takes a newer server order for ref: at once when the
  // device has nothing unsent for it; otherwise the draft is kept and the
  // waiter is told who changed the table.
  function acceptServerOrder(ref, o, ev) {
    const have = orders[ref];
    if (have && have.version >= o.version) return;
    if (!hasLocal(ref)) {
      orders[ref] = o;
      saveOrders();
      if (current === ref) { renderOrder(); loadLast(ref); }
      return;
    }
    if (current === ref) {
      const name = ev && ev.actor ? (ev.actor.staff || ev.actor.device) : 'A colleague';
      showNotice(ref, o.version, `${name} changed this table${ev && ev.summary ? ': ' + ev.summary : ''}. Your unsaved changes are kept.`);
    }
  }
  function showNotice(ref, version, text) {
    staleNotice = { ref, version, text };
    $('notice-text').textContent = text;
    $('notice').hidden = false;
  }
  function hideNotice() { staleNotice = null; $('notice').hidden = true; }
  $('notice-reload').addEventListener('click', async () => {
    if (!current) return;
    if (hasLocal(current)) { toast('Save your changes first: if a colleague changed the same table you will see both.'); return; }
    hideNotice();
    openOrderScreen(current);
  });

  async function loadLast(ref) {
    const o = orders[ref];
    if (!o || !o.version || ref.startsWith('local-')) return;
    try {
      const r = await api('GET', `/v1/orders/${ref}/events?after_version=${o.version - 1}`);
      if (!r.ok || current !== ref) return;
      const ev = r.body.events[r.body.events.length - 1];
      if (ev) $('olast').textContent = 'Last change: ' + describeEvent(ev, orders[ref]).join('; ');
    } catch (e) { /* offline */ }
  }

  function renderOrder() {
    if (!current) return;
    const ref = current;
    const base = orders[ref];
    const o = viewOrder(ref);
    const sec = $('order');
    sec.dataset.orderId = ref;
    sec.dataset.version = String(base ? base.version : 0);
    $('title').textContent = `Table ${o.table}`;
    $('otitle').textContent = `Table ${o.table}${o.status === 'closed' ? ' — closed' : ''}`;
    const queued = queue.filter((q) => q.ref === ref);
    $('ometa').textContent = [`${o.guests || '?'} guests`, o.server ? `server ${o.server}` : '', o.opened_at ? `open ${age(o.opened_at)}` : '',
      base && base.version ? `version ${base.version}` : 'not opened yet', queued.length ? `${queued.length} waiting to send` : ''].filter(Boolean).join(' · ');
    if (!base || !base.version) $('olast').textContent = '';

    // Lines by course, then seat.
    const box = $('lines');
    box.replaceChildren();
    const courses = [...new Set(o.lines.map((l) => l.course))].sort((a, b) => a - b);
    for (const c of courses) {
      const grp = el('div', { class: 'course', 'data-course': c }, el('h3', { text: `Course ${c}` }));
      for (const l of o.lines.filter((x) => x.course === c).sort((a, b) => a.seat - b.seat)) grp.append(lineRow(l));
      box.append(grp);
    }
    if (!o.lines.length) box.append(el('p', { text: 'No items yet: pick from the menu below.' }));

    // Totals: posd's, plus what is not saved yet.
    const t = base && base.totals;
    const tot = $('totals');
    tot.replaceChildren();
    const row = (k, v, cls) => tot.append(el('span', { class: cls, text: k }), el('span', { class: cls, text: v }));
    if (t) {
      row('Subtotal', money(t.subtotal_cents));
      if (t.discount_cents) row('Discounts', '−' + money(t.discount_cents));
      if (t.service_charge_cents) row('Service charge', money(t.service_charge_cents));
      row('Tax', money(t.tax_cents));
      row('Total', money(t.total_cents), 'big');
      if (t.paid_cents) row('Paid', money(t.paid_cents));
      if (t.tip_cents) row('Tips', money(t.tip_cents));
      row('Due', money(t.due_cents), 'big');
    }
    const extra = o.pendingCents || 0;
    if (extra) row('Not saved yet', (extra > 0 ? '+' : '') + money(extra), 'draft');

    const d = drafts[ref];
    const n = d ? d.ops.length : 0;
    $('save').disabled = !n;
    $('save').textContent = n ? `Save ${n} change${n > 1 ? 's' : ''}` : 'Saved';
    $('undo').disabled = !n;
    const closed = o.status === 'closed';
    const sends = $('sends');
    sends.replaceChildren();
    const pendingCourses = [...new Set(o.lines.filter((l) => l.status === 'pending').map((l) => l.course))].sort((a, b) => a - b);
    for (const c of pendingCourses) sends.append(btn(`Send course ${c}`, { 'data-send': c }, () => save(ref, [{ op: 'send', course: c }])));
    if (pendingCourses.length > 1) sends.append(btn('Send all', { 'data-send': 'all' }, () => save(ref, [{ op: 'send' }])));
    const unopened = closed || !base || !base.version;
    for (const b of ['paybtn', 'closebtn', 'splitbtn', 'movebtn', 'mergebtn']) $(b).disabled = unopened;
    const nChecks = checkNumbers(o).length;
    $('splitbtn').textContent = nChecks > 1 ? `Split · ${nChecks} checks` : 'Split';
    $('paybtn').textContent = nChecks > 1 ? 'Pay a check' : 'Add payment';

    // Seat and course pickers, the menu.
    $('seat').textContent = String(seat);
    $('seat').dataset.seat = String(seat);
    const maxCourse = Math.max(3, ...o.lines.map((l) => l.course));
    $('courses').replaceChildren(...Array.from({ length: Math.min(9, maxCourse) }, (_, i) => i + 1).map((c) =>
      btn(String(c), { 'data-course': c, 'aria-pressed': c === course ? 'true' : 'false', 'aria-label': `Course ${c}` }, () => { course = c; renderOrder(); })));
    renderMenu(closed);
    renderNet();
    if (document.body.dataset.screen === 'split') renderSplit();
  }

  function lineRow(l) {
    const mgr = isManager();
    const opts = (l.options || []).map((x) => x.name).concat(l.modifiers || []);
    const status = l.draft ? 'not saved' : l.queued ? 'waiting to send' : l.comped ? `${l.status}, comped` : l.status;
    const row = el('div', { class: 'line', 'data-line-id': l.id, 'data-status': l.status, 'data-sku': l.sku,
      'data-draft': l.draft ? '1' : undefined, 'data-queued': l.queued ? '1' : undefined },
    el('div', { class: 'what' },
      el('div', { class: 'name', text: `${l.qty} × ${l.name}` }),
      el('div', { class: 'sub', text: [l.seat ? `seat ${l.seat}` : 'table', opts.join(', '), money(l.unit_price_cents * l.qty)].filter(Boolean).join(' · ') })),
    el('span', { class: 'st', text: status }));
    const ctl = el('div', { class: 'ctl' });
    if (l.status === 'pending' && !l.queued) {
      ctl.append(btn('−', { 'data-action': 'minus', 'aria-label': `One fewer ${l.name}` }, () => changeQty(l, -1)),
        btn('+', { 'data-action': 'plus', 'aria-label': `One more ${l.name}` }, () => changeQty(l, 1)),
        btn('✕', { 'data-action': 'remove', 'aria-label': `Take ${l.name} off` }, () => removeLine(l)));
    }
    if (mgr && l.status === 'sent' && !l.draft && !l.queued) {
      ctl.append(btn('Void', { 'data-action': 'void' }, () => askReason(`Void ${l.name}`, ['guest changed mind', 'wrong item', 'dropped'],
        (reason) => { draftOf(current).ops.push({ op: 'void_item', line_id: l.id, reason }); edited(current); })));
    }
    if (mgr && l.status !== 'voided' && !l.comped && !l.draft && !l.queued) {
      ctl.append(btn('Comp', { 'data-action': 'comp' }, () => askReason(`Comp ${l.name}`, ['long wait', 'quality', 'regular'],
        (reason) => { draftOf(current).ops.push({ op: 'comp_item', line_id: l.id, reason }); edited(current); })));
    }
    if (ctl.children.length) row.append(ctl);
    return row;
  }

  $('seat-minus').addEventListener('click', () => { seat = Math.max(0, seat - 1); renderOrder(); });
  $('seat-plus').addEventListener('click', () => { seat = Math.min(99, seat + 1); renderOrder(); });

  // ---- the menu -------------------------------------------------------------------
  async function loadMenu() {
    try {
      const r = await api('GET', '/v1/menu');
      if (r.ok) {
        const changed = !menu || menu.version !== r.body.version;
        menu = r.body;
        keep(K.menu, menu);
        if (current && changed) renderOrder();
      }
    } catch (e) { /* offline: the last menu read */ }
  }
  function renderMenu(closed) {
    const items = (menu && menu.items) || [];
    const cats = [...new Set(items.map((i) => i.category || 'menu'))];
    if (!cats.includes(category)) category = cats[0] || '';
    $('cats').replaceChildren(...cats.map((c) => btn(c, { 'data-cat': c, 'aria-pressed': c === category ? 'true' : 'false' }, () => { category = c; renderOrder(); })));
    $('menu').replaceChildren(...items.filter((i) => (i.category || 'menu') === category).map((i) => {
      const off = !i.available || i.remaining === 0;
      const b = btn('', { 'data-sku': i.sku, disabled: closed || off, 'aria-label': `${i.name}, ${money(i.price_cents)}${off ? ', not available' : ''}` }, () => tapItem(i));
      b.append(el('span', { class: 'iname', text: i.name }), el('span', { class: 'price', text: money(i.price_cents) }));
      if (!i.available) b.append(el('span', { class: 'left', text: "86'd" }));
      else if (i.remaining !== null && i.remaining !== undefined) b.append(el('span', { class: 'left', text: `${i.remaining} left` }));
      return b;
    }));
    if (!items.length) $('menu').append(el('p', { text: online ? 'Loading the menu…' : 'Offline: the menu has not been read yet.' }));
  }

  // Items with modifier groups open the options sheet; a required group
  // (min ≥ 1) must be answered before Add is possible.
  let sheet = null;
  function tapItem(i) {
    if (!current) return;
    const groups = (i.modifier_groups || []).map((id) => (menu.modifier_groups || []).find((g) => g.id === id)).filter(Boolean);
    if (!groups.length) { addItem(i.sku, 1, null); return; }
    sheet = { item: i, groups, picked: {}, qty: 1 };
    for (const g of groups) sheet.picked[g.id] = [];
    $('opt-title').textContent = i.name;
    renderSheet();
    $('optsheet').hidden = false;
  }
  function renderSheet() {
    const s = sheet;
    $('opt-qty').textContent = String(s.qty);
    $('opt-groups').replaceChildren(...s.groups.map((g) => {
      const picked = s.picked[g.id];
      const need = g.min > 0 ? `choose ${g.min === g.max ? g.min : g.min + '–' + g.max} (required)` : `up to ${g.max}`;
      return el('div', { class: 'group', 'data-group': g.id },
        el('h3', { text: g.name }), el('span', { class: 'need', text: need }),
        el('div', { class: 'opts' }, ...g.options.map((o) => btn(`${o.name}${o.price_cents ? ' +' + money(o.price_cents) : ''}`,
          { 'data-option': o.id, 'aria-pressed': picked.includes(o.id) ? 'true' : 'false' }, () => {
            if (picked.includes(o.id)) picked.splice(picked.indexOf(o.id), 1);
            else if (g.max === 1) picked.splice(0, picked.length, o.id);
            else if (picked.length < g.max) picked.push(o.id);
            renderSheet();
          }))));
    }));
    const missing = s.groups.filter((g) => s.picked[g.id].length < g.min);
    $('opt-add').disabled = missing.length > 0;
    $('opt-msg').textContent = missing.length ? `Choose ${missing.map((g) => g.name.toLowerCase()).join(' and ')} first.` : '';
    $('opt-add').textContent = `Add ${s.qty}`;
  }
  $('opt-minus').addEventListener('click', () => { sheet.qty = Math.max(1, sheet.qty - 1); renderSheet(); });
  $('opt-plus').addEventListener('click', () => { sheet.qty = Math.min(99, sheet.qty + 1); renderSheet(); });
  $('opt-cancel').addEventListener('click', () => { $('optsheet').hidden = true; sheet = null; });
  $('opt-add').addEventListener('click', () => {
    const s = sheet;
    if (!s || s.groups.some((g) => s.picked[g.id].length < g.min)) return;
    const options = s.groups.flatMap((g) => s.picked[g.id].map((o) => ({ group: g.id, option: o })));
    $('optsheet').hidden = true;
    sheet = null;
    addItem(s.item.sku, s.qty, options);
  });

  // ---- payment and close ---------------------------------------------------------
  let tender = '';
  // With more than one check, payments are taken check by check on the
  // split screen.
  $('paybtn').addEventListener('click', () => (checkNumbers(viewOrder(current)).length > 1 ? openSplit() : openPay(null)));
  // checkTotals are check n's totals as posd last priced them (the order's
  // when it has one check), or null.
  const checkTotals = (o, n) => {
    const c = o && (o.checks || []).find((x) => x.number === n);
    return c ? c.totals : o && o.totals && n === 1 && !(o.checks || []).length ? o.totals : null;
  };
  // openPay opens the payment dialog for check n (null: the order's only
  // check), offering what is due on it.
  function openPay(n) {
    const o = orders[current];
    if (!o) return;
    payCheck = n;
    const t = n ? checkTotals(o, n) : o.totals;
    $('pay-title').textContent = n ? `Pay check ${n}` : 'Add payment';
    const tenders = (menu && menu.tenders) || ['card', 'cash'];
    tender = tenders.includes(tender) ? tender : tenders[0];
    const renderTenders = () => $('tenders').replaceChildren(...tenders.map((x) => btn(x, { 'data-tender': x, 'aria-pressed': x === tender ? 'true' : 'false' }, () => { tender = x; renderTenders(); })));
    renderTenders();
    $('pay-amount').value = t ? (Math.max(0, t.due_cents) / 100).toFixed(2) : '';
    $('pay-tip').value = '0';
    $('pay-msg').textContent = hasLocal(current) ? 'Your unsaved changes are saved with the payment.' : '';
    $('paybox').hidden = false;
  }
  $('pay-cancel').addEventListener('click', () => { $('paybox').hidden = true; });
  $('pay-ok').addEventListener('click', () => {
    const a = cents($('pay-amount').value);
    const tip = cents($('pay-tip').value || '0');
    if (isNaN(a) || isNaN(tip) || (a === 0 && tip === 0)) { $('pay-msg').textContent = 'Type an amount like 24.50.'; return; }
    $('paybox').hidden = true;
    const op = { op: 'add_payment', tender, amount_cents: a, tip_cents: tip };
    if (payCheck) op.check = payCheck;
    save(current, [op]);
  });
  // closeOrder closes the order once it is sent and every check is settled.
  function closeOrder() {
    const o = viewOrder(current);
    if (o.lines.some((l) => l.status === 'pending')) { toast('Send or take off the unsent items first.'); return; }
    const base = orders[current];
    const owing = (base.checks || []).filter((c) => c.totals.due_cents > 0);
    if (owing.length > 1 || (owing.length && checkNumbers(o).length > 1)) { toast(owing.map((c) => `Check ${c.number}: ${money(c.totals.due_cents)} due`).join(' · ')); return; }
    if (base.totals && base.totals.due_cents > 0) { toast(`${money(base.totals.due_cents)} is still due.`); return; }
    save(current, [{ op: 'close' }]);
  }
  $('closebtn').addEventListener('click', closeOrder);

  // ---- small questions ---------------------------------------------------------
  // ask opens the one question dialog: a title, what to choose, and OK.
  // onOk answers a message to keep the dialog open (nothing chosen yet).
  let askOk = null;
  let askCancel = null;
  function ask(title, body, okText, onOk, onCancel) {
    $('ask-title').textContent = title;
    $('ask-body').replaceChildren(...body);
    $('ask-msg').textContent = '';
    $('ask-ok').textContent = okText;
    askOk = onOk;
    askCancel = onCancel || null;
    $('askbox').hidden = false;
  }
  const closeAsk = () => { $('askbox').hidden = true; askOk = null; askCancel = null; };
  $('ask-cancel').addEventListener('click', () => { const c = askCancel; closeAsk(); if (c) c(); });
  $('ask-ok').addEventListener('click', () => {
    const msg = askOk ? askOk() : '';
    if (msg) { $('ask-msg').textContent = msg; return; }
    closeAsk();
  });
  // stepper is a − n + choice of a number from min to max.
  function stepper(label, value, min, max) {
    let v = value;
    const out = el('span', { text: String(v), 'data-value': v });
    const by = (d) => { v = Math.max(min, Math.min(max, v + d)); out.textContent = String(v); out.dataset.value = String(v); };
    return { get: () => v, node: el('div', { class: 'qty' }, el('span', { class: 'label', text: label }),
      btn('−', { 'aria-label': `${label}: one fewer`, 'data-step': '-1' }, () => by(-1)), out,
      btn('+', { 'aria-label': `${label}: one more`, 'data-step': '1' }, () => by(1))) };
  }
  // choices are toggle buttons [data-choice], one or several picked.
  function choices(options, multi, picked) {
    const sel = new Set(picked || []);
    const box = el('div', { class: 'row choices' });
    const draw = () => box.replaceChildren(...options.map(([value, label]) => btn(label, { 'data-choice': value, 'aria-pressed': sel.has(value) ? 'true' : 'false' }, () => {
      if (sel.has(value)) sel.delete(value); else { if (!multi) sel.clear(); sel.add(value); }
      draw();
    })));
    draw();
    return { node: box, get: () => options.map(([v]) => v).filter((v) => sel.has(v)) };
  }

  // ---- the split screen ---------------------------------------------------------
  // One card per check with its lines (a shared line on each check that
  // shares it, with that check's share), its total and what is due. Tap a
  // line, then "Move here" on a check; every action is one PATCH.
  const liveLines = (o) => o.lines.filter((l) => l.status !== 'voided');
  function openSplit() {
    if (!current) return;
    if (drafts[current] && drafts[current].ops.length) save(current); // the split works on saved lines
    show('split');
    renderSplit();
  }
  $('splitbtn').addEventListener('click', openSplit);
  $('sclose').addEventListener('click', closeOrder);

  // tapSplit sends one check op.
  function tapSplit(op) {
    picked = null;
    save(current, [op]);
  }

  function renderSplit() {
    if (!current) return;
    const base = orders[current] || {};
    const o = viewOrder(current);
    const nums = checkNumbers(o);
    const closed = o.status === 'closed' || !base.version;
    const updating = queue.some((q) => q.ref === current);
    const live = liveLines(o);
    const pl = live.find((l) => l.id === picked) || null;
    if (!pl) picked = null;
    $('title').textContent = `Table ${o.table}`;
    $('stitle').textContent = `Table ${o.table} · ${nums.length} check${nums.length > 1 ? 's' : ''}`;
    $('shint').textContent = pl ? `${pl.qty} × ${pl.name} picked: tap “Move here” on a check, or “New check”.` : 'Tap a line, then the check it goes on.';
    $('split-seat').disabled = closed || !live.some((l) => l.seat >= 1);
    $('split-even').disabled = closed || !live.length;
    $('split-share').disabled = closed || !pl;
    const cards = nums.map((n) => checkCard(o, base, n, pl, nums, updating, closed));
    if (pl && !closed) {
      const n = nums[nums.length - 1] + 1;
      cards.push(el('div', { class: 'check new' }, btn('New check', { 'data-move-to': n, class: 'primary' }, () => moveTo(pl, n))));
    }
    $('checks').replaceChildren(...cards);
    $('sclose').disabled = closed;
  }

  function checkCard(o, base, n, pl, nums, updating, closed) {
    const t = checkTotals(base, n);
    const card = el('div', { class: 'check', 'data-check': n, 'data-total': t ? t.total_cents : '', 'data-due': t ? t.due_cents : '',
      'data-updating': updating ? '1' : undefined }, el('h3', { text: `Check ${n}` }));
    const lines = liveLines(o).filter((l) => (isShared(l) ? l.shared_by.includes(n) : checkOf(l) === n));
    for (const l of lines) {
      const sh = isShared(l);
      const b = btn('', { class: 'sline', 'data-line-id': l.id, 'data-check': n, 'aria-pressed': picked === l.id ? 'true' : 'false',
        'data-queued': l.queued ? '1' : undefined }, () => { picked = picked === l.id ? null : l.id; renderSplit(); });
      b.append(el('span', { class: 'sname', text: `${sh ? `1/${l.shared_by.length} of ` : ''}${l.qty} × ${l.name}` }),
        el('span', { class: 'ssub', text: [l.seat ? `seat ${l.seat}` : 'table', sh ? `shared by ${l.shared_by.join(', ')}` : '', money(shareOf(l, n))].filter(Boolean).join(' · ') }));
      card.append(b);
    }
    if (!lines.length) card.append(el('p', { class: 'empty', text: 'No lines.' }));
    card.append(el('p', { class: 'ctot', text: t ? `Total ${money(t.total_cents)} · Paid ${money(t.paid_cents)} · Due ${money(t.due_cents)}` : 'Not priced yet' }));
    if (updating) card.append(el('p', { class: 'cnote', text: 'Updating…' }));
    const acts = el('div', { class: 'row' });
    if (pl && !closed && (isShared(pl) || checkOf(pl) !== n)) acts.append(btn('Move here', { 'data-move-to': n, class: 'primary' }, () => moveTo(pl, n)));
    acts.append(btn(t && t.due_cents <= 0 && t.total_cents > 0 ? 'Paid' : 'Pay this check', { 'data-pay': n, disabled: closed || updating || !t || t.due_cents <= 0 }, () => openPay(n)));
    if (nums.length > 1 && !closed) acts.append(btn('Merge into…', { 'data-merge-check': n }, () => askMergeCheck(n, nums)));
    card.append(acts);
    return card;
  }

  // moveTo moves the picked line to check n, asking how many when it has more than one.
  function moveTo(l, n) {
    const op = { op: 'move_to_check', line_id: l.id, check: n };
    if (l.qty < 2 || isShared(l)) { tapSplit(op); return; }
    const st = stepper('How many', l.qty, 1, l.qty);
    ask(`Move ${l.name} to check ${n}`, [el('p', { text: `The line has ${l.qty}.` }), st.node], 'Move', () => {
      const k = st.get();
      if (k < l.qty) Object.assign(op, { qty: k, new_line_id: uuid() });
      tapSplit(op);
    });
  }
  $('split-seat').addEventListener('click', () => tapSplit({ op: 'split_by_seat' }));
  $('split-even').addEventListener('click', () => {
    const nums = checkNumbers(viewOrder(current));
    const st = stepper('Checks', Math.max(2, nums.length), 2, 99);
    ask('Split evenly', [el('p', { text: 'Every line is shared evenly by this many checks.' }), st.node], 'Split', () => { tapSplit({ op: 'split_even', checks: st.get() }); });
  });
  $('split-share').addEventListener('click', () => {
    const o = viewOrder(current);
    const l = liveLines(o).find((x) => x.id === picked);
    if (!l) return;
    const nums = checkNumbers(o);
    const opts = nums.concat(nums[nums.length - 1] + 1).map((n) => [n, nums.includes(n) ? `Check ${n}` : `New check ${n}`]);
    const ch = choices(opts, true, isShared(l) ? l.shared_by : [checkOf(l)]);
    ask(`Share ${l.qty} × ${l.name} with…`, [el('p', { text: 'Pick the checks that share it evenly.' }), ch.node], 'Share', () => {
      const by = ch.get();
      if (by.length < 2) return 'Pick at least two checks.';
      tapSplit({ op: 'share_line', line_id: l.id, checks: by });
      return '';
    });
  });
  function askMergeCheck(n, nums) {
    const ch = choices(nums.filter((x) => x !== n).map((x) => [x, `Check ${x}`]), false, []);
    ask(`Merge check ${n} into…`, [el('p', { text: `Check ${n}'s lines and payments go to the check you pick.` }), ch.node], 'Merge', () => {
      const into = ch.get()[0];
      if (!into) return 'Pick a check.';
      tapSplit({ op: 'merge_checks', from: n, into });
      return '';
    });
  }

  // ---- moving lines to another table, merging tables -------------------------------
  // The floor picks the other table; the waiter confirms; one POST
  // .../transfer or .../merge names both orders' versions.
  function startPick(p) {
    floorPick = p;
    show('floor');
    renderFloor();
    loadFloor();
  }
  $('floor-pick-cancel').addEventListener('click', () => { const p = floorPick; floorPick = null; if (p) openOrderScreen(p.ref); });

  $('movebtn').addEventListener('click', () => {
    const o = orders[current];
    const lines = o ? liveLines(o) : [];
    if (!lines.length) { toast('Nothing saved to move yet.'); return; }
    const sel = new Map(); // line id -> qty moving
    const list = el('div', { class: 'picklines' });
    const draw = () => list.replaceChildren(...lines.map((l) => {
      const q = sel.get(l.id);
      const row = el('div', { class: 'row' }, btn(`${l.qty} × ${l.name}${l.seat ? ', seat ' + l.seat : ''}`, { 'data-line-id': l.id, 'aria-pressed': q ? 'true' : 'false' },
        () => { if (q) sel.delete(l.id); else sel.set(l.id, l.qty); draw(); }));
      if (q && l.qty > 1 && !isShared(l)) {
        row.append(btn('−', { 'aria-label': `One fewer ${l.name}`, 'data-step': '-1' }, () => { sel.set(l.id, Math.max(1, q - 1)); draw(); }),
          el('span', { class: 'of', text: `${q} of ${l.qty}` }),
          btn('+', { 'aria-label': `One more ${l.name}`, 'data-step': '1' }, () => { sel.set(l.id, Math.min(l.qty, q + 1)); draw(); }));
      }
      return row;
    }));
    draw();
    const ref = current;
    ask('Move lines to another table', [el('p', { text: 'Pick what moves, then the table.' }), list], 'Pick the table', () => {
      if (!sel.size) return 'Pick a line first.';
      const moves = [...sel].map(([id, q]) => {
        const m = { line_id: id };
        if (q < lines.find((l) => l.id === id).qty) Object.assign(m, { qty: q, new_line_id: uuid() });
        return m;
      });
      closeAsk();
      startPick({ kind: 'transfer', ref, moves });
      return '';
    });
  });
  $('mergebtn').addEventListener('click', () => { if (current) startPick({ kind: 'merge', ref: current }); });

  // pickTable is the tap on the floor that names the other table.
  async function pickTable(t, o) {
    const p = floorPick;
    const from = orders[p.ref];
    let target = o;
    if (o) {
      try { const r = await api('GET', '/v1/orders/' + o.id); if (r.ok) target = r.body; } catch (e) { /* offline: the floor's copy */ }
    }
    if (floorPick !== p || !from) return;
    const back = () => { floorPick = null; openOrderScreen(p.ref); };
    const what = target ? `${itemsText(liveLines(target))} · ${target.guests} guests · ${target.server || 'a colleague'}` : '';
    if (p.kind === 'merge') {
      ask(`Merge table ${t.id} into table ${from.table}?`, [el('p', { text: `Table ${t.id} (${what}) comes to table ${from.table}, and table ${t.id} is free again.` })], 'Merge', () => {
        enqueue({ kind: 'merge', ref: p.ref, table: from.table, other: target.id, otherTable: t.id, otherExpected: target.version,
          ops: [{ op: 'merge_from', table: t.id, order_id: target.id, items: liveLines(target) }] });
        back();
        return '';
      }, back);
      return;
    }
    ask(`Move to table ${t.id}?`, [el('p', { text: `${movesText(p.moves, from)} from table ${from.table} to table ${t.id}${target ? ` (${what})` : ' (free: it opens)'}.` })], 'Move', () => {
      enqueue({ kind: 'transfer', ref: p.ref, table: from.table, other: target ? target.id : null, otherTable: t.id, otherExpected: target ? target.version : null,
        ops: p.moves.map((m) => ({ op: 'transfer_out', table: t.id, moves: [m] })) });
      back();
      return '';
    }, back);
  }

  // ---- the venue stream ---------------------------------------------------------
  // GET /v1/stream read with fetch, so the token stays in the header. With
  // no cursor the first event is `ready` (its id the cursor): the floor is
  // read after it, so nothing between the read and the stream is missed.
  let streamCtrl = null;
  let streamTry = 0;
  let streamLive = false; // has been live once: later connections count as reconnects
  async function streamLoop() {
    const live = $('live');
    for (;;) {
      if (!token) { await sleep(1000); continue; }
      const ctrl = new AbortController();
      streamCtrl = ctrl;
      live.dataset.state = 'connecting';
      live.textContent = 'live: connecting';
      let idle = null;
      const poke = () => { clearTimeout(idle); idle = setTimeout(() => ctrl.abort(), STREAM_IDLE); };
      try {
        const headers = { Authorization: 'Bearer ' + token, Accept: 'text/event-stream' };
        if (cursor) headers['Last-Event-ID'] = cursor;
        poke();
        const res = await fetch('/v1/stream', { headers, signal: ctrl.signal, cache: 'no-store' });
        if (res.status === 409) { cursor = ''; await res.text().catch(() => {}); continue; }
        if (!res.ok || !(res.headers.get('Content-Type') || '').startsWith('text/event-stream')) {
          // 404: this posd has no venue stream yet; read the floor now and then instead.
          if (res.status === 404) { live.dataset.state = 'off'; live.textContent = 'live: off'; }
          throw new Error('stream ' + res.status);
        }
        live.dataset.state = 'live';
        live.textContent = 'live';
        if (streamLive) live.dataset.reconnects = String(+live.dataset.reconnects + 1);
        streamLive = true;
        streamTry = 0;
        const reader = res.body.getReader();
        const dec = new TextDecoder();
        let buf = '';
        let ev = { event: 'message', data: [], id: null };
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          poke();
          buf += dec.decode(value, { stream: true });
          let nl;
          while ((nl = buf.search(/\r\n|\n|\r/)) >= 0) {
            const lineTxt = buf.slice(0, nl);
            buf = buf.slice(nl + (buf.startsWith('\r\n', nl) ? 2 : 1));
            if (lineTxt === '') { if (ev.data.length || ev.id !== null) dispatch(ev); ev = { event: 'message', data: [], id: null }; continue; }
            if (lineTxt.startsWith(':')) continue;
            const c = lineTxt.indexOf(':');
            const field = c < 0 ? lineTxt : lineTxt.slice(0, c);
            let v = c < 0 ? '' : lineTxt.slice(c + 1);
            if (v.startsWith(' ')) v = v.slice(1);
            if (field === 'event') ev.event = v;
            else if (field === 'data') ev.data.push(v);
            else if (field === 'id') ev.id = v;
          }
        }
      } catch (e) {
        // Dropped or refused: an API read says whether posd is reachable.
        api('GET', '/v1/me').catch(() => {});
      }
      clearTimeout(idle);
      if (live.dataset.state !== 'off') { live.dataset.state = 'connecting'; live.textContent = 'live: reconnecting'; }
      const off = live.dataset.state === 'off';
      await sleep(off ? 30000 : jitter(streamTry++));
    }
  }
  function dispatch(ev) {
    if (ev.id !== null && ev.id !== '') { cursor = ev.id; $('live').dataset.cursor = cursor; }
    let data = null;
    try { data = ev.data.length ? JSON.parse(ev.data.join('\n')) : null; } catch (e) { data = null; }
    switch (ev.event) {
      case 'ready': if (data && data.cursor !== undefined && (ev.id === null || ev.id === '')) { cursor = String(data.cursor); $('live').dataset.cursor = cursor; } loadFloor(); loadMenu(); break;
      case 'reset': loadFloor(); loadMenu(); if (current && !hasLocal(current) && !current.startsWith('local-')) openOrderScreen(current); break;
      case 'menu.changed': loadMenu(); break;
      case 'order.opened': case 'order.patched': if (data) orderChanged(data); break;
      default: break;
    }
  }
  async function orderChanged(d) {
    liveTables.set(d.table, Date.now());
    loadFloorSoon();
    setTimeout(() => { if (document.body.dataset.screen === 'floor') renderFloor(); }, 10500);
    if (current !== d.order_id) return;
    const have = orders[d.order_id];
    if (have && have.version >= d.version) return; // our own write, already shown
    if (hasLocal(d.order_id)) {
      const name = d.actor ? (d.actor.staff || d.actor.device) : 'A colleague';
      if (me && d.actor && d.actor.device === me.device) return;
      showNotice(d.order_id, d.version, `${name} changed this table${d.summary ? ': ' + d.summary : ''}. Your unsaved changes are kept.`);
      return;
    }
    try {
      const r = await api('GET', '/v1/orders/' + d.order_id);
      if (r.ok) acceptServerOrder(d.order_id, r.body, d);
    } catch (e) { /* offline */ }
  }
  // Without a live stream the floor is read every 20 s.
  setInterval(() => { if (token && $('live').dataset.state !== 'live' && online) loadFloor(); }, 20000);

  // ---- start ------------------------------------------------------------------------
  function started() {
    show('floor');
    renderFloor();
    renderNet();
    loadMenu();
    loadFloor();
    pump();
    if (!streamStarted) { streamStarted = true; streamLoop(); }
    api('GET', '/v1/me').then((r) => { if (r.ok) { me = r.body; keep(K.me, me); $('who').textContent = `${me.staff} · ${me.role}`; } }).catch(() => {});
  }
  let streamStarted = false;
  saveQueue();
  // Writes that were being sent when the page went away are sent again with
  // their keys; conflicts wait for the merge screen again.
  if (token) {
    const was = load(K.screen, null);
    started();
    // A reload comes back to the order it left, draft and all.
    if (was && orders[was]) openOrderScreen(was);
    const c = queue.find((q) => q.state === 'conflict');
    if (c) openMerge(c);
  } else {
    show('pair');
  }

  // The service worker keeps the app shell; browsers allow it only on a
  // secure origin (https, or localhost).
  if ('serviceWorker' in navigator && window.isSecureContext) {
    navigator.serviceWorker.register('/pos/sw.js', { scope: '/pos' }).catch(() => {});
  }
})();
