// kgsearch catalog console: plain JS over the /catalog API (no build step).
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { key: sessionStorage.getItem("kgsearch-api-key") || "", product: null, offset: 0 };

function setMessage(text, kind) {
  const el = $("#message");
  el.textContent = text;
  el.className = kind || "";
}

async function api(method, path, body) {
  const init = { method, headers: { "X-API-Key": state.key } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const err = (data && data.error) || { code: String(response.status), message: response.statusText };
    const failure = new Error(`${err.code}: ${err.message}`);
    failure.status = response.status;
    failure.code = err.code;
    throw failure;
  }
  return data;
}

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  for (const child of children) node.append(child);
  return node;
}

// -- products ---------------------------------------------------------------------------

async function find(append) {
  if (!append) state.offset = 0;
  const q = encodeURIComponent($("#q").value.trim());
  try {
    const data = await api("GET", `/catalog/products?q=${q}&limit=25&offset=${state.offset}`);
    const list = $("#results");
    if (!append) list.replaceChildren();
    for (const item of data.items) {
      const li = el("li", {},
        el("strong", { textContent: item.name }),
        el("small", { textContent: `${item.product_id} · ${item.product_class} · v${item.version}` }));
      li.dataset.id = item.product_id;
      li.addEventListener("click", () => openProduct(item.product_id));
      list.append(li);
    }
    state.offset += data.items.length;
    $("#count").textContent = `${data.total} products`;
    $("#more").hidden = state.offset >= data.total;
  } catch (err) {
    $("#count").textContent = err.message;
  }
}

function attrRow(key, value) {
  const remove = el("button", { type: "button", textContent: "×", title: "remove" });
  const row = el("tr", {},
    el("td", {}, el("input", { className: "attr-key", value: key, size: 14 })),
    el("td", {}, el("input", { className: "attr-value", value: value, size: 22 })),
    el("td", {}, remove));
  remove.addEventListener("click", () => row.remove());
  return row;
}

function show(product) {
  state.product = product;
  $("#product").hidden = false;
  $("#product-id").textContent = product.product_id;
  $("#product-version").textContent = product.version;
  $("#f-name").value = product.name || "";
  $("#f-price").value = product.price === null || product.price === undefined ? "" : product.price;
  $("#f-class").value = product.product_class || "";
  $("#f-brand").value = product.brand || "";
  $("#f-category").value = product.category || "";
  $("#f-description").value = product.description || "";
  const body = $("#attrs tbody");
  body.replaceChildren(...Object.entries(product.attributes).map(([k, v]) => attrRow(k, v)));
  $("#relations").replaceChildren(...product.relations.map((r) =>
    el("li", { textContent: `${r.type} → ${r.target}` })));
  for (const li of document.querySelectorAll("#results li")) {
    const open = li.dataset.id === product.product_id;
    li.classList.toggle("open", open);
    if (open) {
      li.querySelector("strong").textContent = product.name;
      li.querySelector("small").textContent =
        `${product.product_id} · ${product.product_class} · v${product.version}`;
    }
  }
}

async function openProduct(id) {
  setMessage("");
  try {
    show(await api("GET", `/catalog/products/${encodeURIComponent(id)}`));
    await loadAudit();
  } catch (err) {
    setMessage(err.message, "error");
  }
}

function changes() {
  const p = state.product;
  const out = {};
  const text = (sel) => $(sel).value.trim();
  if (text("#f-name") !== (p.name || "")) out.name = text("#f-name");
  const price = text("#f-price") === "" ? null : Number(text("#f-price"));
  if (price !== p.price) out.price = price;
  if (text("#f-class") !== (p.product_class || "")) out.product_class = text("#f-class");
  if (text("#f-description") !== (p.description || "")) out.description = text("#f-description");
  if (text("#f-brand") !== (p.brand || "")) out.brand = text("#f-brand") || null;
  if (text("#f-category") !== (p.category || "")) out.category = text("#f-category");
  const attrs = {};
  const seen = new Set();
  for (const row of document.querySelectorAll("#attrs tbody tr")) {
    const key = row.querySelector(".attr-key").value.trim();
    const value = row.querySelector(".attr-value").value.trim();
    if (!key) continue;
    seen.add(key);
    if (p.attributes[key] !== value) attrs[key] = value || null;
  }
  for (const key of Object.keys(p.attributes)) if (!seen.has(key)) attrs[key] = null;
  if (Object.keys(attrs).length) out.attributes = attrs;
  return out;
}

async function save(event) {
  event.preventDefault();
  const edit = changes();
  if (!Object.keys(edit).length) {
    setMessage("Nothing changed.", "");
    return;
  }
  const allow = $("#allow-new-keys").checked ? "?allow_new_keys=true" : "";
  try {
    const data = await api("PATCH", `/catalog/products/${encodeURIComponent(state.product.product_id)}${allow}`,
      { expected_version: state.product.version, ...edit });
    show(data.product);
    const searchable = data.searchable ? "searchable now" : "not yet searchable";
    setMessage(`Saved: version ${data.version} (${searchable}).`, "ok");
    await loadAudit();
  } catch (err) {
    const hint = err.status === 409 ? " Reload to see the current version, then re-apply." : "";
    setMessage(err.message + hint, "error");
  }
}

// -- audit and undo ---------------------------------------------------------------------

function describe(item) {
  if (item.op === "update") {
    const parts = Object.entries(item.diff).map(([k, d]) => `${k}: ${JSON.stringify(d.before)} → ${JSON.stringify(d.after)}`);
    return parts.join("; ") || "version bump";
  }
  const body = item.after || item.before || {};
  return body.type ? `${body.type} ${body.target}` : "";
}

async function loadAudit() {
  const id = state.product.entity_id;
  try {
    const data = await api("GET", `/catalog/audit?entity_id=${encodeURIComponent(id)}&limit=30`);
    $("#audit").replaceChildren(...data.items.map((item) => {
      const undo = el("button", { type: "button", textContent: "undo", className: "undo" });
      undo.addEventListener("click", () => undoChange(item.seq));
      const li = el("li", {},
        el("strong", { textContent: `#${item.seq} ${item.op}` }), ` by ${item.actor} `,
        el("code", { textContent: item.at }), " ", describe(item), undo);
      li.dataset.seq = item.seq;
      li.dataset.op = item.op;
      return li;
    }));
  } catch (err) {
    $("#audit").replaceChildren(el("li", { textContent: err.message }));
  }
}

async function undoChange(seq) {
  try {
    const data = await api("POST", `/catalog/undo/${seq}`);
    setMessage(`Undid #${seq}: now version ${data.version}.`, "ok");
    await openProduct(state.product.product_id);
  } catch (err) {
    setMessage(err.message, "error");
  }
}

// -- wiring -----------------------------------------------------------------------------

function useKey(event) {
  if (event) event.preventDefault();
  state.key = $("#api-key").value.trim();
  sessionStorage.setItem("kgsearch-api-key", state.key);
  $("#who").textContent = state.key ? "key set" : "no key";
  find(false);
}

$("#key-form").addEventListener("submit", useKey);
$("#search-form").addEventListener("submit", (e) => { e.preventDefault(); find(false); });
$("#more").addEventListener("click", () => find(true));
$("#edit-form").addEventListener("submit", save);
$("#reload").addEventListener("click", () => openProduct(state.product.product_id));
$("#add-attr").addEventListener("click", () => $("#attrs tbody").append(attrRow("", "")));
$("#api-key").value = state.key;
if (state.key) useKey();
document.body.dataset.ready = "true";
