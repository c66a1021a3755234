"use strict";
// The dashboard page: live boards over one websocket, commands as POSTs, the history pages.

const STATE_NAMES = ["idle", "prepare", "running", "fault"];
const STALE_MS = 1000;  // no row for this long: the chart is not live, and says so
const KEEP_MS = 10 * 60 * 1000;
const T = 0, VACUUM = 1, TARGET = 2, DUTY = 3, VALVE = 4, STATE = 5, FAULT = 6;

const page = {boards: [], checklist: null, faults: {}, outcomes: [], socketUp: false, spanMs: 2 * 60 * 1000};

const $ = (root, selector) => root.querySelector(selector);
const kpa = (pa) => (Math.round(pa / 100) / 10 + 0).toFixed(1);

async function post(path, body) {
  const options = {method: "POST", credentials: "same-origin"};
  if (body !== undefined) {
    options.headers = {"Content-Type": "application/json"};
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (e) {
    return {ok: false, text: "the dashboard server does not answer: " + e.message};
  }
  let data = {};
  try { data = await response.json(); } catch (e) { data = {error: response.statusText}; }
  return {ok: response.ok, status: response.status, text: data.error || data.result || ""};
}

// --- the stream ---

function connect() {
  const socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
  socket.onopen = () => { page.socketUp = true; showServer(); };
  socket.onmessage = (message) => receive(JSON.parse(message.data));
  socket.onclose = () => {
    page.socketUp = false;
    showServer();
    setTimeout(connect, 1000);
  };
}

function receive(message) {
  if (message.type === "snapshot") {
    page.checklist = message.checklist;
    page.faults = message.faults;
    page.outcomes = message.outcomes;
    fillOutcomes();
    buildBoards(message.boards);
    return;
  }
  if (message.type === "board") {
    const b = page.boards[message.board.index];
    const hadForm = JSON.stringify(b.desc.form);
    b.desc = message.board;
    b.session = message.board.session;
    b.linkError = null;
    showTitle(b);
    if (JSON.stringify(b.desc.form) !== hadForm) buildForm(b);
    return;
  }
  const board = page.boards[message.board];
  if (!board) return;
  if (message.type === "rows") {
    addRows(board, message.rows);
  } else if (message.type === "event") {
    const [, kind, detail] = message.event;
    if (kind === "boot") board.rows = [];
    board.events.push(message.event);
    const fault = kind === "state" && /fault=(\w+)/.exec(detail);
    if (fault && fault[1] !== "none") {
      say(board, "FAULT " + fault[1] + ": the board stopped the pump and vented the cup. Acknowledge once the " +
        "cause is dealt with.");
    }
  } else if (message.type === "session") {
    board.session = message.session;
  } else if (message.type === "link") {
    board.linkError = message.error;
    showTitle(board);
  }
  board.dirty = true;
}

function addRows(board, rows) {
  const last = board.rows.length ? board.rows[board.rows.length - 1][T] : -1;
  for (const row of rows) if (row[T] > last) board.rows.push(row);  // the snapshot and the stream overlap
  const cut = board.rows.length ? board.rows[board.rows.length - 1][T] - KEEP_MS : 0;
  let drop = 0;
  while (drop < board.rows.length && board.rows[drop][T] < cut) drop++;
  if (drop) board.rows.splice(0, drop);
  board.arrived = performance.now();
  board.dirty = true;
}

// --- live boards ---

function buildBoards(descriptions) {
  const live = document.getElementById("live");
  live.textContent = "";
  page.boards = descriptions.map((desc) => {
    const el = document.getElementById("board-template").content.firstElementChild.cloneNode(true);
    el.dataset.board = desc.index;
    live.appendChild(el);
    const board = {desc, el, rows: [], events: desc.events, session: desc.session, arrived: performance.now(),
                   linkError: desc.connected ? null : desc.error, dirty: true};
    addRows(board, desc.rows);
    $(el, ".stop").addEventListener("click", () => stop(board));
    $(el, ".ack").addEventListener("click", () => ack(board));
    $(el, ".start-form").addEventListener("submit", (event) => { event.preventDefault(); start(board); });
    showTitle(board);
    buildForm(board);
    return board;
  });
}

function showTitle(board) {
  const info = board.desc.info || {};
  $(board.el, ".title").textContent = board.desc.port + (info.board ? " — " + info.board + " (" + info.chip +
    "), firmware " + info.version : "");
  const state = $(board.el, ".link-state");
  state.textContent = connecting(board) ? "connecting…" : board.linkError ? "link lost: " + board.linkError :
    "connected";
  state.classList.toggle("lost", !!board.linkError && !connecting(board));
}

function connecting(board) {
  return board.linkError === "connecting" && !board.rows.length;  // never connected yet, so nothing was lost
}

function showServer() {
  const el = document.getElementById("server-state");
  el.textContent = page.socketUp ? "live" : "dashboard server unreachable: reconnecting…";
  el.className = page.socketUp ? "ok" : "bad";
  for (const board of page.boards) board.dirty = true;
}

function render() {
  const now = performance.now();
  for (const board of page.boards) {
    const quiet = now - board.arrived;
    const stale = !page.socketUp ? "DASHBOARD SERVER UNREACHABLE — not live" :
      connecting(board) ? "CONNECTING to " + board.desc.port + " — not live yet" :
      board.linkError ? "LINK LOST — not live\n" + board.linkError + "\nthe board keeps its own safety" :
      quiet > STALE_MS ? "NO DATA for " + (quiet / 1000).toFixed(0) + " s — not live" : "";
    const overlay = $(board.el, ".stale");
    if (overlay.textContent !== stale) overlay.innerText = stale;
    overlay.hidden = !stale;
    if (!board.dirty) continue;
    board.dirty = false;
    const rows = board.rows;
    const last = rows.length ? rows[rows.length - 1] : null;
    const session = board.session;
    const limit = session && session.hard_limit_pa ? session.hard_limit_pa : selectedCupLimit(board);
    drawChart($(board.el, "canvas"), rows, {end: last ? last[T] : 0, span: page.spanMs, limitPa: limit, xLabel: "ago"});
    showStatus(board, last);
  }
  requestAnimationFrame(render);
}

function showStatus(board, last) {
  const set = (field, text) => { $(board.el, '[data-field="' + field + '"]').textContent = text; };
  if (!last) return;
  const fault = last[FAULT];
  set("state", STATE_NAMES[last[STATE]] || String(last[STATE]));
  set("fault", fault ? page.faults[fault] || String(fault) : "none");
  $(board.el, '[data-field="fault"]').classList.toggle("fault-on", !!fault);
  set("vacuum", kpa(last[VACUUM]) + " kPa");
  set("target", kpa(last[TARGET]) + " kPa");
  set("duty", (last[DUTY] / 10).toFixed(1) + " %");
  set("valve", last[VALVE] ? "vented" : "sealed");
  set("left", timeLeft(board.session, last));
  set("session", board.session ? "#" + board.session.id + " " + board.session.program + " cup " +
    (board.session.cup || "?") : "none");
  $(board.el, ".ack").hidden = last[STATE] !== 3;
}

function timeLeft(session, last) {
  if (!session) return "–";
  if (session.run_start_ms === null) return last[STATE] === 1 ? "preparing" : session.joined ? "unknown (joined)" : "–";
  const left = Number(session.params.minutes) * 60000 - (last[T] - session.run_start_ms);
  const seconds = Math.max(0, Math.round(left / 1000));
  return Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
}

function selectedCupLimit(board) {
  const form = board.desc.form;
  if (!form) return null;
  const name = $(board.el, 'select[name="cup"]').value;
  const cup = form.cups.find((c) => c.name === name) || form.cups[0];
  return cup ? cup.hard_limit_kpa * 1000 : null;
}

function say(board, text) {
  $(board.el, ".message").textContent = text;
}

async function stop(board) {
  say(board, "stopping…");
  const reply = await post("/api/boards/" + board.desc.index + "/stop");
  say(board, reply.text);
}

async function ack(board) {
  const reply = await post("/api/boards/" + board.desc.index + "/ack", {});
  say(board, reply.text);
}

document.getElementById("stop-all").addEventListener("click", async () => {
  for (const board of page.boards) say(board, "stopping…");
  const reply = await post("/api/stop");
  for (const board of page.boards) say(board, reply.ok ? "stop sent to every board" : reply.text);
});

// --- the start form ---

function buildForm(board) {
  const form = $(board.el, ".start-form");
  const spec = board.desc.form;
  const details = $(board.el, "details.start");
  details.hidden = !spec;
  if (!spec) return;
  const program = form.elements.program;
  program.textContent = "";
  for (const name of Object.keys(spec.programs)) program.add(new Option(name, name));
  const cup = form.elements.cup;
  cup.textContent = "";
  for (const c of spec.cups) cup.add(new Option(c.name + " (" + c.diameter_mm + " mm, limit " + c.hard_limit_kpa +
    " kPa)", c.name));
  program.onchange = () => buildParams(board);
  cup.onchange = () => { showHint(board); board.dirty = true; };
  form.elements.operator.value = localStorage.getItem("cupctl-operator") || "";
  const checklist = page.checklist;
  const box = (item, name) => {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "checkbox";
    input.name = name;
    input.value = item;
    if (name === "absent") input.required = true;
    label.append(input, " " + item);
    return label;
  };
  $(form, ".absolute").replaceChildren(...checklist.absolute.map((item) => box(item, "absent")));
  $(form, ".relative").replaceChildren(...checklist.relative.map((item) => box(item, "relative")));
  buildParams(board);
}

function buildParams(board) {
  const form = $(board.el, ".start-form");
  const params = board.desc.form.programs[form.elements.program.value];
  const holder = $(form, ".params");
  holder.textContent = "";
  for (const p of params) {
    const label = document.createElement("label");
    let input;
    if (p.kind === "word") {
      input = document.createElement("select");
      for (const choice of p.choices) input.add(new Option(choice, choice, choice === p.default, choice === p.default));
    } else {
      input = document.createElement("input");
      input.type = "number";
      input.min = p.min;
      input.max = p.max;
      input.step = p.kind === "kpa" ? "0.001" : "1";
      input.value = p.default;
    }
    input.name = "param-" + p.name;
    input.dataset.param = p.name;
    input.onchange = () => showHint(board);
    label.append(p.name + (p.kind === "kpa" ? " kPa " : " "), input);
    holder.appendChild(label);
  }
  showHint(board);
}

function showHint(board) {
  const form = $(board.el, ".start-form");
  const spec = board.desc.form;
  const cup = spec.cups.find((c) => c.name === form.elements.cup.value) || spec.cups[0];
  const tissue = form.elements["param-tissue"] ? form.elements["param-tissue"].value : "normal";
  $(form, ".hint").textContent = "Cup " + cup.name + " with " + tissue + " tissue: targets up to " +
    Math.floor(cup.max_target_kpa[tissue] * 10) / 10 + " kPa (hard limit " + cup.hard_limit_kpa + " kPa); sessions up to " +
    spec.max_session_min + " min. The board checks again.";
}

async function start(board) {
  const form = $(board.el, ".start-form");
  const params = {};
  for (const input of form.querySelectorAll("[data-param]")) params[input.dataset.param] = input.value;
  const checked = (name) => Array.from(form.querySelectorAll('input[name="' + name + '"]:checked'), (i) => i.value);
  const operator = form.elements.operator.value.trim();
  localStorage.setItem("cupctl-operator", operator);
  $(form, ".form-error").textContent = "";
  const reply = await post("/api/boards/" + board.desc.index + "/start", {
    program: form.elements.program.value, cup: form.elements.cup.value, params,
    heartbeat_s: form.elements.heartbeat_s.value, patient: form.elements.patient.value.trim(), operator,
    checklist: {absent: checked("absent"), relative: checked("relative")},
  });
  if (!reply.ok) {
    $(form, ".form-error").textContent = reply.text;
    return;
  }
  say(board, reply.text);
  for (const input of form.querySelectorAll('.checklist input')) input.checked = false;  // asked anew each time
  form.elements.patient.value = "";
  $(board.el, "details.start").open = false;
}

// --- history ---

function fillOutcomes() {
  const select = document.querySelector('#history-filter select[name="outcome"]');
  if (select.options.length > 1) return;
  for (const outcome of page.outcomes) select.add(new Option(outcome, outcome));
}

async function showHistory() {
  const query = new URLSearchParams(new FormData(document.getElementById("history-filter")));
  const response = await fetch("/api/history?" + query, {credentials: "same-origin"});
  const data = await response.json();
  const body = $(document.getElementById("history-table"), "tbody");
  body.textContent = "";
  for (const s of data.sessions || []) {
    const row = body.insertRow();
    row.dataset.session = s.id;
    const cells = [s.id, s.started_local, s.duration_s === null ? "–" : (s.duration_s / 60).toFixed(1), s.board,
      s.patient || "–", s.program_text, s.peak_vacuum_pa === null ? "–" : kpa(s.peak_vacuum_pa), s.outcome_text];
    for (const text of cells) row.insertCell().textContent = text;
    row.onclick = () => { location.hash = "#history/" + s.id; };
  }
}

async function showSession(id) {
  const section = document.getElementById("history-detail");
  const response = await fetch("/api/history/" + id, {credentials: "same-origin"});
  const s = await response.json();
  section.hidden = false;
  $(section, "h2").textContent = s.error || "Session " + s.id + ": " + s.outcome_text;
  if (s.error) return;
  const facts = [
    ["started", s.started_local], ["minutes", s.duration_s === null ? "–" : (s.duration_s / 60).toFixed(1)],
    ["patient", s.patient || "–"], ["device", s.board + " (" + s.chip + "), firmware " + s.firmware + ", " + s.port],
    ["program", s.start_line || s.program_text], ["confirmed by", s.confirmed_by || "–"],
    ["checklist", checklistText(s.checklist)],
    ["vacuum", "peak " + kpa(s.peak_vacuum_pa || 0) + " kPa, mean " + kpa(s.mean_vacuum_pa || 0) + " kPa; " +
      ((s.time_at_target_ms || 0) / 1000).toFixed(1) + " s within 1 kPa of target"],
    ["recorded by", "cupctl " + s.source], ["trace", s.trace],
  ];
  const dl = $(section, "dl");
  dl.textContent = "";
  for (const [term, text] of facts) {
    dl.appendChild(document.createElement("dt")).textContent = term;
    dl.appendChild(document.createElement("dd")).textContent = text;
  }
  const events = $(section, ".events tbody");
  events.textContent = "";
  for (const e of s.events) {
    const row = events.insertRow();
    for (const text of [e.t_ms === null ? "–" : e.t_ms, e.kind, e.detail]) row.insertCell().textContent = text;
  }
  const series = s.series;
  const canvas = $(section, "canvas");
  if (series.why) {
    drawChart(canvas, [], {end: 1000, span: 1000, limitPa: s.hard_limit_pa});
    $(section, "h2").textContent += " (" + series.why + ")";
    return;
  }
  const rows = series.t_ms.map((t, i) => [t, series.vacuum_pa[i], series.target_pa[i]]);
  const first = rows.length ? rows[0][T] : 0;
  const last = rows.length ? rows[rows.length - 1][T] : 1000;
  drawChart(canvas, rows, {end: last, span: Math.max(last - first, 1000), limitPa: s.hard_limit_pa});
}

function checklistText(c) {
  if (!c) return "not recorded";
  if (c.skipped) return "not shown (" + c.skipped + ")";
  const relative = c.relative_present === null ? "not asked" : c.relative_present.join(", ") || "none";
  return c.absolute_absent.length + " absolute contraindications confirmed absent; relative present: " + relative;
}

document.getElementById("history-filter").addEventListener("submit", (event) => {
  event.preventDefault();
  showHistory();
});

function route() {
  const hash = location.hash || "#live";
  const inHistory = hash.startsWith("#history");
  document.getElementById("live").hidden = inHistory;
  document.getElementById("history").hidden = !inHistory;
  document.getElementById("nav-live").classList.toggle("current", !inHistory);
  document.getElementById("nav-history").classList.toggle("current", inHistory);
  if (inHistory) {
    showHistory();
    const id = hash.split("/")[1];
    if (id) showSession(id); else document.getElementById("history-detail").hidden = true;
  }
}

window.addEventListener("hashchange", route);
route();
connect();
requestAnimationFrame(render);
