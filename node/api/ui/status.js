/* The status page: reads the cluster's JSON API every REFRESH_MS and draws
 * it. It learns every member's API address from /api/status and goes on
 * with another member when the one it came from stops answering. Reads go
 * to the leader (linearizable); with no leader reachable, to any member
 * with ?stale=true, and the page says so. No framework, no outside files. */
'use strict';

(function () {
  const REFRESH_MS = 2000;
  const TIMEOUT_MS = 1500;
  const TOKEN_KEY = 'drnode-reader-token';
  const STEP_ORDER = ['decide', 'fence', 'final_backup', 'restore', 'verify',
                      'activate', 'dns', 'notify', 'complete'];

  const page = {
    endpoints: [location.origin], /* this page's node first */
    current: 0,                   /* the endpoint that answered last */
    token: sessionStorage.getItem(TOKEN_KEY),
    lastOk: 0,                    /* wall time of the last full refresh */
    lastError: null,
    busy: false,
  };

  /* Escape for HTML text and attribute values. */
  function esc(v) {
    return String(v === null || v === undefined ? '' : v)
      .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;').replace(/'/g, '&#39;');
  }

  function pad(n) { return String(n).padStart(2, '0'); }

  function utc(ms) {
    if (!ms) { return '—'; }
    const d = new Date(ms);
    return d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' +
      pad(d.getUTCDate()) + ' ' + pad(d.getUTCHours()) + ':' +
      pad(d.getUTCMinutes()) + ':' + pad(d.getUTCSeconds()) + 'Z';
  }

  function span(ms) {
    if (ms === null || ms === undefined) { return '—'; }
    const s = Math.abs(ms) / 1000;
    if (s < 10) { return s.toFixed(1) + ' s'; }
    if (s < 90) { return Math.round(s) + ' s'; }
    if (s < 5400) { return Math.round(s / 60) + ' min'; }
    if (s < 172800) { return (s / 3600).toFixed(1) + ' h'; }
    return Math.round(s / 86400) + ' d';
  }

  function ago(ms) {
    if (!ms) { return ''; }
    const d = Date.now() - ms;
    return d >= 0 ? span(d) + ' ago' : 'in ' + span(d);
  }

  /* A time: UTC, then relative (kept current by tickRelative). */
  function when(ms) {
    if (!ms) { return '<span class="dim">—</span>'; }
    return esc(utc(ms)) + ' <span class="dim rel" data-ms="' + esc(ms) +
      '">(' + esc(ago(ms)) + ')</span>';
  }

  function badge(text, cls) {
    return '<span class="badge ' + esc(cls || text) + '">' + esc(text) +
      '</span>';
  }

  function bytes(n) {
    if (!n) { return '0 B'; }
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + ' ' + u[i];
  }

  function table(head, rows) {
    if (rows.length === 0) { return '<p class="dim">None yet.</p>'; }
    return '<table><thead><tr>' + head.map(h => '<th>' + esc(h) + '</th>')
      .join('') + '</tr></thead><tbody>' + rows.map(r => '<tr>' +
      r.map(c => '<td>' + c + '</td>').join('') + '</tr>').join('') +
      '</tbody></table>';
  }

  function set(id, html) {
    const el = document.getElementById(id);
    if (el.innerHTML !== html) { el.innerHTML = html; }
  }

  /* One GET with a timeout; resolves to parsed JSON or throws an Error
   * whose message says what happened. */
  async function get(base, path) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
    const headers = {};
    if (page.token) { headers.Authorization = 'Bearer ' + page.token; }
    let res;
    try {
      res = await fetch(base + path, { headers: headers, signal: ctl.signal,
                                       redirect: 'manual', cache: 'no-store' });
    } catch (e) {
      throw new Error(base + ' did not answer');
    } finally {
      clearTimeout(timer);
    }
    if (res.status === 401 || res.status === 403) {
      const err = new Error(base + path + ': a reader token is needed');
      err.auth = true;
      throw err;
    }
    if (res.type === 'opaqueredirect' || res.status === 307) {
      const err = new Error(base + ' is not the leader');
      err.notLeader = true;
      throw err;
    }
    if (!res.ok) {
      let msg = 'HTTP ' + res.status;
      try { msg = (await res.json()).error.message || msg; } catch (e) { }
      throw new Error(base + path + ': ' + msg);
    }
    return res.json();
  }

  function learnEndpoints(status) {
    const known = new Set(page.endpoints);
    for (const m of status.members || []) {
      if (m.api_address) {
        const url = location.protocol + '//' + m.api_address;
        if (!known.has(url)) { page.endpoints.push(url); known.add(url); }
      }
    }
  }

  /* The first member that answers /api/status, starting with the last
   * one that did. */
  async function findNode() {
    const n = page.endpoints.length;
    let last = null;
    for (let k = 0; k < n; k++) {
      const i = (page.current + k) % n;
      try {
        const status = await get(page.endpoints[i], '/api/status');
        page.current = i;
        return { base: page.endpoints[i], status: status };
      } catch (e) {
        if (e.auth) { throw e; }
        last = e;
      }
    }
    throw new Error('no member answers (' + page.endpoints.length +
                    ' tried; last: ' + (last ? last.message : '?') + ')');
  }

  const PATHS = {
    status: '/api/status', failover: '/api/failover', backups: '/api/backups',
    breakers: '/api/breakers', drills: '/api/drills',
    history: '/api/history', replication: '/api/replication',
    settings: '/api/settings', regions: '/api/regions', site: '/api/site',
  };

  async function readAll(base, stale) {
    const keys = Object.keys(PATHS);
    const q = stale ? '?stale=true' : '';
    const vals = await Promise.all(keys.map(k => get(base, PATHS[k] + q)));
    const out = {};
    keys.forEach((k, i) => { out[k] = vals[i]; });
    return out;
  }

  async function refresh() {
    if (page.busy) { return; }
    page.busy = true;
    try {
      const found = await findNode();
      learnEndpoints(found.status);
      const leader = found.status.leader && found.status.leader.api
        ? location.protocol + '//' + found.status.leader.api : null;
      let data = null;
      let from = found.base;
      let stale = false;
      if (leader) {
        try {
          data = await readAll(leader, false);
          from = leader;
        } catch (e) {
          if (e.auth) { throw e; }
        }
      }
      if (data === null) {
        data = await readAll(found.base, true);
        stale = true;
      }
      let dns = null;
      try { dns = await get(from, '/api/dns'); } catch (e) { dns = null; }
      page.lastOk = Date.now();
      page.lastError = null;
      document.getElementById('login').hidden = true;
      draw(found, data, dns, from, stale);
    } catch (e) {
      page.lastError = e.message;
      if (e.auth) { document.getElementById('login').hidden = false; }
      drawUnreachable(e.message);
    } finally {
      page.busy = false;
    }
  }

  function setting(data, key) {
    for (const s of data.settings.settings || []) {
      if (s.key === key) { return s.value; }
    }
    return null;
  }

  /* A region's state on the page: primary, fenced (the runbook that moved
   * the site away from it fenced it), lost, degraded, healthy. */
  function regionState(r, fo) {
    if (r.primary) { return 'primary'; }
    const fenced = fo && fo.id && fo.from_region === r.name &&
      (fo.steps || []).some(s => s.step === 'fence');
    if (fenced) { return 'fenced'; }
    if (r.status === 'lost' || r.status === 'degraded') { return r.status; }
    return r.status === 'healthy' ? 'healthy' : 'unknown';
  }

  function drawRegions(status, data) {
    const fo = data.failover;
    const regions = data.regions.regions || [];
    const members = status.members || [];
    const html = regions.map(r => {
      const st = regionState(r, fo);
      const ms = members.filter(m => m.region === r.name).map(m => {
        const contact = m.last_contact_ms === null ||
          m.last_contact_ms === undefined ? '' :
          ' · ' + (status.leader && m.id === status.leader.id ? 'leader' :
                   'heard ' + span(m.last_contact_ms) + ' ago');
        return '<div class="mono">node ' + esc(m.id) + ' ' + esc(m.role) +
          esc(contact) + '</div>';
      }).join('');
      const svcs = Object.keys(r.services || {})
        .filter(k => r.services[k] !== 'unknown')
        .map(k => badge(k + ' ' + r.services[k], r.services[k])).join(' ');
      const extra = st === 'primary' && r.status !== 'healthy'
        ? ' ' + badge(r.status) : '';
      return '<div class="region" data-region="' + esc(r.name) +
        '" data-state="' + esc(st) + '"><h3><span>' + esc(r.name) +
        '</span><span>' + badge(st) + extra + '</span></h3>' +
        (st === 'primary' ? '<div>epoch <b>' + esc(data.site.epoch) +
          '</b></div>' : '') +
        '<div class="chips">' + (svcs || '<span class="dim">no service ' +
          'health reported</span>') + '</div>' + ms +
        '<div class="dim">health as of ' + esc(ago(r.health_ms) || 'never') +
        '</div></div>';
    }).join('');
    set('regions', html || '<p class="dim">No regions.</p>');
  }

  function drawRunbook(fo) {
    const stepAt = {};
    for (const s of fo.steps || []) { stepAt[s.step] = s.at_ms; }
    let html = '<dl class="kv"><dt>mode</dt><dd>' + esc(fo.mode) +
      (fo.automatic_possible ? '' : ' <span class="error">(' +
        esc(fo.layout_warning) + ')</span>') + '</dd>' +
      '<dt>would fail over to</dt><dd>' + esc(fo.candidate || '—') +
      (fo.candidate_why_not ? ' <span class="dim">(' +
        esc(fo.candidate_why_not) + ')</span>' : '') + '</dd></dl>';
    if (fo.primary_lost) {
      html += '<p class="error">Primary ' + esc(fo.primary_lost.region) +
        ' lost: ' + esc(fo.primary_lost.why || '') + '</p>';
    }
    if (!fo.id) {
      set('runbook', html + '<p class="dim">No failover has run.</p>');
      return;
    }
    const kind = fo.planned ? 'switchover' : 'failover';
    html += '<p><b id="runbook-state">' + esc(kind) + ' ' +
      esc(fo.from_region) + ' → ' + esc(fo.to_region) + '</b>, epoch ' +
      esc(fo.epoch) + ': ' + badge(fo.state, fo.state === 'complete' ?
        'complete' : fo.state === 'blocked' || fo.state === 'aborted' ?
        'bad' : 'warn') + '<br><span class="dim">' + esc(fo.reason || '') +
      (fo.actor ? ' · by ' + esc(fo.actor) : '') + '</span></p>';
    const order = STEP_ORDER.filter(s => s !== 'final_backup' || fo.planned);
    const now = Date.now();
    const items = order.map((s, k) => {
      const at = stepAt[s];
      const next = order.slice(k + 1).map(n => stepAt[n]).find(t => t);
      let cls = '';
      let dur = '';
      if (at) {
        const running = fo.state === s && s !== 'complete';
        cls = running ? 'current' : 'done';
        if (s !== 'complete') {
          dur = running ? span(now - at) + ' so far' :
            next ? span(next - at) : '';
        }
      }
      if (fo.state === 'blocked' && fo.blocked_step === s) { cls = 'bad'; }
      return '<li class="' + cls + '" data-step="' + esc(s) + '">' + esc(s) +
        (at ? ' <span class="dim">' + esc(utc(at)) + '</span>' : '') +
        (dur ? ' · ' + esc(dur) : '') + '</li>';
    }).join('');
    html += '<ol class="steps">' + items + '</ol>';
    if (fo.waiting_for) {
      html += '<p class="dim">waiting for ' + esc(fo.waiting_for) + '</p>';
    }
    if (fo.error) { html += '<p class="error">' + esc(fo.error) + '</p>'; }
    html += '<dl class="kv">' +
      '<dt>RTO</dt><dd>' + (fo.rto_ms ? esc(span(fo.rto_ms)) : '—') + '</dd>' +
      '<dt>RPO</dt><dd>' + (fo.rto_ms ? esc(span(fo.rpo_ms)) : '—') + '</dd>' +
      '<dt>restored</dt><dd class="mono">' +
      esc([fo.pg_backup, fo.redis_backup].filter(x => x).join(', ') || '—') +
      '</dd></dl>';
    set('runbook', html);
  }

  function drawDns(dns) {
    if (dns === null) {
      set('dns', '<p class="dim">This node did not say (an older drnode?).' +
          '</p>');
      return;
    }
    if (!dns.name || dns.error) {
      set('dns', '<p class="dim">' + esc(dns.error || 'dns.name is not set') +
          '</p>');
      return;
    }
    let html = '<p><b class="mono">' + esc(dns.name) + '</b> should point ' +
      'at ' + esc(dns.primary_region) + ': <span class="mono">' +
      esc((dns.expected || []).join(', ') || '(no dns_targets)') +
      '</span> ' + (dns.matches_primary ? badge('ok') :
        badge('does not match', 'bad')) + '</p>';
    html += table(['server', 'answers now', 'TXT', ''], (dns.servers || [])
      .map(s => [
        '<span class="mono">' + esc(s.server) + '</span>',
        s.error ? '<span class="error">' + esc(s.error) + '</span>' :
          s.nxdomain ? '<span class="error">NXDOMAIN</span>' :
          '<span class="mono">' + esc(s.cname || s.addresses.join(', ') ||
            '(nothing)') + '</span>',
        '<span class="mono">' + esc((s.txt || []).join(' ')) + '</span>',
        s.matches_primary ? badge('ok') : badge('differs', 'bad')]));
    html += '<p class="dim">asked by node ' + esc(dns.node) + ' ' +
      esc(ago(dns.checked_ms)) + ' · provider ' + esc(dns.provider) + '</p>';
    set('dns', html);
  }

  function newest(backups, region, kind) {
    let best = null;
    for (const b of backups) {
      if (b.kind !== kind || b.state !== 'complete') { continue; }
      const c = (b.copies || []).find(x => x.region === region &&
                                      x.state === 'verified');
      if (c && (!best || b.snapshot_ms > best.snapshot_ms)) { best = b; }
    }
    return best;
  }

  function drawRpo(data) {
    const backups = data.backups.backups || [];
    const rpo = { pg_logical: setting(data, 'rpo.pg_s'),
                  redis_snapshot: setting(data, 'rpo.redis_s') };
    const repl = {};
    for (const r of data.replication.regions || []) { repl[r.region] = r; }
    const now = Date.now();
    const rows = (data.regions.regions || []).map(r => {
      const cells = ['<b>' + esc(r.name) + '</b>'];
      for (const kind of ['pg_logical', 'redis_snapshot']) {
        const b = newest(backups, r.name, kind);
        if (!b) {
          cells.push('<span class="error">no verified copy</span>');
          continue;
        }
        const age = now - b.snapshot_ms;
        const limit = rpo[kind] ? rpo[kind] * 1000 : 0;
        cells.push('<span class="' + (limit && age > limit ? 'error' :
          'good') + '">' + esc(span(age)) + '</span>' +
          (limit ? ' <span class="dim">/ ' + esc(span(limit)) + '</span>' :
            ''));
      }
      // Point-in-time restores start from a base backup: optional, so its
      // absence is not an error.
      const base = newest(backups, r.name, 'pg_base');
      cells.push(base ? esc(span(now - base.snapshot_ms)) :
        '<span class="dim">none</span>');
      const rr = repl[r.name];
      cells.push(rr ? esc(span((rr.lag_max_s || 0) * 1000)) +
        (rr.jobs.running ? ' · ' + esc(rr.jobs.running) + ' copying' : '') +
        (rr.jobs.failed ? ' <span class="error">' + esc(rr.jobs.failed) +
          ' failed</span>' : '') : '—');
      return cells;
    });
    set('rpo', table(['region', 'PostgreSQL data age / RPO',
                      'Redis data age / RPO', 'base backup age', 'copy lag'],
                     rows) +
        (data.replication.unsafe_backups ? '<p class="error">' +
          esc(data.replication.unsafe_backups) + ' backup(s) not yet on ' +
          'enough regions (oldest ' +
          esc(span(data.replication.oldest_unsafe_s * 1000)) + ')</p>' : ''));
  }

  function drawBackups(data) {
    const list = (data.backups.backups || []).slice()
      .sort((a, b) => b.created_ms - a.created_ms).slice(0, 8);
    set('backups', table(['backup', 'state', 'taken', 'size', 'copies'],
      list.map(b => [
        '<span class="mono">' + esc(b.id) + '</span>',
        badge(b.state === 'complete' && b.safe ? 'safe' : b.state,
              b.state === 'complete' ? (b.safe ? 'ok' : 'warn') : b.state),
        when(b.snapshot_ms || b.created_ms),
        esc(bytes(b.stored_bytes)),
        (b.copies || []).map(c => badge(c.region, c.state)).join(' ')])));
  }

  function drawDrills(data) {
    const list = (data.drills.drills || []).slice()
      .sort((a, b) => b.started_ms - a.started_ms).slice(0, 6);
    set('drills', table(['drill', 'state', 'started', 'RTO', 'RPO'],
      list.map(d => [
        esc(d.id + ' ' + d.kind + ' in ' + d.region),
        badge(d.state) + (d.error ? ' <span class="error">' + esc(d.error) +
          '</span>' : ''),
        when(d.started_ms),
        d.rto_ms ? esc(span(d.rto_ms)) : '—',
        d.kind === 'restore' && (d.pg_rpo_ms || d.redis_rpo_ms ||
                                 d.pg_base_backup)
          ? esc([d.pg_backup ? 'pg ' + span(d.pg_rpo_ms) : null,
                 d.pg_base_backup ? 'pg base + WAL ' +
                   span(d.pg_base_rpo_ms) : null,
                 d.redis_backup ? 'redis ' + span(d.redis_rpo_ms) : null]
                .filter(x => x).join(', ')) : '—'])));
  }

  function drawBreakers(data) {
    set('breakers', table(['provider', 'state', 'failures', 'changed'],
      (data.breakers.breakers || []).map(b => [
        esc(b.provider), badge(b.state), esc(b.failures),
        when(b.changed_ms)])));
  }

  function drawHistory(data) {
    const list = (data.history.history || []).slice(-25).reverse();
    set('history', table(['when', 'who', 'what'], list.map(h => [
      when(h.time_ms), esc(h.actor),
      '<b>' + esc(h.action) + '</b> <span class="mono">' + esc(h.detail) +
        '</span>'])));
  }

  function drawBanner(status, data, dns, stale, from) {
    const bad = [];
    const warn = [];
    const fo = data.failover;
    if (stale) {
      bad.push('No leader answers: this is node ' + status.node +
               "'s last applied state, which may be behind.");
    }
    if (fo.primary_lost) {
      bad.push('Primary region ' + fo.primary_lost.region + ' is lost. ' +
               (fo.primary_lost.why || ''));
    }
    if (fo.state === 'blocked') {
      bad.push('The runbook is blocked at ' + fo.blocked_step + ': ' +
               (fo.error || 'see drctl failover status') +
               ' (drctl failover resume or abort).');
    } else if (fo.id && fo.state !== 'complete' && fo.state !== 'aborted') {
      warn.push((fo.planned ? 'Switchover' : 'Failover') + ' to ' +
                fo.to_region + ' in progress: ' + fo.state + '.');
    }
    for (const r of data.regions.regions || []) {
      if (r.status === 'lost' && !r.primary &&
          regionState(r, fo) !== 'fenced') {
        warn.push('Region ' + r.name + ' is lost.');
      } else if (r.status === 'degraded') {
        warn.push('Region ' + r.name + ' is degraded.');
      }
    }
    if (dns && dns.name && !dns.error && !dns.matches_primary &&
        !(fo.id && fo.state !== 'complete')) {
      bad.push('DNS ' + dns.name + ' does not point at the primary ' +
               dns.primary_region + '.');
    }
    if (page.current !== 0) {
      warn.push('The node this page came from (' + location.host +
                ') does not answer; reading from ' + from.replace(/^https?:\/\//,
                '') + '.');
    }
    const el = document.getElementById('banner');
    const lines = bad.concat(warn);
    el.hidden = lines.length === 0;
    el.className = 'banner' + (bad.length === 0 ? ' warn' : '');
    set('banner', lines.map(l => '<div>' + esc(l) + '</div>').join(''));
  }

  function draw(found, data, dns, from, stale) {
    const status = data.status || found.status;
    const site = data.site;
    const b = document.body;
    b.dataset.state = stale ? 'stale' : 'live';
    b.dataset.primary = site.primary_region || '';
    b.dataset.epoch = String(site.epoch);
    b.dataset.siteState = site.state;
    b.dataset.servedBy = String(status.node);
    b.dataset.from = from;
    b.dataset.runbook = data.failover.state;
    b.dataset.dnsMatches = dns && dns.name ? String(!!dns.matches_primary) :
      '';
    b.dataset.updatedMs = String(page.lastOk);
    set('summary', 'Primary <b id="primary">' + esc(site.primary_region) +
        '</b> · epoch <b id="epoch">' + esc(site.epoch) + '</b> · site ' +
        badge(site.state, site.state === 'active' ? 'ok' :
              site.state === 'blocked' ? 'bad' : 'warn') +
        ' · leader ' + (status.leader ? 'node ' + esc(status.leader.id) :
          '<span class="error">none</span>') + ' · term ' + esc(status.term));
    set('source', 'Read from ' + esc(from.replace(/^https?:\/\//, '')) +
        (stale ? ' (stale)' : '') + ' · node ' + esc(status.node) + ' in ' +
        esc(status.region) + ' · updated <span id="updated" class="rel" ' +
        'data-ms="' + esc(page.lastOk) + '">' + esc(ago(page.lastOk)) +
        '</span>');
    drawBanner(status, data, dns, stale, from);
    drawRegions(status, data);
    drawRunbook(data.failover);
    drawDns(dns);
    drawRpo(data);
    drawBackups(data);
    drawDrills(data);
    drawBreakers(data);
    drawHistory(data);
  }

  function drawUnreachable(msg) {
    document.body.dataset.state = 'unreachable';
    const el = document.getElementById('banner');
    el.hidden = false;
    el.className = 'banner';
    set('banner', '<div>' + esc(msg) + '</div>' + (page.lastOk ?
      '<div>Showing what was read ' + esc(ago(page.lastOk)) + '.</div>' :
      ''));
  }

  /* Relative times move on between refreshes. */
  function tickRelative() {
    for (const el of document.querySelectorAll('.rel[data-ms]')) {
      const ms = Number(el.dataset.ms);
      const text = el.id === 'updated' ? ago(ms) : '(' + ago(ms) + ')';
      if (el.textContent !== text) { el.textContent = text; }
    }
  }

  document.getElementById('login').addEventListener('submit', ev => {
    ev.preventDefault();
    page.token = document.getElementById('token').value.trim() || null;
    if (page.token) { sessionStorage.setItem(TOKEN_KEY, page.token); }
    refresh();
  });

  refresh();
  setInterval(refresh, REFRESH_MS);
  setInterval(tickRelative, 1000);
}());
