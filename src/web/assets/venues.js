// Venue owners: onboard a venue from a layout written as text, previewing its map first.

import { api, human, session } from "./api.js";
import { html, render } from "./template.js";
import { $, main, toast } from "./ui.js";

// One section per line: "Name, priority: ROW COUNT [skip N…] [acc N…]; …",
// e.g. "Gold, 0: A 10 acc 1; B 12 skip 7".
function parseRow(text) {
  const parts = text.split(/\s+/);
  const row = { label: parts[0], count: Number(parts[1]) };
  const skipAt = parts.indexOf("skip");
  const accAt = parts.indexOf("acc");
  const skipEnd = accAt > skipAt ? accAt : undefined;
  if (skipAt > 0) row.skip = parts.slice(skipAt + 1, skipEnd).map(Number);
  if (accAt > 0) row.accessible = parts.slice(accAt + 1).map(Number);
  return row;
}

export function parseLayout(text) {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .map((line) => {
      const [head, rows = ""] = line.split(":");
      const [name, priority = "0"] = head.split(",").map((x) => x.trim());
      const list = rows.split(";").map((r) => r.trim()).filter(Boolean);
      return { name, priority: Number(priority), rows: list.map(parseRow) };
    });
}

const SAMPLE = "Gold, 0: A 10 acc 1; B 12 skip 7\nSilver, 1: C 14; D 14";

function preview(p) {
  const colour = Object.fromEntries(p.sections.map((s) => [s.name, s.colour]));
  const w = Math.max(...p.seats.map((s) => s.x)) * 22 + 40;
  const h = Math.max(...p.seats.map((s) => s.y)) * 22 + 30;
  const seat = (s) => html`<rect x="${s.x * 22 + 10}" y="${s.y * 22 + 4}" width="18" height="18"
    rx="4" fill="${colour[s.section]}"><title>${s.seat_id}</title></rect>`;
  const map = html`<svg width="${w}" height="${h}">${p.seats.map(seat)}</svg>`;
  return html`<p>${p.seat_count} seats</p>${map}`;
}

export function venuesPage(page) {
  if (!session.access) {
    location.hash = "#/login";
    return;
  }
  render(
    main(),
    html`<h1>Onboard a venue</h1><form class="panel" id="vf"><div class="row">
    <div><label for="vname">Name</label><input id="vname" required></div>
    <div><label for="vcity">City</label><input id="vcity" required></div>
    <div><label for="vaddr">Address</label><input id="vaddr" required></div>
    <div><label for="vtz">Time zone</label><input id="vtz" value="Asia/Kolkata" required></div>
    </div>
    <label for="layout">Layout: one section per line —
      <code>Name, priority: ROW COUNT [skip N…] [acc N…]; …</code></label>
    <textarea id="layout" rows="5">${SAMPLE}</textarea>
    <div class="row gap-top"><button type="button" class="secondary" id="preview">Preview
      map</button><button type="submit">Save venue</button></div></form>
    <div class="map"><div id="map"></div></div>`,
  );
  const body = () => ({
    name: $("#vname").value,
    city: $("#vcity").value,
    address: $("#vaddr").value,
    timezone: $("#vtz").value,
    sections: parseLayout($("#layout").value),
  });
  page.on("click", "#preview", async () => {
    try {
      const sections = body().sections;
      const p = await api("/api/v1/venues/preview", { method: "POST", body: { sections } });
      render($("#map"), preview(p));
    } catch (e) {
      toast(human(e));
    }
  });
  page.on("submit", "#vf", async (e) => {
    e.preventDefault();
    try {
      const v = await api("/api/v1/venues", { method: "POST", body: body() });
      toast(`Venue ${v.venue_id} saved with ${v.seat_count} seats.`, true);
    } catch (err) {
      toast(human(err));
    }
  });
}
