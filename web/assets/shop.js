// The demo shop: a buyer's tour of the public storefront API (search, item, cart,
// checkout, orders), so that a purchase can be watched as a saga in /console.
// Routes (the URL hash): #/?term=&category=&brand=, #/item/ID, #/cart, #/orders,
// #/order/ID, #/login, #/register.

import { callApi, errorBox, esc, status, toast } from "./common.js";

const TOKEN_KEY = "keel.shop-token";
const FINAL = new Set(["delivered", "cancelled", "refunded", "returned", "payment_failed", "expired", "rejected"]);
const CARDS = [
  ["pm_card_visa", "Visa 4242 (succeeds)"],
  ["pm_card_chargeDeclined", "Card declined"],
  ["pm_card_threeDSecure", "3-D Secure (completes after a moment)"],
  ["pm_card_threeDSecureAbandoned", "3-D Secure, never completed"],
];
const main = document.getElementById("main");
let pollTimer = null;

async function api(path, opts = {}) {
  const token = localStorage.getItem(TOKEN_KEY);
  try {
    return await callApi(path, { ...opts, token });
  } catch (e) {
    if (e.status === 401 && token) localStorage.removeItem(TOKEN_KEY);  // expired: log in again
    throw e;
  }
}

const money = (minor, cur) => `${(Number(minor) / 100).toFixed(2)} ${esc(cur || "")}`;
const signedIn = () => !!localStorage.getItem(TOKEN_KEY);

function needLogin() {
  location.hash = "#/login?next=" + encodeURIComponent(location.hash);
}

// ---- search ------------------------------------------------------------------------

const SORTS = [["relevance", "Relevance"], ["price_asc", "Price: low to high"], ["price_desc", "Price: high to low"],
  ["rating", "Customer rating"], ["newest", "Newest"], ["popular", "Best selling"]];
const stars = (i) => (i.rating == null ? "" : `<span class="muted">★ ${Number(i.rating).toFixed(1)} (${i.review_count})</span>`);

async function renderSearch(params) {
  const q = new URLSearchParams();
  for (const k of ["term", "category", "brand", "min_price", "max_price", "min_rating", "sort"]) {
    if (params.get(k)) q.set(k, params.get(k));
  }
  document.getElementById("term").value = params.get("term") || "";
  main.innerHTML = `<h1>${params.get("term") ? "Results for “" + esc(params.get("term")) + "”" : "All items"}</h1>
    <p id="corrected" class="muted" hidden></p>
    <form id="sort" class="row"><label>Sort by <select name="sort">${SORTS.map(([v, label]) =>
      `<option value="${v}" ${(params.get("sort") || "relevance") === v ? "selected" : ""}>${label}</option>`).join("")}</select></label></form>
    <div class="grid-search"><aside id="facets"></aside><section><div id="results" class="cards"></div>
    <div class="row"><button id="more" type="button" hidden>More results</button></div></section></div>`;
  document.querySelector("#sort select").addEventListener("change", (ev) => {
    const next = new URLSearchParams(params);
    next.set("sort", ev.target.value);
    location.hash = "#/?" + next;
  });
  let cursor = "";
  const load = async () => {
    try {
      const r = await api("/items?size=12&" + q + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
      if (!cursor) {
        drawFacets(r.facets || {}, params);
        const fixed = Object.entries(r.corrected || {});
        const note = document.getElementById("corrected");
        note.hidden = !fixed.length;
        note.textContent = fixed.length ? "Showing results for " + fixed.map(([typed, used]) => `“${used}” (you typed “${typed}”)`).join(", ") : "";
      }
      document.getElementById("results").insertAdjacentHTML("beforeend", r.items.map((i) => `
        <article class="card"><h3><a href="#/item/${encodeURIComponent(i.id)}">${esc(i.name)}</a></h3>
        <p class="muted">${esc(i.brand)} · ${esc(i.category)}</p><p class="price">${money(i.price, i.currency)}</p>
        <p>${stars(i)}</p></article>`).join(""));
      if (!cursor && !r.items.length) document.getElementById("results").innerHTML = `<p class="muted">Nothing matches.</p>`;
      cursor = r.next_cursor || "";
      document.getElementById("more").hidden = !cursor;
    } catch (e) {
      document.getElementById("results").innerHTML = errorBox(e);
    }
  };
  document.getElementById("more").addEventListener("click", load);
  await load();
}

// Category and brand toggle a filter; a price bucket sets min_price and max_price; a
// rating sets min_rating.
function drawFacets(facets, params) {
  const toggle = (set) => {
    const q = new URLSearchParams(params);
    const on = Object.entries(set).every(([k, v]) => q.get(k) === String(v ?? ""));
    for (const [k, v] of Object.entries(set)) if (on || v == null) q.delete(k); else q.set(k, String(v));
    return { href: "#/?" + q, on };
  };
  const item = (label, count, set) => {
    const t = toggle(set);
    return `<li><a href="${t.href}" aria-current="${t.on}">${t.on ? "☑" : "☐"} ${esc(label)}</a> <span class="muted">${count}</span></li>`;
  };
  const list = (title, entries) => (entries.length ? `<h2>${title}</h2><ul class="plain">${entries.join("")}</ul>` : "");
  const cur = (minor) => (Number(minor) / 100).toFixed(0);
  document.getElementById("facets").innerHTML =
    list("category", (facets.category || []).map((f) => item(f.value, f.count, { category: f.value }))) +
    list("brand", (facets.brand || []).map((f) => item(f.value, f.count, { brand: f.value }))) +
    list("rating", (facets.rating || []).filter((f) => f.count > 0).map((f) => item(`${f.min_rating}★ & up`, f.count, { min_rating: f.min_rating }))) +
    list("price", (facets.price || []).map((f) => item(f.to == null ? `${cur(f.from)} and more` : `${cur(f.from)} to ${cur(f.to)}`, f.count,
      { min_price: f.from, max_price: f.to == null ? null : f.to - 1 }))) + `
    <form id="price" class="row"><label>min <input name="min_price" size="5" inputmode="numeric"
      value="${esc(params.get("min_price"))}"></label><label>max <input name="max_price" size="5" inputmode="numeric"
      value="${esc(params.get("max_price"))}"></label><button type="submit">Apply</button></form>
    <p class="muted">Prices in cents.</p>`;
  document.getElementById("price").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams(params);
    const f = new FormData(ev.target);
    for (const k of ["min_price", "max_price"]) if (f.get(k)) q.set(k, f.get(k)); else q.delete(k);
    location.hash = "#/?" + q;
  });
}

// ---- item --------------------------------------------------------------------------

async function renderItem(id) {
  main.innerHTML = `<p class="muted">Loading…</p>`;
  try {
    const [i, rec, reviews] = await Promise.all([api("/items/" + encodeURIComponent(id)),
      api("/items/" + encodeURIComponent(id) + "/recommendations").catch(() => ({ items: [] })),
      api("/items/" + encodeURIComponent(id) + "/reviews?size=5").catch(() => ({ reviews: [] }))]);
    main.innerHTML = `<p><a href="#/">← Search</a></p><h1>${esc(i.name)}</h1>
      <p class="muted">${esc(i.brand)} · ${esc(i.category)}</p>
      <p class="price">${money(i.price, i.currency)}</p>
      <p>${i.rating == null ? `<span class="muted">No reviews yet</span>` : stars(i)}</p>
      <p>${esc(i.description)}</p>
      <p>${i.available > 0 ? `${i.available} in stock` : `<span class="flag">Out of stock</span>`}</p>
      <form id="add" class="row"><label>Quantity <input name="quantity" type="number" min="1" max="${Math.max(1, i.available)}" value="1"></label>
      <button class="primary" type="submit" ${i.available > 0 ? "" : "disabled"}>Add to cart</button></form>
      <div id="add-out"></div>
      ${rec.items.length ? `<h2>Bought together</h2><ul>${rec.items.map((r) =>
        `<li><a href="#/item/${encodeURIComponent(r.id)}">${esc(r.name)}</a></li>`).join("")}</ul>` : ""}
      ${reviews.reviews.length ? `<h2>Reviews</h2><ul class="plain" id="reviews">${reviews.reviews.map((r) =>
        `<li><strong>${"★".repeat(r.rating)}${"☆".repeat(5 - r.rating)} ${esc(r.title)}</strong>
        <span class="muted">verified purchase</span><p>${esc(r.body)}</p></li>`).join("")}</ul>` : ""}`;
    document.getElementById("add").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!signedIn()) return needLogin();
      try {
        const cart = await api("/cart");
        const line = cart.lines.find((l) => l.item_id === i.id);
        const qty = Number(new FormData(ev.target).get("quantity")) + (line ? line.quantity : 0);
        await api("/cart", { method: "PATCH", body: { itemId: i.id, quantity: qty } });
        toast("Added to the cart");
        updateNav();
      } catch (e) {
        document.getElementById("add-out").innerHTML = errorBox(e);
      }
    });
  } catch (e) {
    main.innerHTML = errorBox(e);
  }
}

// ---- cart and checkout -------------------------------------------------------------

// Why an applied promotion takes nothing off (the cart's promo.why_not).
const WHY_NOT = {
  not_started: "it has not started", ended: "it has ended", exhausted: "it is used up",
  min_subtotal: "the cart is below its minimum", no_eligible_items: "no item in the cart is part of it",
  currency_mismatch: "it is for another currency", promo_not_found: "it no longer exists",
};

// The checkout form as the buyer left it: the cart is totalled for its country and
// region (tax), and a re-render keeps what they typed.
const address = { name: "Ada Lovelace", line1: "1 Loop Street", city: "Localhost", region: "", postal_code: "12345", country: "US" };

async function renderCart() {
  if (!signedIn()) return needLogin();
  main.innerHTML = `<h1>Cart</h1><div id="cart"><p class="muted">Loading…</p></div>`;
  let cart;
  try {
    cart = await api("/cart?" + new URLSearchParams({ country: address.country, region: address.region }));
  } catch (e) {
    document.getElementById("cart").innerHTML = errorBox(e);
    return;
  }
  const el = document.getElementById("cart");
  if (!cart.lines.length) {
    el.innerHTML = `<p class="muted">The cart is empty. <a href="#/">Find something.</a></p>`;
    return;
  }
  el.innerHTML = `<div class="scroll"><table><thead><tr><th>Item</th><th>Price</th><th>Quantity</th><th>Total</th></tr></thead>
    <tbody>${cart.lines.map((l) => `<tr><td><a href="#/item/${encodeURIComponent(l.item_id)}">${esc(l.name)}</a>
      ${l.price_changed ? `<br><span class="flag">⚠ price changed: now ${money(l.current_price, l.currency)}</span>` : ""}</td>
      <td>${money(l.unit_price, l.currency)}</td>
      <td><input type="number" min="0" max="1000" value="${l.quantity}" data-item="${esc(l.item_id)}" aria-label="quantity of ${esc(l.name)}" size="3"></td>
      <td>${money(l.line_total, l.currency)}</td></tr>`).join("")}</tbody></table></div>
    <dl class="kv"><dt>Subtotal</dt><dd>${money(cart.subtotal, cart.currency)}</dd>
      ${cart.discount ? `<dt>Discount (${esc(cart.promo.code)})</dt><dd id="discount">−${money(cart.discount, cart.currency)}</dd>` : ""}
      <dt>Shipping</dt><dd>${money(cart.shipping, cart.currency)}</dd>
      <dt>Tax${cart.destination ? ` (${esc(cart.destination.country)}${cart.destination.region ? " " + esc(cart.destination.region) : ""}, ${cart.tax_rate_bp / 100} %)` : ""}</dt><dd>${money(cart.tax, cart.currency)}</dd><dt>Total</dt><dd class="price" id="total">${money(cart.total, cart.currency)}</dd></dl>
    <form id="promo" class="row"><label>Promotion code <input name="code" maxlength="32" size="12" value="${cart.promo ? esc(cart.promo.code) : ""}"></label>
      <button type="submit">Apply</button>${cart.promo ? `<button type="button" id="promo-remove">Remove</button>` : ""}</form>
    ${cart.promo && !cart.promo.applied ? `<p class="flag">${esc(cart.promo.code)} takes nothing off now: ${esc(WHY_NOT[cart.promo.why_not] || cart.promo.why_not)}.</p>` : ""}
    <div id="promo-out"></div>
    <h2>Checkout</h2>
    <form id="checkout">
      <div class="row"><label>Name <input name="name" required value="${esc(address.name)}" maxlength="200"></label>
      <label>Street <input name="line1" required value="${esc(address.line1)}" maxlength="200"></label>
      <label>City <input name="city" required value="${esc(address.city)}" maxlength="100"></label>
      <label>Region <input name="region" value="${esc(address.region)}" size="6" maxlength="100"></label>
      <label>Postal code <input name="postal_code" required value="${esc(address.postal_code)}" size="8" maxlength="20"></label>
      <label>Country <input name="country" required value="${esc(address.country)}" size="3" minlength="2" maxlength="2"></label></div>
      <div class="row"><label>Card <select name="card">${CARDS.map(([v, t]) => `<option value="${v}">${esc(t)}</option>`).join("")}</select></label>
      <button class="primary" type="submit">Pay ${money(cart.total, cart.currency)}</button></div>
      <div id="checkout-out"></div>
    </form>`;
  for (const input of el.querySelectorAll("input[data-item]")) {
    input.addEventListener("change", async () => {
      try {
        await api("/cart", { method: "PATCH", body: { itemId: input.dataset.item, quantity: Number(input.value) } });
        renderCart();
        updateNav();
      } catch (e) {
        el.insertAdjacentHTML("afterbegin", errorBox(e));
      }
    });
  }
  const form = document.getElementById("checkout");
  for (const input of form.querySelectorAll("input")) {
    input.addEventListener("input", () => { address[input.name] = input.value; });
  }
  // Tax follows the destination: total again for it.
  for (const name of ["country", "region"]) {
    form.elements[name].addEventListener("change", () => {
      if (address.country.length === 2) renderCart();
    });
  }
  document.getElementById("promo").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api("/cart/promo", { method: "POST", body: { code: new FormData(ev.target).get("code") } });
      renderCart();
    } catch (e) {
      document.getElementById("promo-out").innerHTML = errorBox(e);
    }
  });
  document.getElementById("promo-remove")?.addEventListener("click", async () => {
    try {
      await api("/cart/promo", { method: "DELETE" });
      renderCart();
    } catch (e) {
      document.getElementById("promo-out").innerHTML = errorBox(e);
    }
  });
  const key = crypto.randomUUID();  // one per attempt at this cart: a double click pays once
  document.getElementById("checkout").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const button = ev.target.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const r = await api("/checkout", { method: "POST", idempotencyKey: key, body: {
        amount: cart.total,
        paymentInfo: { paymentType: "CARD", paymentMethod: f.get("card") },
        shippingAddress: Object.fromEntries(["name", "line1", "city", "region", "postal_code", "country"]
          .map((k) => [k, f.get(k)]).filter(([, v]) => v !== "")),
      } });
      updateNav();
      location.hash = "#/order/" + encodeURIComponent(r.order_id);
    } catch (e) {
      button.disabled = false;
      document.getElementById("checkout-out").innerHTML = errorBox(e);
    }
  });
}

// ---- orders ------------------------------------------------------------------------

async function renderOrders() {
  if (!signedIn()) return needLogin();
  main.innerHTML = `<h1>Orders</h1><div id="orders"><p class="muted">Loading…</p></div>`;
  try {
    const r = await api("/orders?size=50");
    document.getElementById("orders").innerHTML = r.orders.length === 0 ? `<p class="muted">No order yet.</p>` :
      `<div class="scroll"><table><thead><tr><th>Order</th><th>Status</th><th>Total</th><th class="opt">Placed</th></tr></thead><tbody>
      ${r.orders.map((o) => `<tr><td><a href="#/order/${encodeURIComponent(o.order_id)}">${esc(o.order_id)}</a></td>
      <td>${status(o.status)}</td><td>${money(o.total, o.currency)}</td>
      <td class="opt">${new Date(o.created_at).toLocaleString()}</td></tr>`).join("")}</tbody></table></div>`;
  } catch (e) {
    document.getElementById("orders").innerHTML = errorBox(e);
  }
}

async function renderOrder(id) {
  if (!signedIn()) return needLogin();
  main.innerHTML = `<p><a href="#/orders">← Orders</a></p><div id="order"><p class="muted">Loading…</p></div>`;
  let lastStatus = "";
  const load = async () => {
    let o;
    try {
      o = await api("/orders/" + encodeURIComponent(id));
    } catch (e) {
      document.getElementById("order").innerHTML = errorBox(e);
      return;
    }
    if (lastStatus !== o.status) updateNav();  // the saga empties the cart once it confirms
    lastStatus = o.status;
    drawOrder(o);
    if (FINAL.has(o.status)) clearInterval(pollTimer);
  };
  await load();
  clearInterval(pollTimer);
  pollTimer = setInterval(() => { if (!document.hidden) load(); }, 1500);
}

function drawOrder(o) {
  const canCancel = ["pending_payment", "confirmed", "fulfilling"].includes(o.status);
  const canReturn = o.status === "delivered";
  document.getElementById("order").innerHTML = `<h1>Order ${esc(o.order_id)} ${status(o.status)}</h1>
    ${o.reason ? `<p class="muted">${esc(o.reason)}</p>` : ""}
    ${FINAL.has(o.status) ? "" : `<p class="muted">Updates by itself.</p>`}
    <dl class="kv">${o.discount ? `<dt>Discount (${esc(o.promo_code)})</dt><dd>−${money(o.discount, o.currency)}</dd>` : ""}
      <dt>Total</dt><dd>${money(o.total, o.currency)}</dd>
      <dt>Checkout saga</dt><dd><a href="/console#/workflow/${encodeURIComponent(o.workflow_id)}">${esc(o.workflow_id)}</a> (console)</dd></dl>
    <div class="row">${canCancel ? `<button id="cancel" type="button">Cancel the order</button>` : ""}
      ${canReturn ? `<button id="return" type="button">Return it</button>` : ""}</div><div id="order-out"></div>
    <h2>Status history</h2><ol id="history">${(o.status_history || []).map((h) =>
      `<li>${h.from ? status(h.from) + " → " : ""}${status(h.to)} <span class="muted">${new Date(h.at).toLocaleTimeString()}
      ${h.reason ? "· " + esc(h.reason) : ""}</span></li>`).join("")}</ol>
    <h2>Lines</h2><ul>${(o.lines || []).map((l) => `<li>${l.quantity} × <a href="#/item/${encodeURIComponent(l.item_id)}">${esc(l.item_id)}</a>
      at ${money(l.unit_price, o.currency)}</li>`).join("")}</ul>`;
  for (const act of ["cancel", "return"]) {
    const b = document.getElementById(act);
    if (!b) continue;
    b.addEventListener("click", async () => {
      if (!confirm(act === "cancel" ? "Cancel this order? The payment is refunded." : "Return this order for a refund?")) return;
      try {
        await api(`/orders/${encodeURIComponent(o.order_id)}/${act}`, { method: "POST", idempotencyKey: crypto.randomUUID() });
        toast(act === "cancel" ? "Cancellation asked" : "Return asked");
      } catch (e) {
        document.getElementById("order-out").innerHTML = errorBox(e);
      }
    });
  }
}

// ---- accounts ----------------------------------------------------------------------

function renderAuth(kind, params) {
  const register = kind === "register";
  main.innerHTML = `<h1>${register ? "Create an account" : "Log in"}</h1>
    <form id="auth" class="row">
      <label>Email <input name="email" type="email" required autocomplete="email" maxlength="254"></label>
      <label>Password <input name="password" type="password" required minlength="8" maxlength="256"
        autocomplete="${register ? "new-password" : "current-password"}"></label>
      <button class="primary" type="submit">${register ? "Create account" : "Log in"}</button>
    </form><div id="auth-out"></div>
    <p>${register ? `Have an account? <a href="#/login">Log in</a>.` : `New here? <a href="#/register">Create an account</a>.`}</p>`;
  document.getElementById("auth").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = Object.fromEntries(new FormData(ev.target).entries());
    try {
      if (register) await api("/auth/register", { method: "POST", body: { ...f, role: "buyer" } });
      const r = await api("/auth/login", { method: "POST", body: f });
      localStorage.setItem(TOKEN_KEY, r.token);
      updateNav();
      location.hash = params.get("next") || "#/";
    } catch (e) {
      document.getElementById("auth-out").innerHTML = errorBox(e);
    }
  });
}

// ---- routing -----------------------------------------------------------------------

async function updateNav() {
  const inside = signedIn();
  document.getElementById("login-link").hidden = inside;
  document.getElementById("logout").hidden = !inside;
  document.getElementById("orders-link").hidden = !inside;
  const link = document.getElementById("cart-link");
  link.textContent = "Cart";
  if (!inside) return;
  try {
    const cart = await api("/cart");
    const n = cart.lines.reduce((a, l) => a + l.quantity, 0);
    if (n) link.textContent = `Cart (${n})`;
  } catch { /* the page shows its own errors */ }
}

function route() {
  clearInterval(pollTimer);
  const h = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = h.split("?");
  const [page, ...rest] = path.split("/").map(decodeURIComponent);
  const params = new URLSearchParams(query);
  const arg = rest.join("/");
  const pages = {
    "": () => renderSearch(params),
    item: () => renderItem(arg),
    cart: renderCart,
    orders: renderOrders,
    order: () => renderOrder(arg),
    login: () => renderAuth("login", params),
    register: () => renderAuth("register", params),
  };
  (pages[page] || pages[""])();
}

document.getElementById("search").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const term = document.getElementById("term").value.trim();
  location.hash = term ? "#/?term=" + encodeURIComponent(term) : "#/";
});
document.getElementById("logout").addEventListener("click", () => {
  localStorage.removeItem(TOKEN_KEY);
  updateNav();
  location.hash = "#/";
});
window.addEventListener("hashchange", route);
updateNav();
route();
