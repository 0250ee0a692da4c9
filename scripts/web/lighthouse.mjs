// Lighthouse on the web app's key pages (home, an event, a show's seat map, a checkout with a
// live hold), mobile and desktop, through Debian's Chromium. Signs a demo visitor in (tokens in
// localStorage, as the app keeps them) and holds a seat first, so the checkout is a real one.
//
//   node scripts/web/lighthouse.mjs BASE_URL MIN_SCORE PERF_MIN OUT_DIR
//
// Prints a table of the four category scores per page and form factor; exits 1 when
// accessibility, best practices or SEO is below MIN_SCORE, or performance below PERF_MIN
// (performance is timed, so on a shared machine it is noisy: CI gives it a lower floor).
// Reports (HTML) go to OUT_DIR.
import { writeFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const tools = new URL("../../target/webtools/node_modules/", import.meta.url).pathname;
const lighthouse = (await import(`${tools}lighthouse/core/index.js`)).default;
const desktop = (await import(`${tools}lighthouse/core/config/desktop-config.js`)).default;
const puppeteer = require(`${tools}puppeteer-core`);

const [base, minText = "95", perfText = minText, out = "target/lighthouse"] = process.argv.slice(2);
const min = Number(minText);
const perfMin = Number(perfText);
mkdirSync(out, { recursive: true });

const call = async (path, body, token) => {
  const res = await fetch(base + path, {
    method: body ? "POST" : "GET",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
};

// A visitor with a hold on the first show's first free seat.
const email = `lighthouse${Date.now()}@example.com`;
await call("/api/v1/auth/register", { email, password: "lighthouse pass", name: "Lighthouse" });
const tokens = await call("/api/v1/auth/login", { email, password: "lighthouse pass" });
const me = await call("/api/v1/me", null, tokens.access_token);
const shows = await call("/api/v1/shows?per_page=50");
const show = shows.find((s) => s.venue_name.startsWith("PVR")) || shows[0];
const seats = await call(`/api/v1/shows/${show.show_id}/seats`);
const free = seats.seats.find((s) => s.status === "available");
await call("/api/v1/book/reserve", { show_id: show.show_id, seat_ids: [free.seat_id] }, tokens.access_token);

const port = 9300 + Math.floor(Math.random() * 500);
const browser = await puppeteer.launch({
  executablePath: process.env.CHROME_PATH || "/usr/bin/chromium",
  args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", `--remote-debugging-port=${port}`],
});
const page = await browser.newPage();
await page.goto(base);
await page.evaluate((t, user) => {
  localStorage.setItem("bo.access", t.access_token);
  localStorage.setItem("bo.refresh", t.refresh_token);
  localStorage.setItem("bo.expires", String(Date.now() + t.expires_in * 1000));
  localStorage.setItem("bo.user", JSON.stringify(user));
}, tokens, me);

const pages = {
  home: "/#/",
  event: `/#/event/${show.event_id}`,
  show: `/#/show/${show.show_id}`,
  checkout: `/#/checkout/${show.show_id}`,
};
const rows = [];
let failed = false;
for (const [name, hash] of Object.entries(pages)) {
  for (const form of ["mobile", "desktop"]) {
    const config = form === "desktop" ? desktop : undefined;
    const result = await lighthouse(base + hash, {
      port, output: "html", logLevel: "error", disableStorageReset: true,
      onlyCategories: ["performance", "accessibility", "best-practices", "seo"],
    }, config);
    writeFileSync(`${out}/${name}-${form}.html`, result.report);
    const c = result.lhr.categories;
    const score = (k) => Math.round(c[k].score * 100);
    const row = [name, form, score("performance"), score("accessibility"), score("best-practices"), score("seo")];
    rows.push(row);
    if (row[2] < perfMin || row.slice(3).some((s) => s < min)) {
      failed = true;
      for (const cat of Object.values(c)) {
        for (const ref of cat.auditRefs) {
          const a = result.lhr.audits[ref.id];
          if (ref.weight > 0 && a.score !== null && a.score < 1) {
            console.log(`  ${name}/${form} ${cat.id}: ${a.id} (${a.score}) ${a.title}`);
          }
        }
      }
    }
  }
}
await browser.close();
console.log("page      form     perf  a11y  best  seo");
for (const r of rows) {
  console.log(`${r[0].padEnd(9)} ${r[1].padEnd(8)} ${r.slice(2).map((s) => String(s).padStart(4)).join("  ")}`);
}
if (failed) {
  console.log(`some score is below ${min} (performance: ${perfMin})`);
  process.exit(1);
}
