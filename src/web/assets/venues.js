// Venue owners: their venues, each one's seat map, and onboarding a venue from a layout
// written as text, previewed as buyers will see it before it is saved.

import { api, human, session } from "./api.js";
import { html, render } from "./template.js";
import { seatColour } from "./seatmap.js";
import { $, flash, main, paint, toast } from "./ui.js";

// ---- the layout as text ----------------------------------------------------------------
// One section per line: "Name, priority: ROW COUNT [skip N…] [acc N…]; …",
// e.g. "Gold, 0: A 10 acc 1; B 12 skip 7". The priority may be left out (the line's order).

const SECTION_HINT = "write a section as Name, priority: A 10; B 12";
const ROW_HINT = "write a row as its label and seat count, such as B 12, B 12 skip 7 or B 12 acc 1 2";

class LayoutTextError extends Error {}

const whole = (t) => (/^\d+$/.test(t) ? Number(t) : NaN);

function parseRow(text, where) {
  const parts = text.split(/\s+/);
  const [label, count, ...rest] = parts;
  const fail = (why) => {
    throw new LayoutTextError(`${where}, row “${text}”: ${why}.`);
  };
  if (!/^[A-Za-z0-9]{1,6}$/.test(label || "")) fail(`${ROW_HINT} (a label is 1 to 6 letters or digits)`);
  if (Number.isNaN(whole(count ?? ""))) fail(ROW_HINT);
  const row = { label, count: whole(count) };
  let list = null;
  for (const word of rest) {
    if (word === "skip" || word === "acc") {
      list = word === "skip" ? "skip" : "accessible";
      if (row[list]) fail(`say “${word}” once, then its seat numbers`);
      row[list] = [];
    } else if (list && !Number.isNaN(whole(word))) {
      row[list].push(whole(word));
    } else {
      fail(ROW_HINT);
    }
  }
  if ((row.skip && !row.skip.length) || (row.accessible && !row.accessible.length)) {
    fail("give seat numbers after “skip” or “acc”");
  }
  return row;
}

// The sections of `text`, each with the line it came from; throws a LayoutTextError (with
// `line`) on a line that does not parse.
export function parseLayout(text) {
  const sections = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const n = i + 1;
    const m = /^([^,:]+?)\s*(?:,\s*([^:]*?))?\s*:\s*(.*)$/.exec(line);
    const fail = (why) => {
      const e = new LayoutTextError(`Line ${n}: ${why}.`);
      e.line = n;
      throw e;
    };
    if (!m) fail(SECTION_HINT);
    const [, name, priorityText, rowsText] = m;
    const priority = priorityText === undefined || priorityText === "" ? sections.length : whole(priorityText);
    if (Number.isNaN(priority)) fail(`the priority of “${name}” must be a whole number (0 is the best); ${SECTION_HINT}`);
    const list = rowsText.split(";").map((r) => r.trim()).filter(Boolean);
    if (!list.length) fail(`section “${name}” has no rows; ${SECTION_HINT}`);
    try {
      const rows = list.map((r) => parseRow(r, `Line ${n}, section “${name}”`));
      sections.push({ name, priority, rows, line: n });
    } catch (e) {
      e.line = n;
      throw e;
    }
  });
  if (!sections.length) {
    const e = new LayoutTextError(`The layout is empty: ${SECTION_HINT}, one section per line.`);
    e.line = 1;
    throw e;
  }
  return sections;
}

// The request body's sections (without the line numbers).
const specs = (sections) => sections.map(({ line, ...s }) => s);

// ---- the API's layout errors in words --------------------------------------------------
const FIELD_WORDS = {
  name: "Name",
  city: "City",
  address: "Address",
  timezone: "Time zone",
};

// What went wrong in a field of a row or a section, from the API's message.
function rowProblem(part, message) {
  if (part === "count") return "a row has between 1 and 1,000 seats";
  if (part === "start") return "seat numbers may start at 10,000 at most";
  if (part.startsWith("skip")) {
    const n = /number (\d+)/.exec(message)?.[1];
    return `skip ${n ?? ""}: each skipped seat number is given once and is a seat of the row`;
  }
  if (part.startsWith("accessible")) {
    const n = /seat (\d+)/.exec(message)?.[1];
    return `there is no seat ${n ?? ""} in this row to make wheelchair accessible`;
  }
  if (part === "label") {
    const twice = /seat label (\S+) would appear twice/.exec(message);
    if (twice) return `seat ${twice[1]} would appear twice in the venue: give each row its own label`;
    return "a row label is 1 to 6 letters or digits";
  }
  return message;
}

function sectionProblem(part, message) {
  if (part === "name") {
    return /appears twice/.test(message)
      ? "this name is used twice: give each section its own name"
      : "a section name has 1 to 60 characters";
  }
  if (part === "priority") return "the priority is a whole number from 0 (best) to 1000";
  if (part === "colour") return "a colour looks like #1a2b3c";
  if (part === "rows") return message.startsWith("at most") ? `${message}` : "a section needs at least one row";
  return message;
}

// `{ text, line }` for an API error about the layout (its `details.field` is a path such as
// `sections[0].rows[1].count`), read against the sections the visitor typed; null otherwise.
export function layoutProblem(err, sections) {
  const field = err?.body?.details?.field;
  const message = err?.body?.message || "";
  if (!field || !field.startsWith("sections")) return null;
  if (field === "sections") {
    return { text: `The layout: ${message}.`, line: null };
  }
  const m = /^sections\[(\d+)\](?:\.rows\[(\d+)\])?(?:\.(.+))?$/.exec(field);
  const section = m && sections[Number(m[1])];
  if (!section) return { text: `The layout: ${message}.`, line: null };
  const row = m[2] !== undefined ? section.rows[Number(m[2])] : null;
  const part = m[3] || "";
  const text = row
    ? `Section “${section.name}”, row ${row.label} (line ${section.line}): ${rowProblem(part, message)}.`
    : `Section “${section.name}” (line ${section.line}): ${sectionProblem(part, message)}.`;
  return { text, line: section.line };
}

function formProblem(err) {
  const field = err?.body?.details?.field;
  if (field === "timezone") return "Time zone: use a name such as Asia/Kolkata or Europe/London.";
  if (FIELD_WORDS[field]) {
    return `${FIELD_WORDS[field]}: ${err.body.message.replace(/^\w+ /, "")}.`;
  }
  return human(err);
}

// ---- drawing ---------------------------------------------------------------------------
const U = 22; // px per seat position, as on the buyers' map
const BY_ROWS = 4000; // above this many seats, each row is drawn as one bar

// The map of `layout` ({ seat_count, sections, seats }) as buyers see it: the stage at the top
// edge, row A nearest it, seats in their section's colour, and a key of the sections.
export function layoutMap(layout) {
  const { sections, seats } = layout;
  const colour = Object.fromEntries(sections.map((s) => [s.name, seatColour(s.colour)]));
  let minX = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  const rows = new Map();
  for (const s of seats) {
    minX = Math.min(minX, s.x);
    maxX = Math.max(maxX, s.x);
    maxY = Math.max(maxY, s.y);
    const key = `${s.section}|${s.y}|${s.row}`;
    const r = rows.get(key);
    if (!r) rows.set(key, { section: s.section, row: s.row, y: s.y, xs: [s.x] });
    else r.xs.push(s.x);
  }
  const left = (minX - 2) * U;
  const top = -3 * U;
  const width = (maxX - minX + 4) * U;
  const height = (maxY + 4) * U;
  const mid = left + width / 2;
  const stage = html`<g aria-hidden="true"><line x1="${minX * U + 10}" y1="${-2 * U + 6}"
    x2="${(maxX + 1) * U - 10}" y2="${-2 * U + 6}" stroke="#3a3c66" stroke-width="${U}"
    stroke-linecap="round"></line><text x="${mid}" y="${-2 * U + 10}" class="stage-label"
    fill="#f4f4f8" text-anchor="middle">STAGE / SCREEN</text></g>`;
  const labels = [...rows.values()].map((r) => html`<text x="${Math.min(...r.xs) * U - 6}"
    y="${r.y * U + 14}" class="rowl" text-anchor="end">${r.row}</text>`);
  const byRows = seats.length > BY_ROWS;
  const seat = (s) => html`<rect x="${s.x * U + 1}" y="${s.y * U + 1}" width="18" height="18"
    rx="4" fill="${colour[s.section]}"><title>${s.seat_id}, ${s.section}${
    s.accessible ? ", wheelchair space" : ""}</title></rect>${s.accessible &&
    html`<text x="${s.x * U + 10}" y="${s.y * U + 14}" class="acc">♿</text>`}`;
  // A row as bars, one per run of neighbouring seats (an aisle splits it).
  const bars = (r) => {
    const xs = [...r.xs].sort((a, b) => a - b);
    const out = [];
    let start = xs[0];
    for (let i = 1; i <= xs.length; i += 1) {
      if (i < xs.length && xs[i] === xs[i - 1] + 1) continue;
      out.push(html`<rect x="${start * U + 1}" y="${r.y * U + 1}" width="${(xs[i - 1] - start + 1) * U - 4}"
        height="18" rx="4" fill="${colour[r.section]}"><title>Row ${r.row}, ${r.section}</title></rect>`);
      start = xs[i];
    }
    return out;
  };
  const drawn = byRows ? [...rows.values()].map(bars) : seats.map(seat);
  const key = sections.map((s) => html`<li><span class="swatch" data-colour="${colour[s.name]}"></span>
    ${s.name}${s.seat_count !== undefined && html` <span class="muted">· ${s.seat_count.toLocaleString("en-IN")} seats</span>`}</li>`);
  return html`<p class="layout-count"><strong>${layout.seat_count.toLocaleString("en-IN")} seats</strong>
    in ${sections.length} ${sections.length === 1 ? "section" : "sections"}${byRows &&
    html` <span class="muted small">(drawn row by row)</span>`}</p>
    <ul class="legend" aria-label="Sections">${key}</ul>
    <div class="layout-map"><svg class="venue-map" width="${width}" viewBox="${left} ${top} ${width} ${height}"
      role="img" aria-label="Seat map: the stage is at the top">${stage}${labels}${drawn}</svg></div>`;
}

// ---- pages -----------------------------------------------------------------------------
const SAMPLE = "Gold, 0: A 10 acc 1; B 12 skip 7\nSilver, 1: C 14; D 14";

const venueItem = (v) => html`<li class="card"><div class="body">
  <a class="title" href="#/venues/${v.venue_id}">${v.name}</a>
  <span>${v.city}</span><span class="muted small">${v.address}</span>
  <span><strong>${v.seat_count.toLocaleString("en-IN")}</strong> seats</span>
  <span class="link-like small">View seat map →</span></div></li>`;

const venueList = (venues) =>
  venues.length
    ? html`<ul class="cards own-venues">${venues.map(venueItem)}</ul>`
    : html`<p class="panel">No venues yet. Onboard your first one below.</p>`;

async function venueMapPage(page, id) {
  const v = await api(`/api/v1/venues/${id}`);
  document.title = `${v.name}: seat map — boxoffice`;
  render(
    main(),
    html`<p><a href="#/venues">← My venues</a></p><h1>${v.name}</h1>
    <p class="facts"><span>${v.city}</span><span>${v.address}</span><span>${v.timezone}</span></p>
    <div id="map">${layoutMap(v)}</div>`,
  );
  paint(main());
}

export async function venuesPage(page, id) {
  if (!session.access) {
    location.hash = "#/login";
    return;
  }
  if (id) return venueMapPage(page, Number(id));
  document.title = "My venues — boxoffice";
  render(
    main(),
    html`<div class="own-top"><h1>My venues</h1><div class="row own-jump"><button type="button"
      class="secondary" id="to-onboard">Onboard a venue</button></div></div><div id="venues"><p class="muted">Loading your venues…</p></div>
    <h2 id="onboard">Onboard a venue</h2><form class="panel" id="vf" aria-labelledby="onboard">
    <div class="row">
    <div><label for="vname">Name</label><input id="vname" required maxlength="120"></div>
    <div><label for="vcity">City</label><input id="vcity" required maxlength="80"></div>
    <div><label for="vaddr">Address</label><input id="vaddr" required maxlength="300"></div>
    <div><label for="vtz">Time zone</label><input id="vtz" value="Asia/Kolkata" required></div>
    </div>
    <label for="layout">Layout: one section per line, best section first</label>
    <p class="muted small" id="layout-help"><code>Name, priority: ROW SEATS [skip N…] [acc N…]; …</code>
      — row A is nearest the stage; <code>skip 7</code> leaves an aisle where seat 7 would be,
      <code>acc 1</code> makes seat 1 a wheelchair space.</p>
    <textarea id="layout" rows="5" spellcheck="false" aria-describedby="layout-help layout-error"
      >${SAMPLE}</textarea>
    <p id="layout-error" class="field-error" role="alert"></p>
    <div class="row gap-top"><button type="button" class="secondary" id="preview">Preview
      map</button><button type="submit">Save venue</button></div></form>
    <div class="map-preview"><div id="map"></div></div>`,
  );
  // The list arrives while the form is already wired (an early Save must not submit natively).
  const mine = api("/api/v1/venues?mine=true");

  const box = () => $("#layout");
  const say = (text, line) => {
    const out = $("#layout-error");
    out.textContent = text || "";
    box().setAttribute("aria-invalid", text ? "true" : "false");
    if (text && line) {
      // Select the line at fault, so the owner sees where to type.
      const lines = box().value.split("\n");
      const from = lines.slice(0, line - 1).reduce((a, l) => a + l.length + 1, 0);
      box().setSelectionRange(from, from + (lines[line - 1] || "").length);
    }
  };
  // The typed sections, or null after saying what does not parse.
  const sections = () => {
    try {
      const s = parseLayout(box().value);
      say("");
      return s;
    } catch (e) {
      if (!(e instanceof LayoutTextError)) throw e;
      say(e.message, e.line);
      box().focus();
      return null;
    }
  };
  // True when the API's error was about the layout (and is now said next to it).
  const layoutError = (err, typed) => {
    const p = layoutProblem(err, typed);
    if (!p) return false;
    say(p.text, p.line);
    box().focus();
    return true;
  };
  page.on("click", "#to-onboard", () => {
    $("#onboard").scrollIntoView({ behavior: "smooth", block: "start" });
    $("#vname").focus({ preventScroll: true });
  });
  page.on("input", "#layout", () => {
    if ($("#layout-error").textContent) say("");
  });
  page.on("click", "#preview", async () => {
    const typed = sections();
    if (!typed) return;
    try {
      const p = await api("/api/v1/venues/preview", {
        method: "POST",
        body: { sections: specs(typed) },
      });
      render($("#map"), layoutMap(p));
      $("#map").scrollIntoView({ block: "nearest", behavior: "smooth" });
      paint($("#map"));
    } catch (e) {
      if (!layoutError(e, typed)) toast(human(e));
    }
  });
  page.on("submit", "#vf", async (e) => {
    e.preventDefault();
    const typed = sections();
    if (!typed) return;
    const body = {
      name: $("#vname").value,
      city: $("#vcity").value,
      address: $("#vaddr").value,
      timezone: $("#vtz").value.trim(),
      sections: specs(typed),
    };
    try {
      const v = await api("/api/v1/venues", { method: "POST", body });
      flash(`${v.name} saved with ${v.seat_count.toLocaleString("en-IN")} seats.`, true);
      location.hash = `#/venues/${v.venue_id}`;
    } catch (err) {
      if (!layoutError(err, typed)) toast(formProblem(err));
    }
  });
  render($("#venues"), venueList(await mine));
}
