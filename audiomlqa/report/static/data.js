// audiomlqa report --data: the data explorer's filters, pages and attempt history (report.js gives el, fmt, DATA).
const CLIPS_PER_PAGE = 25;
let clipPage = 0;
const ROWS = DATA.rows || [];
const GROUPS = new Map();  // a question's attempts, in order: its history
ROWS.forEach((row, i) => { if (!GROUPS.has(row.g)) GROUPS.set(row.g, []); GROUPS.get(row.g).push(i); });
const HAYSTACK = ROWS.map((r) => norm(`${r.p} ${r.i} ${r.s} ${r.t || ""} ${r.v}`));

function value(id) { const node = document.getElementById(id); return node ? node.value : ""; }

function clipRows() {
  const lang = value("f-lang"), voice = value("f-voice"), status = value("f-status"), attempts = value("f-attempts");
  const search = norm(value("f-search"));
  const out = [];
  ROWS.forEach((r, i) => {
    if (lang && r.l !== lang) return;
    if (voice && r.v !== voice) return;
    if (status && (status === "accepted") !== r.ok) return;
    if (attempts === "standing" && !r.st) return;
    if (search && !HAYSTACK[i].includes(search)) return;
    out.push(r);
  });
  return out;
}

function errorCell(r) {
  const metric = (r.m || "").toUpperCase();
  const over = r.e !== null && r.th !== null && r.e > r.th;
  return el("td", { class: "num" },
    el("div", { class: over ? "worse" : "" }, `${metric} ${fmt(r.e, 3)}`),
    el("div", { class: "note" }, `threshold ${r.th === null ? "—" : Number(r.th) >= 1e6 ? Number(r.th).toExponential(0) : fmt(r.th, 3)}`),
    r.r !== null && r.r !== undefined ? el("details", {}, el("summary", {}, "rule"), el("div", { class: "raw" }, DATA.rules[r.r]))
      : el("div", { class: "note" }, DATA.kind === "dataset" ? "rule: see the card" : "rule not recorded"));
}

function verdictCell(r) {
  return el("td", {},
    el("span", { class: `pill ${r.ok ? "accepted" : "rejected"}` }, r.ok ? "accepted" : "rejected"),
    r.why ? el("div", { class: "note" }, r.why) : null,
    r.uv ? el("div", { class: "note worse" }, "unverified judge") : null);
}

function historyCell(r) {
  if (DATA.kind !== "output") return el("td", { class: "note" }, "standing attempt only (published)");
  const items = GROUPS.get(r.g).map((i) => {
    const a = ROWS[i];
    const text = `#${a.a} ${a.v} · ${(a.m || "").toUpperCase()} ${fmt(a.e, 3)} · ${a.ok ? "accepted" : "rejected"}${a.st ? " · standing" : ""}`;
    return el("li", { class: a === r ? "current" : "", "data-attempt": a.a, "data-accepted": String(a.ok) }, text);
  });
  return el("td", {}, el("ol", { class: "history" }, items));
}

function clipRow(r) {
  return el("tr", { "data-pair": r.p, "data-id": r.i, "data-attempt": r.a, "data-status": r.ok ? "accepted" : "rejected" },
    el("td", { class: "text" }, el("div", {}, r.p === r.l ? r.l : `${r.p} (asked in ${r.l})`), el("code", {}, r.i),
      el("div", { class: "note" }, `attempt ${r.a}${r.st && DATA.kind === "output" ? " · standing" : ""}`)),
    el("td", {}, r.au ? el("audio", { controls: true, preload: "metadata", src: r.au })
      : el("span", { class: "note worse" }, r.pr ? `no clip: ${r.pr}` : "no clip (--no-audio)"),
      el("div", { class: "note" }, `${fmt(r.d, 1)} s`)),
    el("td", {}, el("div", {}, r.s), el("div", { class: "raw" }, `ASR: ${r.t === null || r.t === undefined ? "—" : r.t}`)),
    errorCell(r),
    el("td", {}, el("div", {}, r.v), el("div", { class: "note" }, r.b)),
    verdictCell(r),
    historyCell(r));
}

function renderClips() {
  const rows = clipRows();
  const pages = Math.max(1, Math.ceil(rows.length / CLIPS_PER_PAGE));
  clipPage = Math.max(0, Math.min(clipPage, pages - 1));
  const body = document.getElementById("rows");
  body.replaceChildren(...rows.slice(clipPage * CLIPS_PER_PAGE, (clipPage + 1) * CLIPS_PER_PAGE).map(clipRow));
  document.getElementById("count").textContent = `${rows.length} of ${ROWS.length} clips`;
  document.getElementById("count").dataset.count = rows.length;
  document.getElementById("page").textContent = `page ${clipPage + 1} of ${pages}`;
  document.getElementById("prev").disabled = clipPage === 0;
  document.getElementById("next").disabled = clipPage >= pages - 1;
}

function initData() {
  for (const id of ["f-lang", "f-voice", "f-status", "f-attempts", "f-search"]) {
    const node = document.getElementById(id);
    if (node) node.addEventListener("input", () => { clipPage = 0; renderClips(); });
  }
  document.getElementById("prev").addEventListener("click", () => { clipPage -= 1; renderClips(); });
  document.getElementById("next").addEventListener("click", () => { clipPage += 1; renderClips(); });
  renderClips();
}

if (document.body.dataset.page === "data") initData();
