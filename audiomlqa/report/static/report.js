"use strict";
// audiomlqa report: sorting and filtering of pages that are complete without it (every number is in the HTML).
const DATA = JSON.parse(document.getElementById("report-data").textContent || "{}");

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v; else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

function fmt(x, digits) { return x === null || x === undefined ? "—" : Number(x).toFixed(digits); }

// -- leaderboard ------------------------------------------------------------------------------------------------
function sortTable(table, th) {
  const column = th.dataset.column;
  const ascending = th.getAttribute("aria-sort") === "descending";
  table.querySelectorAll("th").forEach((h) => h.removeAttribute("aria-sort"));
  th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  const body = table.tBodies[0];
  const key = (row) => {
    const cell = row.querySelector(`td[data-column="${CSS.escape(column)}"]`);
    const v = cell ? cell.dataset.value : undefined;
    if (v === undefined) return null;
    return column === "model" ? v : Number(v);
  };
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = key(a), y = key(b);
    if (x === null && y === null) return 0;
    if (x === null) return 1;  // missing values last, either way
    if (y === null) return -1;
    const d = typeof x === "string" ? x.localeCompare(y) : x - y;
    return ascending ? d : -d;
  });
  rows.forEach((r) => body.append(r));
}

function initLeaderboard() {
  document.querySelectorAll("table.leaderboard th.sortable").forEach((th) =>
    th.addEventListener("click", () => sortTable(th.closest("table"), th)));
  const xl = document.getElementById("show-xl");
  if (xl) xl.addEventListener("change", () => document.body.classList.toggle("show-xl", xl.checked));
  const select = document.getElementById("metric");
  if (!select) return;
  select.addEventListener("change", () => {
    document.querySelectorAll("[data-metric]").forEach((node) => {
      if (node.tagName === "TABLE") return;
      node.hidden = node.dataset.metric !== select.value;
    });
  });
}

// -- question explorer ------------------------------------------------------------------------------------------
const PAGE_SIZE = 25;
let explorerPage = 0;

function norm(text) { return (text || "").toLowerCase().replace(/[\p{P}\s]+/gu, " ").trim(); }

function wrong(answer) {
  if (!answer) return true;
  if (answer.em !== null && answer.em !== undefined) return answer.em < 100;
  return answer.j === null || answer.j === undefined || answer.j < 4;  // an instruction: judged below 4 of 5
}

function disagree(row, models) {
  const given = models.filter((m) => row.answers[m]).map((m) => norm(row.answers[m].x || row.answers[m].r));
  return new Set(given).size > 1;
}

function filtered() {
  const config = document.getElementById("f-config").value;
  const model = document.getElementById("f-model").value;
  const onlyWrong = document.getElementById("f-wrong").checked;
  const onlyDisagree = document.getElementById("f-disagree").checked;
  const search = norm(document.getElementById("f-search").value);
  const models = model ? [model] : DATA.models;
  return DATA.rows.filter((row) => {
    if (config && row.config !== config) return false;
    if (model && !row.answers[model]) return false;
    if (onlyWrong && !models.some((m) => row.answers[m] && wrong(row.answers[m]))) return false;
    if (onlyDisagree && !disagree(row, DATA.models)) return false;
    if (search && !norm(`${row.id} ${row.question} ${row.golds.join(" ")}`).includes(search)) return false;
    return true;
  });
}

function answerBlock(name, a) {
  const scores = [];
  if (a.em !== null && a.em !== undefined) scores.push(`EM ${fmt(a.em, 0)} · F1 ${fmt(a.f1, 1)}`);
  if (a.j !== undefined) scores.push(`judge ${a.j === null ? "unparsed" : a.j}`);
  const state = a.em === null || a.em === undefined ? "" : a.em >= 100 ? "right" : "wrong";
  return el("div", { class: `answer ${state}`, "data-model": name },
    el("div", { class: "who" }, `${name} · ${scores.join(" · ")}${a.over ? " · over window" : ""}`),
    a.x !== null && a.x !== undefined ? el("div", { class: "extracted" }, a.x === "" ? "(no answer)" : a.x) : null,
    a.r !== null && a.r !== undefined && a.r !== a.x ? el("details", {}, el("summary", {}, "raw output"), el("div", { class: "raw" }, a.r)) : null,
    a.t ? el("div", { class: "raw" }, `heard: ${a.t}`) : null);
}

function renderExplorer() {
  const rows = filtered();
  const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
  explorerPage = Math.min(explorerPage, pages - 1);
  const body = document.getElementById("rows");
  body.replaceChildren();
  const model = document.getElementById("f-model").value;
  const models = model ? [model] : DATA.models;
  for (const row of rows.slice(explorerPage * PAGE_SIZE, (explorerPage + 1) * PAGE_SIZE)) {
    const context = row.context >= 0 ? DATA.contexts[row.context] : "";
    body.append(el("tr", { "data-config": row.config, "data-id": row.id },
      el("td", {}, el("div", {}, row.config), el("code", {}, row.id)),
      el("td", {}, el("div", {}, row.question),
        context ? el("details", {}, el("summary", {}, "context"), el("div", { class: "context" }, context)) : null),
      el("td", {}, row.audio ? el("audio", { controls: true, preload: "metadata", src: row.audio }) : el("span", { class: "note" }, "no clip"),
        row.transcript ? el("div", { class: "raw" }, `ASR: ${row.transcript}`) : null,
        row.error !== null && row.error !== undefined ? el("div", { class: "note" }, `error ${fmt(row.error, 3)}${row.voice ? " · " + row.voice : ""}`) : null),
      el("td", {}, row.reference ? el("details", {}, el("summary", {}, "reference"), el("div", { class: "raw" }, row.reference))
        : row.golds.map((g) => el("div", {}, g))),
      el("td", {}, models.filter((m) => row.answers[m]).map((m) => answerBlock(m, row.answers[m])))));
  }
  document.getElementById("count").textContent = `${rows.length} of ${DATA.rows.length} rows`;
  document.getElementById("page").textContent = `page ${explorerPage + 1} of ${pages}`;
  document.getElementById("prev").disabled = explorerPage === 0;
  document.getElementById("next").disabled = explorerPage >= pages - 1;
}

function initExplorer() {
  for (const id of ["f-config", "f-model", "f-wrong", "f-disagree", "f-search"]) {
    document.getElementById(id).addEventListener("input", () => { explorerPage = 0; renderExplorer(); });
  }
  document.getElementById("prev").addEventListener("click", () => { explorerPage -= 1; renderExplorer(); });
  document.getElementById("next").addEventListener("click", () => { explorerPage += 1; renderExplorer(); });
  renderExplorer();
}

const INIT = { index: initLeaderboard, questions: initExplorer };
(INIT[document.body.dataset.page] || (() => {}))();
