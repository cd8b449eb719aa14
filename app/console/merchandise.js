// kgsearch merchandiser console: plain JS over /search and /explain (no build step).
// A hit's explanation shows its worded contributions as bars (green adds, red takes
// away), its graph paths and each stage; "why not" explains any product; two ticked
// hits are compared line by line.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { key: sessionStorage.getItem("kgsearch-api-key") || "", query: "", ticked: [] };

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  for (const child of children) node.append(child);
  return node;
}

async function api(path, method, body) {
  const init = { method: method || "GET", headers: { "X-API-Key": state.key } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const err = (data && data.error) || { code: String(response.status), message: response.statusText };
    throw new Error(`${err.code}: ${err.message}`);
  }
  return data;
}

const signed = (x) => (x >= 0 ? "+" : "\u2212") + Math.abs(x).toFixed(2);
const params = (extra) => new URLSearchParams({ q: state.query, ...extra }).toString();

function fail(err) {
  $("#verdict").textContent = err.message;
  $("#verdict").className = "error";
}

// -- the shopper's page ------------------------------------------------------------------

async function search() {
  state.query = $("#q").value.trim();
  state.ticked = [];
  $("#compare").disabled = true;
  try {
    const data = await api(`/search?${params({ k: "10" })}`);
    const list = $("#hits");
    list.replaceChildren();
    for (const hit of data.hits) {
      const tick = el("input", { type: "checkbox", title: "compare" });
      tick.addEventListener("click", (event) => { event.stopPropagation(); toggle(hit.product_id, tick); });
      const li = el("li", {}, tick, el("strong", { textContent: hit.name }),
        el("small", { textContent: `${hit.product_id} · ${hit.brand || "no brand"} · score ${hit.score.toFixed(4)}` }));
      li.dataset.id = hit.product_id;
      li.addEventListener("click", () => explain(hit.product_id));
      list.append(li);
    }
    $("#summary").textContent = `${data.total} candidates, ranked by ${data.ranker}`;
  } catch (err) {
    $("#summary").textContent = err.message;
  }
}

function toggle(id, box) {
  state.ticked = box.checked ? [...state.ticked, id].slice(-2) : state.ticked.filter((x) => x !== id);
  for (const input of document.querySelectorAll("#hits input")) {
    input.checked = state.ticked.includes(input.closest("li").dataset.id);
  }
  $("#compare").disabled = state.ticked.length !== 2;
}

// -- one product's explanation -----------------------------------------------------------

function bars(lines) {
  const biggest = Math.max(...lines.map((l) => Math.abs(l.amount)), 1e-9);
  return lines.map((line) => {
    const fill = el("div", { className: "fill" });
    fill.style.width = `${(50 * Math.abs(line.amount)) / biggest}%`;
    const row = el("div", { className: `bar ${line.amount >= 0 ? "up" : "down"}` },
      el("span", { className: "text", textContent: line.text }),
      el("div", { className: "track" }, fill),
      el("span", { className: "amount", textContent: signed(line.amount) }));
    row.dataset.topic = line.topic;
    return row;
  });
}

function stages(x) {
  const kw = x.keyword, dn = x.dense, gr = x.graph;
  const items = [
    `keyword: ${kw.recalled ? "recalled" : "not recalled"}, rank ${kw.rank ?? "none"}, BM25 ${kw.score.toFixed(2)}`,
    `dense: ${dn.recalled ? "recalled" : "not recalled"}, rank ${dn.rank ?? "none"}, cosine ${dn.cosine.toFixed(3)}`,
    `graph: ${gr.recalled ? "found through" : "not expanded;"} ${gr.through.join(", ") || "no linked entity"}`,
  ];
  if (x.filters) items.push(`filters: ${x.filters.passed ? "passed" : "failed " + x.filters.failed.join(", ")}`);
  if (x.score !== null) items.push(`ranker ${x.ranker}: score ${x.score.toFixed(4)}, rank ${x.rank} of ${x.candidates}`);
  return items.map((text) => el("li", { textContent: text }));
}

function show(x) {
  $("#title").textContent = `${x.product_id} ${x.name}`;
  $("#title").className = "";
  $("#verdict").textContent = x.verdict;
  $("#verdict").className = x.stage;
  $("#tie").textContent = x.tie || "";
  $("#bars").replaceChildren(...bars(x.lines));
  $("#gap").replaceChildren(...(x.gap.length ? [diffTable(x.gap, x.product_id, x.last_shown.product_id)] : []));
  $("#paths").replaceChildren(...x.paths.map((p) => el("li", {}, el("code", { textContent: p.text }))));
  $("#stages").replaceChildren(...stages(x));
  for (const li of document.querySelectorAll("#hits li")) li.classList.toggle("open", li.dataset.id === x.product_id);
}

async function explain(id) {
  try {
    show(await api(`/explain?${params({ product_id: id, k: "10" })}`));
  } catch (err) {
    fail(err);
  }
}

// -- two products side by side -----------------------------------------------------------

function diffTable(differences, a, b) {
  const head = el("tr", {}, el("th", { textContent: "" }), el("th", { textContent: a }),
    el("th", { textContent: b }), el("th", { textContent: "gap" }));
  const rows = differences.map((d) => {
    const row = el("tr", {},
      el("td", { textContent: d.topic }),
      el("td", { textContent: `${d.this} (${signed(d.this_amount)})` }),
      el("td", { textContent: `${d.other} (${signed(d.other_amount)})` }),
      el("td", { className: "num", textContent: signed(d.gap) }));
    row.dataset.topic = d.topic;
    return row;
  });
  return el("table", { className: "diff" }, head, ...rows);
}

async function compare() {
  const [a, b] = state.ticked;
  try {
    const c = await api(`/explain/compare?${params({ a, b })}`);
    $("#title").textContent = `${a} vs ${b}`;
    $("#verdict").textContent = c.verdict;
    $("#verdict").className = "compare";
    $("#tie").textContent = "";
    $("#bars").replaceChildren();
    $("#gap").replaceChildren(diffTable(c.differences, a, b));
    $("#paths").replaceChildren();
    $("#stages").replaceChildren();
  } catch (err) {
    fail(err);
  }
}

// -- a merchandising rule for the query: draft, preview, publish, see the page change ----

function ruleMessage(text, kind) {
  $("#rule-message").textContent = text;
  $("#rule-message").className = kind || "";
}

function ruleSpec() {
  const action = $("#rule-action").value;
  const spec = { action };
  const scope = $("#rule-scope").value;
  if (scope !== "all") spec.scope = { kind: scope, value: state.query };
  if (action === "pin") {
    spec.product = $("#rule-product").value.trim();
    spec.position = Number($("#rule-position").value);
    return spec;
  }
  const when = {};
  if ($("#rule-brand").value.trim()) when.brand = $("#rule-brand").value.trim();
  if ($("#rule-category").value.trim()) when.category = $("#rule-category").value.trim();
  spec.when = when;
  if (action !== "hide") spec.factor = Number($("#rule-factor").value);
  return spec;
}

async function createRule() {
  try {
    state.rule = await api("/merchandising/rules", "POST", ruleSpec());
    ruleMessage(`draft rule #${state.rule.id} created; preview it before publishing`, "ok");
    $("#rule-preview").disabled = false;
    $("#rule-publish").disabled = false;
  } catch (err) {
    ruleMessage(err.message, "error");
  }
}

function previewText(p) {
  const ndcg = (x) => (x === null || x === undefined ? "n/a" : x.toFixed(4));
  return `NDCG@10 on ${p.judged_queries} judged queries ${ndcg(p.ndcg_at_10_before)} → ` +
    `${ndcg(p.ndcg_at_10_after)} (${signed(p.ndcg_at_10_delta)}); top 10 changes for ` +
    `${p.changed_judged.length} judged and ${p.changed_logged.length} logged queries`;
}

async function previewRule() {
  try {
    const p = await api(`/merchandising/rules/${state.rule.id}/preview`, "POST");
    ruleMessage(previewText(p), "preview");
  } catch (err) {
    ruleMessage(err.message, "error");
  }
}

async function publishRule() {
  try {
    await api(`/merchandising/rules/${state.rule.id}/publish`, "POST", { force: $("#rule-force").checked });
    ruleMessage(`rule #${state.rule.id} published`, "ok");
    $("#rule-publish").disabled = true;
    await search();
  } catch (err) {
    ruleMessage(err.message, "error");
  }
}

// -- wiring ------------------------------------------------------------------------------

$("#api-key").value = state.key;
$("#key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.key = $("#api-key").value.trim();
  sessionStorage.setItem("kgsearch-api-key", state.key);
});
$("#query-form").addEventListener("submit", (event) => { event.preventDefault(); search(); });
$("#why-not-form").addEventListener("submit", (event) => {
  event.preventDefault();
  explain($("#why-not-id").value.trim());
});
$("#compare").addEventListener("click", compare);
$("#rule-form").addEventListener("submit", (event) => { event.preventDefault(); createRule(); });
$("#rule-preview").addEventListener("click", previewRule);
$("#rule-publish").addEventListener("click", publishRule);
document.body.dataset.ready = "1";
