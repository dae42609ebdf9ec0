// posd kitchen display: one station's open tickets, live over Server-Sent
// Events, tap to bump, recall the last bumped. No dependencies.
//
// URL: /kds?station=grill&token=TOKEN. The token is kept in localStorage, so
// later visits need only ?station=. Test hooks: every card has
// data-ticket-id and data-kind; #conn has data-state (connecting, live,
// reconnecting, offline), data-reconnects and data-cursor; #notlive is shown
// whenever the rail is not live (data-as-of: when its tickets were read);
// #stock lists the station's 86'd and counted items (data-unavailable and
// data-counted: their SKUs, comma-separated), #stockpanel has one row per
// station item (data-sku, data-state: on, 86, counted).
//
// 86 and portions: the page reads the menu (GET /v1/menu) on load, on
// every reconnect and on every menu.changed message of the stream, and
// shows the station's 86'd items and remaining portions under the bar. The
// "86 / portions" panel lets a cook 86 an item, put it back, and count,
// recount or stop counting its portions (POST
// /v1/menu/items/{sku}/availability); the change comes back on the stream
// to every screen.
//
// The rail never claims more than it knows: on load it reads the open
// tickets (and the recently bumped ones, for recall) from the API and shows
// them at once, saying plainly that they are not live until the stream is;
// whenever the stream is refused it reads them again. A stream refused with
// 409 cursor-ahead (the cursor is after the stream's end: a JetStream store
// loss) makes the page drop its cursor and start from a fresh snapshot.
(() => {
  'use strict';

  const TOKEN_KEY = 'posd.kds.token';
  const WARN_SECS = 5 * 60; // card age turns amber
  const LATE_SECS = 10 * 60; // and red
  const BACKOFF_MIN = 500;
  const BACKOFF_MAX = 10000;
  const BUMPED_KEEP = 20;

  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined) n.textContent = text;
    return n;
  };

  // ---- configuration from the URL ------------------------------------
  const params = new URLSearchParams(location.search);
  const station = (params.get('station') || 'grill').trim();
  let token = (params.get('token') || '').trim();
  if (token) {
    try { localStorage.setItem(TOKEN_KEY, token); } catch (e) { /* private mode */ }
    // Keep the token off the screen and out of bookmarks.
    params.delete('token');
    params.set('station', station);
    history.replaceState(null, '', location.pathname + '?' + params.toString());
  } else {
    try { token = localStorage.getItem(TOKEN_KEY) || ''; } catch (e) { token = ''; }
  }

  // ---- state -----------------------------------------------------------
  const tickets = new Map(); // id -> ticket (status new), what the rail shows
  const pending = new Set(); // ids with a bump in flight (hidden optimistically)
  let bumped = []; // recently bumped tickets, most recent last
  let cursor = null; // id of the last stream message received
  let es = null; // the current EventSource
  let everOpen = false;
  let reconnects = 0;
  let backoff = BACKOFF_MIN;
  let retryTimer = 0;
  let fatal = false; // token or station rejected: wait for the user
  let live = false; // the stream is open and delivering
  let asOf = null; // when the rail's tickets were last read from the API (not live)
  let known = false; // the rail's tickets are known (read from the API or the stream)
  const voidedLines = new Set(); // line ids voided (struck on their fire ticket)
  let menuItems = null; // the station's menu items (GET /v1/menu), null until read
  let menuTimer = 0;

  // ---- connection indicator -------------------------------------------
  const conn = $('conn');
  function setConn(state, text) {
    live = state === 'live';
    conn.dataset.state = state;
    conn.dataset.reconnects = String(reconnects);
    conn.dataset.cursor = cursor === null ? '' : cursor;
    $('conn-text').textContent = text || {
      connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…', offline: 'offline',
    }[state];
    renderLiveness();
  }

  function hhmm(d) {
    return String(d.getHours()).padStart(2, '0') + ':' + String(d.getMinutes()).padStart(2, '0');
  }

  // renderLiveness says plainly when the rail is not live, and never shows
  // "All clear" unless the stream is live and the rail is empty.
  function renderLiveness() {
    const banner = $('notlive');
    if (!banner) return;
    banner.hidden = live;
    document.body.classList.toggle('stale', !live);
    banner.dataset.asOf = asOf ? asOf.toISOString() : '';
    banner.textContent = !known
      ? 'NOT LIVE — not connected; open tickets unknown'
      : 'NOT LIVE — tickets as of ' + hhmm(asOf || new Date()) + '; new tickets will not appear until reconnected';
    const empty = $('empty');
    if (empty) {
      empty.textContent = live
        ? 'All clear — no open tickets'
        : known ? 'No open tickets as of ' + hhmm(asOf || new Date()) + ' — not live' : 'Not connected — open tickets unknown';
    }
  }

  // ---- reading the API when the stream cannot tell -----------------------
  // refresh replaces the rail with the API's open tickets and loads the
  // recently bumped ones (for recall); it returns false if it could not.
  async function refresh() {
    if (!token) return false;
    try {
      const [open, ready] = await Promise.all([
        fetch('/v1/kitchen/tickets?station=' + encodeURIComponent(station), { headers: auth() }),
        fetch('/v1/kitchen/tickets?station=' + encodeURIComponent(station) + '&status=ready', { headers: auth() }),
      ]);
      if (!open.ok) return false;
      const body = await open.json();
      tickets.clear();
      for (const t of body.tickets || []) {
        if (t.station === station && t.status === 'new') tickets.set(t.id, t);
        noteVoid(t);
      }
      if (ready.ok) {
        const r = await ready.json();
        // Most recent first from the API; the recall list keeps it last.
        for (const t of (r.tickets || []).slice().reverse()) {
          if (t.station === station && t.status === 'ready' && !tickets.has(t.id)) rememberBumped(t);
          noteVoid(t);
        }
      }
      known = true;
      if (!live) asOf = new Date();
      render();
      loadMenu();
      return true;
    } catch (e) {
      return false;
    }
  }

  // ---- 86 and portions -----------------------------------------------------
  // loadMenu reads the menu and keeps the station's items.
  async function loadMenu() {
    if (!token) return;
    try {
      const res = await fetch('/v1/menu', { headers: auth() });
      if (!res.ok) return;
      const m = await res.json();
      menuItems = (m.items || []).filter((it) => it.station === station);
      renderStock();
    } catch (e) { /* keep what we had; the next message or reconnect reads it again */ }
  }

  // menuChanged reads the menu again soon (one read for a burst of changes).
  function menuChanged() {
    clearTimeout(menuTimer);
    menuTimer = setTimeout(loadMenu, 150);
  }

  function isOut(it) {
    return !it.available && (!it.unavailable_until || Date.parse(it.unavailable_until) > Date.now());
  }

  function stockState(it) {
    if (isOut(it)) return '86';
    return it.remaining === null || it.remaining === undefined ? 'on' : 'counted';
  }

  function stockText(it) {
    if (isOut(it)) {
      return it.unavailable_until ? "86'd until " + hhmm(new Date(it.unavailable_until)) : "86'd";
    }
    if (it.remaining === null || it.remaining === undefined) return 'on';
    return it.remaining === 0 ? 'sold out (0 left)' : it.remaining + ' left';
  }

  function renderStock() {
    stockSig = stockSignature();
    const strip = $('stock');
    const items = menuItems || [];
    const out = items.filter(isOut);
    const counted = items.filter((it) => !isOut(it) && it.remaining !== null && it.remaining !== undefined);
    strip.dataset.unavailable = out.map((it) => it.sku).join(',');
    strip.dataset.counted = counted.map((it) => it.sku).join(',');
    strip.replaceChildren();
    for (const it of out) strip.append(el('span', 'chip out', '86 ' + it.name));
    for (const it of counted) strip.append(el('span', 'chip ' + (it.remaining === 0 ? 'out' : 'count'), it.name + ': ' + stockText(it)));
    strip.hidden = out.length + counted.length === 0;
    $('stockbtn').textContent = out.length ? "86 / portions (" + out.length + " 86'd)" : '86 / portions';

    const list = $('stockitems');
    list.replaceChildren();
    $('stocknote').textContent = menuItems === null ? 'Reading the menu…'
      : items.length ? 'Items of the ' + station + ' station. A change reaches every screen and handheld at once.'
        : 'No menu item is cooked at the ' + station + ' station.';
    for (const it of items) {
      const li = el('li', 'stockrow');
      li.dataset.sku = it.sku;
      li.dataset.state = stockState(it);
      li.append(el('span', 'sname', it.name), el('span', 'sstate', stockText(it)));
      const acts = el('span', 'sacts');
      const btn = (label, action, body) => {
        const b = el('button', 'sbtn', label);
        b.type = 'button';
        b.dataset.action = action;
        b.addEventListener('click', () => setStock(it, body));
        acts.append(b);
      };
      if (isOut(it)) {
        btn('Back on', 'on', { available: true });
      } else {
        btn('86 it', '86', { available: false });
        if (it.remaining === null || it.remaining === undefined) {
          const b = el('button', 'sbtn', 'Count…');
          b.type = 'button';
          b.dataset.action = 'count';
          b.addEventListener('click', () => {
            const v = (prompt('Portions left of ' + it.name) || '').trim();
            if (v === '') return;
            const n = Number(v);
            if (!Number.isInteger(n) || n < 0) { toast('A count of portions is a whole number, 0 or more'); return; }
            setStock(it, { remaining: n });
          });
          acts.append(b);
        } else {
          // A count is what the cook has in hand, typed as a number: the
          // screen's figure may already be behind the waiters' sales, so it
          // never computes one from it (no −1/+1).
          const b = el('button', 'sbtn', 'Recount…');
          b.type = 'button';
          b.dataset.action = 'count';
          b.addEventListener('click', () => {
            const v = (prompt('Portions of ' + it.name + ' in hand now') || '').trim();
            if (v === '') return;
            const n = Number(v);
            if (!Number.isInteger(n) || n < 0) { toast('A count of portions is a whole number, 0 or more'); return; }
            setStock(it, { remaining: n });
          });
          acts.append(b);
          btn('Stop counting', 'uncount', { remaining: null });
        }
      }
      li.append(acts);
      list.append(li);
    }
  }

  async function setStock(it, body) {
    let res;
    try {
      res = await fetch('/v1/menu/items/' + encodeURIComponent(it.sku) + '/availability', {
        method: 'POST', headers: Object.assign({ 'Content-Type': 'application/json' }, auth()), body: JSON.stringify(body),
      });
    } catch (e) {
      toast('Could not change ' + it.name + ': network error — is the screen online?');
      return;
    }
    if (!res.ok) {
      const p = await problem(res);
      toast('Could not change ' + it.name + ': ' + (p.detail || p.title || ('HTTP ' + res.status)));
    }
    // Show what the menu now says (the stream brings it too).
    loadMenu();
  }

  function openStock(show) {
    $('stockpanel').hidden = !show;
    if (show) {
      renderStock();
      loadMenu();
    }
  }

  function noteVoid(t) {
    if (t && t.kind === 'void') for (const l of t.lines || []) voidedLines.add(l.line_id);
  }

  let toastTimer = 0;
  function toast(msg) {
    const t = $('toast');
    t.textContent = msg;
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, 6000);
  }

  // ---- the stream ------------------------------------------------------
  function streamURL() {
    let u = '/v1/kitchen/stream?station=' + encodeURIComponent(station) +
      '&access_token=' + encodeURIComponent(token);
    if (cursor !== null) u += '&after=' + encodeURIComponent(cursor);
    return u;
  }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = 0;
    if (es) es.close();
    if (!token) {
      askToken();
      return;
    }
    setConn(everOpen ? 'reconnecting' : 'connecting');
    const src = new EventSource(streamURL());
    es = src;
    const fresh = cursor === null;
    src.onopen = () => {
      if (src !== es) return;
      if (everOpen) reconnects++;
      everOpen = true;
      backoff = BACKOFF_MIN;
      known = true;
      asOf = null;
      setConn('live');
      // Menu changes made while the stream was down are not replayed to a
      // fresh stream: read the menu again.
      menuChanged();
      // Without a cursor the stream starts from the open tickets: the rail
      // becomes exactly those (the API's list, upserted by what follows).
      if (fresh) refresh();
    };
    src.onerror = () => {
      if (src !== es) return;
      if (src.readyState === EventSource.CLOSED) {
        // The browser gave up (an HTTP error, a wrong content type): find
        // out why, then reconnect ourselves from the last cursor.
        src.close();
        es = null;
        diagnose();
      } else {
        // The browser reconnects by itself, sending Last-Event-ID.
        setConn('reconnecting');
      }
    };
    for (const type of ['ticket.created', 'ticket.bumped', 'ticket.recalled', 'ticket.moved']) {
      src.addEventListener(type, (ev) => { if (src === es) onMessage(ev); });
    }
    src.addEventListener('menu.changed', (ev) => {
      if (src !== es) return;
      if (ev.lastEventId) cursor = ev.lastEventId;
      conn.dataset.cursor = cursor === null ? '' : cursor;
      menuChanged();
    });
  }

  function scheduleReconnect() {
    const wait = backoff + Math.floor(Math.random() * backoff / 4);
    backoff = Math.min(backoff * 2, BACKOFF_MAX);
    setConn(navigator.onLine === false ? 'offline' : 'reconnecting',
      (navigator.onLine === false ? 'offline' : 'reconnecting…') + ' (' + Math.ceil(wait / 1000) + ' s)');
    retryTimer = setTimeout(connect, wait);
  }

  // diagnose asks the stream itself why it was refused (EventSource does not
  // tell): a bad token or station needs a person; a cursor after the
  // stream's end is dropped for a fresh snapshot; too many streams waits
  // Retry-After; anything else is retried with back-off. Meanwhile the rail
  // shows the API's open tickets, marked not live.
  async function diagnose() {
    let res = null;
    const ctl = new AbortController();
    try {
      res = await fetch(streamURL(), { headers: auth(), signal: ctl.signal });
    } catch (e) { /* network down */ }
    if (res && res.ok) ctl.abort(); // a 200 is a stream: only its status was wanted
    if (res && res.status === 409) {
      const p = await problem(res);
      if ((p.type || '').endsWith('/cursor-ahead')) {
        cursor = null;
        conn.dataset.cursor = '';
        toast('Kitchen stream restarted: reloading the open tickets');
        await refresh();
        connect();
        return;
      }
    }
    if (res && res.status === 429) {
      const wait = Math.max(1, parseInt(res.headers.get('Retry-After') || '5', 10)) * 1000;
      await refresh();
      setConn('reconnecting', 'reconnecting… (' + Math.ceil(wait / 1000) + ' s)');
      retryTimer = setTimeout(connect, wait);
      return;
    }
    if (res && (res.status === 401 || res.status === 403 || res.status === 400)) {
      const p = await problem(res);
      fatal = true;
      if (res.status !== 400) {
        try { localStorage.removeItem(TOKEN_KEY); } catch (e) { /* ignore */ }
        $('token').hidden = false;
      }
      setConn('offline', res.status === 400 ? 'offline: ' + p.detail : 'offline: token not accepted');
      toast(p.detail || p.title || ('HTTP ' + res.status));
      return;
    }
    await refresh();
    scheduleReconnect();
  }

  function onMessage(ev) {
    let msg;
    try { msg = JSON.parse(ev.data); } catch (e) { return; }
    if (ev.lastEventId) cursor = ev.lastEventId;
    conn.dataset.cursor = cursor === null ? '' : cursor;
    const t = msg && msg.ticket;
    if (!t || !t.id || t.station !== station) return;
    // Sales take counted portions without a menu change: a ticket is the
    // sign that the counts may have moved.
    if (ev.type === 'ticket.created') menuChanged();
    known = true;
    noteVoid(t);
    keepMoves(t);
    switch (ev.type) {
      case 'ticket.moved':
        // Lines of the ticket went to another table: the same ticket,
        // shown where its lines are now.
        if (tickets.has(t.id)) tickets.set(t.id, t);
        bumped = bumped.map((b) => (b.id === t.id ? t : b));
        break;
      case 'ticket.created':
      case 'ticket.recalled':
        // created may arrive twice (snapshot, then live): an upsert.
        if (t.status === 'new') {
          tickets.set(t.id, t);
          forgetBumped(t.id);
        } else {
          tickets.delete(t.id);
        }
        break;
      case 'ticket.bumped':
        tickets.delete(t.id);
        rememberBumped(t);
        break;
    }
    render();
  }

  // ---- bump and recall -------------------------------------------------
  function auth() { return { Authorization: 'Bearer ' + token }; }

  async function problem(res) {
    try { return await res.json(); } catch (e) { return { title: 'HTTP ' + res.status }; }
  }

  async function move(id, action) {
    let res;
    try {
      res = await fetch('/v1/kitchen/tickets/' + encodeURIComponent(id) + '/' + action, { method: 'POST', headers: auth() });
    } catch (e) {
      return { ok: false, error: 'network error — is the screen online?' };
    }
    if (res.ok) return { ok: true, ticket: await res.json() };
    const p = await problem(res);
    return { ok: false, status: res.status, ticket: p.ticket, error: p.detail || p.title || ('HTTP ' + res.status) };
  }

  // keepMoves gives t the moves of the ticket as the screen has it when
  // those are more (moves only grow: a message sent before a move, read
  // after it, must not take the move back).
  function keepMoves(t) {
    const cur = tickets.get(t.id) || bumped.find((b) => b.id === t.id);
    if (cur && (cur.moves || []).length > (t.moves || []).length) t.moves = cur.moves;
  }

  // pieces folds a ticket's moves over its lines (as posd's
  // kitchen.Ticket.Pieces does): where each part of what it fired is now.
  function pieces(t) {
    const ps = (t.lines || []).map((l, i) => ({ index: i, line: l.line_id, qty: l.qty, order: t.order_id, table: t.table }));
    for (const m of t.moves || []) {
      const at = ps.findIndex((p) => p.line === m.ticket_line && p.order === m.from_order);
      if (at < 0 || m.qty > ps[at].qty) continue;
      const index = ps[at].index;
      ps[at].qty -= m.qty;
      if (ps[at].qty === 0) ps.splice(at, 1);
      const to = ps.findIndex((p) => p.line === m.to_line && p.order === m.to_order);
      if (to >= 0) ps[to].qty += m.qty;
      else ps.push({ index, line: m.to_line, qty: m.qty, order: m.to_order, table: m.to_table });
    }
    return ps;
  }

  // tablesOf lists the tables a ticket's lines are on now, the ticket's
  // own first when some are still there.
  function tablesOf(t) {
    const tables = [...new Set(pieces(t).map((p) => p.table))];
    tables.sort((a, b) => (a === t.table ? -1 : b === t.table ? 1 : 0));
    return tables.length ? tables : [t.table];
  }

  function tableLabel(t) { return tablesOf(t).join(' + '); }

  // apply puts a ticket as the server has it into the model.
  function apply(t) {
    if (!t || t.station !== station) return;
    keepMoves(t);
    if (t.status === 'new') {
      tickets.set(t.id, t);
      forgetBumped(t.id);
    } else {
      tickets.delete(t.id);
      rememberBumped(t);
    }
  }

  async function bump(id) {
    const t = tickets.get(id);
    if (!t || pending.has(id)) return;
    pending.add(id);
    render();
    const r = await move(id, 'bump');
    pending.delete(id);
    if (r.ok || r.status === 409) {
      // 409: someone bumped it first; the problem carries the ticket as it is.
      apply(r.ticket);
    } else if (r.status === 404) {
      tickets.delete(id);
      toast('Ticket ' + tableLabel(t) + ' no longer exists');
    } else {
      toast('Could not bump ' + tableLabel(t) + ': ' + r.error);
    }
    render();
  }

  async function recallLast() {
    const t = bumped[bumped.length - 1];
    if (!t) return;
    const btn = $('recall');
    btn.disabled = true;
    const r = await move(t.id, 'recall');
    if (r.ok || r.status === 409) {
      forgetBumped(t.id);
      apply(r.ticket);
    } else if (r.status === 404) {
      forgetBumped(t.id);
      toast('Ticket ' + tableLabel(t) + ' no longer exists');
    } else {
      toast('Could not recall ' + tableLabel(t) + ': ' + r.error);
    }
    render();
  }

  function rememberBumped(t) {
    bumped = bumped.filter((b) => b.id !== t.id);
    bumped.push(t);
    if (bumped.length > BUMPED_KEEP) bumped.shift();
  }
  function forgetBumped(id) { bumped = bumped.filter((b) => b.id !== id); }

  // ---- rendering -------------------------------------------------------
  const rail = $('rail');

  function age(t) {
    const s = Math.max(0, Math.floor((Date.now() - Date.parse(t.created_at)) / 1000));
    const mm = Math.floor(s / 60);
    return {
      secs: s,
      text: (mm < 10 ? '0' : '') + mm + ':' + String(s % 60).padStart(2, '0'),
      level: s >= LATE_SECS ? 'late' : s >= WARN_SECS ? 'warn' : 'ok',
    };
  }

  function card(t) {
    const isVoid = t.kind === 'void';
    const c = el('article', 'card ' + (isVoid ? 'void' : 'fire'));
    c.dataset.ticketId = t.id;
    c.dataset.kind = t.kind;
    const tables = tablesOf(t);
    const label = tables.join(' + ');
    c.dataset.table = label;
    c.tabIndex = 0;
    c.setAttribute('role', 'button');
    c.setAttribute('aria-label', (isVoid ? 'Void ticket' : 'Ticket') + ' table ' + label + ', tap to bump');

    const head = el('header', 'head');
    head.append(el('span', 'table', label));
    if (!tables.includes(t.table)) head.append(el('span', 'moved-from', 'moved from ' + t.table));
    head.append(el('span', 'kind', isVoid ? 'VOID — STOP' : t.station));
    if (t.guests) head.append(el('span', 'guests', t.guests + (t.guests === 1 ? ' guest' : ' guests')));
    const a = el('span', 'age');
    a.dataset.created = t.created_at;
    head.append(a);
    c.append(head);
    if (isVoid && (t.reason || t.voided_by)) {
      c.append(el('div', 'void-why', (t.reason || 'no reason given') + (t.voided_by ? ' — voided by ' + t.voided_by : '')));
    }
    if (t.order_note) c.append(el('div', 'order-note', '⚠ ' + t.order_note));

    const ul = el('ul', 'lines');
    const ps = pieces(t);
    for (const [i, l] of (t.lines || []).entries()) {
      const li = el('li', 'line');
      if (!isVoid && voidedLines.has(l.line_id)) {
        li.classList.add('voided');
        li.dataset.voided = 'true';
      }
      const top = el('div', 'what');
      top.append(el('span', 'qty', l.qty + ' ×'), el('span', 'name', l.name));
      if (li.dataset.voided) top.append(el('span', 'voided-tag', 'VOIDED'));
      li.append(top);
      const where = [];
      if (l.seat) where.push('seat ' + l.seat);
      if (l.course) where.push('course ' + l.course);
      if (where.length) li.append(el('div', 'where', where.join(' · ')));
      const mods = (l.options || []).concat(l.modifiers || []);
      if (mods.length) {
        const ul2 = el('ul', 'mods');
        for (const m of mods) ul2.append(el('li', '', m));
        li.append(ul2);
      }
      if (l.note) li.append(el('div', 'note', l.note));
      if (tables.length > 1) {
        // Lines on more than one table: where each part of this one is.
        const at = ps.filter((p) => p.index === i).map((p) => p.qty + ' → ' + p.table);
        const m = el('div', 'moved-to', at.join(' · '));
        m.dataset.movedTo = at.join(' · ');
        li.append(m);
      }
      ul.append(li);
    }
    c.append(ul);
    c.append(el('footer', 'foot', (t.server ? t.server + ' · ' : '') + (isVoid ? 'tap to acknowledge' : 'tap to bump')));
    return c;
  }

  function order(a, b) {
    // Voids first (stop cooking now), then oldest first.
    const va = a.kind === 'void' ? 0 : 1;
    const vb = b.kind === 'void' ? 0 : 1;
    if (va !== vb) return va - vb;
    return Date.parse(a.created_at) - Date.parse(b.created_at) || (a.id < b.id ? -1 : 1);
  }

  function render() {
    const list = [...tickets.values()].filter((t) => !pending.has(t.id)).sort(order);
    rail.replaceChildren(...list.map(card));
    tick();
    $('count').textContent = list.length + ' open';
    $('empty').hidden = list.length > 0;
    renderLiveness();
    const last = bumped[bumped.length - 1];
    const btn = $('recall');
    btn.disabled = !last;
    btn.textContent = last ? '↶ Recall ' + tableLabel(last) : '↶ Recall last';
    btn.dataset.ticketId = last ? last.id : '';
  }

  // stockSig is what the 86 strip last showed; an 86 whose end has passed
  // changes it without any message.
  let stockSig = '';
  function stockSignature() {
    return (menuItems || []).map((it) => it.sku + ':' + stockState(it) + ':' + it.remaining).join(',');
  }

  // tick refreshes the age timers (once a second), and the 86 strip when an
  // 86 has run out.
  function tick() {
    const sig = stockSignature();
    if (sig !== stockSig) {
      stockSig = sig;
      renderStock();
    }
    for (const a of rail.querySelectorAll('.age')) {
      const g = age({ created_at: a.dataset.created });
      a.textContent = g.text;
      const c = a.closest('.card');
      c.classList.toggle('warn', g.level === 'warn');
      c.classList.toggle('late', g.level === 'late');
    }
    const now = new Date();
    $('clock').textContent = String(now.getHours()).padStart(2, '0') + ':' + String(now.getMinutes()).padStart(2, '0');
  }

  // ---- wiring ------------------------------------------------------------
  function askToken() {
    const v = (prompt('Device token for the ' + station + ' kitchen display') || '').trim();
    if (!v) {
      $('token').hidden = false;
      setConn('offline', 'offline: no token');
      return;
    }
    token = v;
    try { localStorage.setItem(TOKEN_KEY, token); } catch (e) { /* ignore */ }
    $('token').hidden = true;
    fatal = false;
    connect();
  }

  rail.addEventListener('click', (e) => {
    const c = e.target.closest('.card');
    if (c) bump(c.dataset.ticketId);
  });
  rail.addEventListener('keydown', (e) => {
    const c = e.target.closest('.card');
    if (c && (e.key === 'Enter' || e.key === ' ')) {
      e.preventDefault();
      bump(c.dataset.ticketId);
    }
  });
  $('recall').addEventListener('click', recallLast);
  $('stockbtn').addEventListener('click', () => openStock(true));
  $('stockclose').addEventListener('click', () => openStock(false));
  $('toast').addEventListener('click', () => { $('toast').hidden = true; });
  $('token').addEventListener('click', askToken);
  window.addEventListener('online', () => { if (retryTimer && !fatal) connect(); });
  window.addEventListener('offline', () => { if (!es || es.readyState !== EventSource.OPEN) setConn('offline'); });

  $('station').textContent = station;
  document.title = station + ' · Kitchen display';
  setInterval(tick, 1000);
  // Counts move with every sale: read them again now and then as well.
  setInterval(() => { if (live) menuChanged(); }, 15000);
  render();
  // Show what the API has at once (not live yet), then go live.
  refresh().finally(connect);
})();
