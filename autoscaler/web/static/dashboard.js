"use strict";
// The dashboard: the summary (counts, problems, recent scale actions, the codes' descriptions) and
// one page of apps (search, problems only, paging), refreshed every few seconds. Every time is
// shown in UTC. What a code means (its kind, description and direction) is the server's, from the
// engine's table of codes: this file names no code. A code the server does not describe is shown
// as it is, marked unknown.
const REFRESH_MS = 5000, PAGE = 24, SVG = "http://www.w3.org/2000/svg";
let token = null, codes = {}, offset = 0, query = "", problemsOnly = false, matched = 0, timer = null;
(function takeToken() {
  const url = new URL(window.location.href);
  const given = url.searchParams.get("token");
  if (given) {
    sessionStorage.setItem("autoscaler-token", given);
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
  token = sessionStorage.getItem("autoscaler-token");
})();

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}
function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  return node;
}
function fmt(v) {
  if (v === null || v === undefined) return "–";
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString("en-US");
  return String(Math.round(v * 1000) / 1000);
}
function span(seconds) {
  const s = Math.round(Math.abs(seconds));
  if (s < 60) return s + "s";
  const m = Math.floor(s / 60), h = Math.floor(m / 60), d = Math.floor(h / 24);
  if (d > 0) return d + "d " + (h % 24) + "h";
  if (h > 0) return h + "h " + (m % 60) + "m";
  return m + "m";
}
function clock(t, now) {  // HH:MM UTC, with the date when it is not today (UTC)
  const iso = t.toISOString(), day = iso.slice(0, 10) === now.toISOString().slice(0, 10);
  return (day ? "" : iso.slice(0, 10) + " ") + iso.slice(11, 16) + " UTC";
}
function when(iso, now) {
  const t = new Date(iso), diff = (t - now) / 1000, shown = clock(t, now);
  if (Math.abs(diff) < 1) return shown + " (just now)";
  return shown + (diff > 0 ? " (in " + span(diff) + ")" : " (" + span(diff) + " ago)");
}
function codeInfo(code) {  // the server's word on a code, or null for none (or one it does not describe)
  return code !== null && code !== undefined && Object.prototype.hasOwnProperty.call(codes, code) ? codes[code] : null;
}
function badgeClass(app) {
  const info = codeInfo(app.code), kind = app.kind || (info ? info.kind : "unknown");
  if (info && info.direction) return info.direction === "up" ? "b-up" : "b-down";
  if (kind === "action") return "b-dry";
  if (kind === "problem") return "b-err";
  if (kind === "unknown") return "b-unknown";
  return "b-hold";
}
function describe(app) {
  const info = codeInfo(app.code);
  return app.description || (info ? info.description : "a code the service gave no description for");
}
function pct(part, whole) { return Math.max(0, Math.min(100, whole > 0 ? 100 * part / whole : 0)) + "%"; }

function instancesBlock(app) {
  const box = el("div");
  const p = app.policy, cur = app.current, des = app.desired;
  const counts = el("div", "counts");
  counts.append(el("span", "n", cur === null ? "–" : cur));
  if (des !== null && des !== cur) { counts.append(el("span", "arrow", "→"), el("span", "n", des)); }
  counts.append(el("span", "lbl", des !== null && des !== cur ? "instances (current → desired)" : "instances"));
  counts.append(el("span", "bounds", "min " + p.min_instances + " · max " + p.max_instances));
  box.append(counts);
  const top = Math.max(p.max_instances, cur || 0, des || 0, 1);
  const bar = el("div", "bar");
  bar.title = "0 to " + top + "; hatched: below min_instances";
  const below = el("div", "below"); below.style.width = pct(p.min_instances, top); bar.append(below);
  if (cur !== null) { const fill = el("div", "fill"); fill.style.width = pct(cur, top); bar.append(fill); }
  if (p.min_instances > 0) {
    const min = el("div", "min"); min.style.left = pct(p.min_instances, top); min.title = "min " + p.min_instances;
    bar.append(min);
  }
  if (des !== null && des !== cur) {
    const mark = el("div", "mark"); mark.style.left = pct(des, top); mark.title = "desired " + des; bar.append(mark);
  }
  box.append(bar);
  const scale = el("div", "scale");
  scale.append(el("span", "", "0"), el("span", "", String(top)));
  box.append(scale);
  return box;
}

function metricsBlock(app) {
  const box = el("div");
  const d = app.last && app.last.decision;
  box.append(el("h3", "", "Load vs target"));
  if (!app.policy.metrics.length) {
    box.append(el("div", "empty", "no metrics: schedules and bounds only"));
    return box;
  }
  const byName = new Map(((d && d.metrics) || []).map(m => [m.name, m]));
  for (const spec of app.policy.metrics) {
    const m = byName.get(spec.name);
    const row = el("div", "metric");
    const name = el("div", "name", spec.name); name.append(el("div", "src", spec.source + " · " +
      (spec.kind === "average" ? "average" : "per instance")));
    row.append(name);
    if (!m) { row.append(el("div", "miss", "not evaluated yet")); box.append(row); continue; }
    if (m.missing) { row.append(el("div", "miss", m.detail)); box.append(row); continue; }
    const bar = el("div", "bar");
    const ratio = m.load_ratio;
    if (ratio !== null) {
      const fill = el("div", "fill" + (ratio > 1.1 ? " hot" : ratio < 0.9 ? " cool" : ""));
      fill.style.width = pct(ratio, 2); bar.append(fill);
    }
    const target = el("div", "target"); target.style.left = "50%"; bar.append(target);
    bar.title = m.detail;
    row.append(bar);
    const proposal = m.proposal !== null ? "  → " + m.proposal : "";
    const num = el("div", "num", fmt(m.value) + " / " + fmt(m.target) + proposal);
    num.title = "value / target" + (spec.kind === "average" ? " (per instance)" : " per instance") + " → proposal";
    row.append(num);
    box.append(row);
  }
  return box;
}

function whyBlock(app) {
  const box = el("div");
  box.append(el("h3", "", "Last decision"));
  const last = app.last;
  if (!last) { box.append(el("div", "empty", describe(app))); return box; }
  const d = last.decision;
  box.append(el("p", "summary", d ? d.summary : last.app + ": " + last.code));
  const list = el("ul", "why");
  const reasons = d ? d.reasons.slice() : [];
  if (last.detail && (!d || last.code !== d.code)) reasons.push(last.detail);
  if (!reasons.length) reasons.push(last.detail || last.code);
  for (const r of reasons) list.append(el("li", "", r));
  box.append(list);
  return box;
}

function scheduleBlock(app, now) {
  const box = el("div");
  box.append(el("h3", "", "Schedules & campaigns"));
  const s = app.schedule;
  const d = app.last && app.last.decision;
  const ramp = d && d.ramp, fallback = app.fallback;
  if (!s.active.length && !s.next.length && !ramp && !fallback) {
    box.append(el("div", "empty", "none planned")); return box;
  }
  const wrap = el("div", "sched");
  const bounds = w => [w.min_instances !== null ? "floor " + w.min_instances : null,
    w.max_instances !== null ? "ceiling " + w.max_instances : null].filter(Boolean).join(", ");
  const ramped = (w, key) => w[key] && w[key] !== "0s";  // fields an older server does not send
  for (const w of s.active) {
    wrap.append(el("span", "on", w.name + " · " + bounds(w) + " · in force until " + when(w.end, now) +
      (ramped(w, "ramp_down") ? " · then ramps down over " + w.ramp_down : "")));
  }
  for (const w of s.next) {
    wrap.append(el("span", "", w.name + " · " + bounds(w) + " · from " + when(w.applies_from, now) +
      (ramped(w, "ramp_up") ? " · ramps up over " + w.ramp_up + " from " + when(w.ramp_from, now) : "")));
  }
  for (const r of (ramp && ramp.ramps) || []) {
    wrap.append(el("span", "on", r.window + " · ramp " + r.direction + " · step " + r.taken + " of " + r.steps +
      " · floor " + r.level + (r.next_step_at ? " · " + r.next_level + " " + when(r.next_step_at, now) : "")));
  }
  if (fallback && fallback.status === "in_force") {
    wrap.append(el("span", "on", "fallback · at least " + fallback.instances + " since " +
      when(fallback.in_force_from, now) + " · metrics missing since " + when(fallback.missing_since, now)));
  } else if (fallback) {
    wrap.append(el("span", "", "fallback " + fallback.status.replace(/_/g, " ") + " · metrics missing since " +
      when(fallback.missing_since, now)));
  }
  box.append(wrap);
  return box;
}

function forecastBlock(app) {
  const p = app.policy.predictive, f = app.forecast, st = app.startup;
  if (!p && !st) return null;
  const box = el("div", "fc");
  box.append(el("h3", "", "Forecast & start-up"));
  if (p) {
    const head = el("div", "line");
    head.append(el("span", p.mode === "on" ? "won" : "off", p.mode === "on" ? "mode on" : "forecast only"),
      el("span", "", p.mode === "on" ? " · the higher of forecast and metrics wins"
        : " · shown, never acts"));
    box.append(head);
    if (!f || !f.available) {
      box.append(el("div", "line empty", "no forecast yet: fewer than " + p.min_samples + " previous " +
        p.period + " periods of history"));
    } else {
      box.append(el("div", "line num", "predicted " + f.metric + " load " + fmt(f.load) + " over the next " +
        span(f.horizon_seconds) + " → " + f.proposal + " instances (metrics: " +
        (f.reactive_proposal === null ? "–" : f.reactive_proposal) + ")"));
      const verdict = f.won ? "the forecast won: it set the count"
        : !f.agreed ? "the previous periods disagree (spread " + fmt(f.spread * 100) + "% > " +
          fmt(f.max_spread * 100) + "%): the forecast does not act"
        : f.mode === "on" ? "the metrics' proposal won"
        : f.would_win ? "mode on would have raised the count to " + f.proposal : "mode on would not change it";
      box.append(el("div", "line " + (f.won ? "won" : ""), verdict));
      const samples = el("div", "line num", "q" + f.quantile + " of " + f.samples.length + " samples (" +
        f.samples.map(fmt).join(", ") + ") = " + fmt(f.base) + " + " + fmt(f.margin * 100) + "% margin");
      samples.title = f.describe;
      box.append(samples);
    }
  }
  box.append(el("div", "line num", st ? "start-up " + span(st.seconds) + " (median of " + st.samples.length +
    " measured scale-ups)" : "start-up: not measured yet (no scale-up seen)"));
  return box;
}


function trendBlock(app, now) {
  const t = app.trend;
  if (!t || t.times.length < 1) return null;
  const box = el("div");
  box.append(el("h3", "", "Instances and load, since " + clock(new Date(t.times[0] * 1000), now)));
  const W = 360, H = 90, L = 24, R = 30, T = 6, B = 14;
  const chart = svg("svg", {viewBox: "0 0 " + W + " " + H, class: "trend", role: "img",
    "aria-label": "instances, desired and load against target"});
  const t0 = t.times[0], t1 = Math.max(t.times[t.times.length - 1], t0 + 1);
  const top = Math.max(app.policy.max_instances > 0 ? Math.min(app.policy.max_instances,
    Math.max(...t.instances, ...t.desired) * 1.25 + 1) : 1, ...t.instances, ...t.desired, 1);
  const loads = t.load.filter(v => v !== null), loadTop = Math.max(2, ...loads);
  const x = s => L + (W - L - R) * (s - t0) / (t1 - t0);
  const y = v => T + (H - T - B) * (1 - v / top);
  const yl = v => T + (H - T - B) * (1 - Math.min(v, loadTop) / loadTop);
  const steps = (values, fy) => {
    let d = "";
    values.forEach((v, i) => {
      if (v === null) return;
      const px = x(t.times[i]).toFixed(1), py = fy(v).toFixed(1);
      d += (d ? (" H" + px + " V" + py) : ("M" + px + " " + py));
    });
    return d ? d + " H" + x(t1).toFixed(1) : "";
  };
  chart.append(svg("line", {x1: L, x2: W - R, y1: yl(1), y2: yl(1), class: "target"}));
  const load = steps(t.load, yl); if (load) chart.append(svg("path", {d: load, class: "load"}));
  chart.append(svg("path", {d: steps(t.desired, y), class: "want"}));
  chart.append(svg("path", {d: steps(t.instances, y), class: "inst"}));
  const label = (tx, ty, text, anchor) => {
    const n = svg("text", {x: tx, y: ty, class: "axis", "text-anchor": anchor}); n.textContent = text; return n;
  };
  chart.append(label(L - 3, y(top) + 7, String(Math.round(top)), "end"), label(L - 3, y(0), "0", "end"),
    label(W - R + 3, yl(1) + 3, "target", "start"),
    label(L, H - 2, clock(new Date(t0 * 1000), now), "start"),
    label(W - R, H - 2, clock(new Date(t1 * 1000), now), "end"));
  box.append(chart);
  const legend = el("div", "legend");
  legend.append(el("span", "i", "— instances"), el("span", "w", "- - desired"), el("span", "l", "— load / target"));
  box.append(legend);
  return box;
}

function card(app, now) {
  const c = el("section", "card");
  c.dataset.app = app.app;
  const head = el("div", "card-head");
  head.append(el("span", "app", app.app));
  const code = app.code || app.kind;  // no code before the first tick: its kind says so
  const badge = el("span", "badge " + badgeClass(app), String(code).replace(/_/g, " "));
  badge.title = describe(app) + (app.kind === "unknown" ? " (unknown code)" : "");
  head.append(badge);
  c.append(head, instancesBlock(app));
  const tr = trendBlock(app, now);
  if (tr) c.append(tr);
  c.append(metricsBlock(app));
  const fc = forecastBlock(app);
  if (fc) c.append(fc);
  c.append(whyBlock(app), scheduleBlock(app, now));
  const d = app.last && app.last.decision;
  c.append(el("div", "foot", d ? "decided " + when(d.at, now) : ""));
  return c;
}

function renderSummary(s) {
  codes = s.codes || {};
  const now = new Date(s.generated_at);
  document.getElementById("auth").hidden = true;
  const ready = document.getElementById("ready");
  ready.className = "chip " + (s.ready ? "ok" : "bad");
  ready.textContent = s.ready ? "ready" : "not ready";
  ready.title = s.readiness;
  document.getElementById("role").textContent = s.role;
  document.getElementById("tick").textContent = s.last_tick_at ? "last tick " + when(s.last_tick_at, now) : "no tick yet";
  document.getElementById("updated").textContent = "updated " + new Date().toISOString().slice(11, 19) + " UTC";
  const banners = document.getElementById("banners");
  banners.replaceChildren();
  if (!s.ready) banners.append(el("div", "banner err", "Not ready: " + s.readiness));
  if (s.role === "follower") banners.append(el("div", "banner warn",
    "This instance is a follower: it decides but does not write; the leader scales the apps."));
  if (s.policy_problem_count) {
    const b = el("div", "banner warn", s.policy_problem_count + " policy problem(s):");
    const ul = el("ul");
    for (const p of s.policy_problems.slice(0, 20)) ul.append(el("li", "", p.path + (p.line ? ":" + p.line : "") +
      ": " + p.severity + ": " + (p.field ? p.field + ": " : "") + p.message));
    b.append(ul); banners.append(b);
  }
  document.getElementById("stats").textContent = s.apps + " apps · " + s.scaling + " scaling · " +
    s.problems + " need attention";
  const box = document.getElementById("actions"), list = document.getElementById("action-list");
  list.replaceChildren();
  for (const a of s.recent_actions.slice(0, 10)) {
    const li = el("li");
    li.append(el("span", "", clock(new Date(a.at), now) + " "), el("span", a.direction, a.direction === "up" ? "▲" : "▼"),
      el("span", "", " " + a.app + " " + a.from + " → " + a.to + (a.cause ? " (" + a.cause + ")" : "")));
    list.append(li);
  }
  box.hidden = !s.recent_actions.length;
}

function renderPage(p) {
  const now = new Date(p.generated_at);
  matched = p.matched;
  const grid = document.getElementById("apps");
  grid.replaceChildren(...p.apps.map(a => card(a, now)));
  if (!p.apps.length) grid.append(el("div", "empty", p.total ? "no app matches" : "no app is managed"));
  document.getElementById("range").textContent = p.apps.length
    ? (p.offset + 1) + "–" + (p.offset + p.apps.length) + " of " + p.matched.toLocaleString("en-US")
    : "0 of " + p.matched.toLocaleString("en-US");
  document.getElementById("prev").disabled = p.offset === 0;
  document.getElementById("next").disabled = p.next_offset === null;
}

function askForToken(message) {
  const box = document.getElementById("auth");
  box.hidden = false;
  document.getElementById("auth-msg").textContent = message;
}

async function get(path) {
  const headers = token ? {"Authorization": "Bearer " + token} : {};
  const res = await fetch(path, {headers, cache: "no-cache"});
  if (res.status === 401) {
    askForToken(token ? "The API token was not accepted. Enter the right one."
      : "This service requires an API token (AUTOSCALER_API_TOKEN). Open this page as /?token=<token>, "
        + "or enter it here.");
    return null;
  }
  if (!res.ok) throw new Error("HTTP " + res.status);
  return res.json();
}

async function refresh() {
  const page = "api/v1/apps?trend=1&limit=" + PAGE + "&offset=" + offset +
    (query ? "&q=" + encodeURIComponent(query) : "") + (problemsOnly ? "&problem=1" : "");
  try {
    const summary = await get("api/v1/summary");
    if (summary === null) return;
    renderSummary(summary);
    const apps = await get(page);
    if (apps === null) return;
    renderPage(apps);
    document.getElementById("conn").hidden = true;
  } catch (err) {
    const conn = document.getElementById("conn");
    conn.hidden = false;
    conn.textContent = "Cannot reach the service (" + err.message + "); showing the last data received.";
  }
}

function again() { offset = Math.max(0, offset); refresh(); }
document.getElementById("auth-form").addEventListener("submit", ev => {
  ev.preventDefault();
  token = document.getElementById("auth-token").value.trim();
  sessionStorage.setItem("autoscaler-token", token);
  refresh();
});
document.getElementById("controls").addEventListener("submit", ev => ev.preventDefault());
document.getElementById("search").addEventListener("input", ev => {
  clearTimeout(timer);
  timer = setTimeout(() => { query = ev.target.value.trim(); offset = 0; again(); }, 250);
});
document.getElementById("problems").addEventListener("change", ev => { problemsOnly = ev.target.checked; offset = 0; again(); });
document.getElementById("prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); again(); });
document.getElementById("next").addEventListener("click", () => { if (offset + PAGE < matched) offset += PAGE; again(); });
(function takeQuery() {  // ?q=...&problem=1&offset=N: a link to a search
  const params = new URL(window.location.href).searchParams;
  query = (params.get("q") || "").slice(0, 200); problemsOnly = params.get("problem") === "1";
  offset = Math.max(0, parseInt(params.get("offset") || "0", 10) || 0);
  document.getElementById("search").value = query; document.getElementById("problems").checked = problemsOnly;
})();
refresh();
setInterval(refresh, REFRESH_MS);
