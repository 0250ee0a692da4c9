// The seat map: seats from a show's layout, their colours, the zoomable and pannable drawing,
// and "best available". Pure functions and one viewer; the show page owns the live state.
//
// Layout coordinates: one unit per seat, rows top to bottom, the stage or screen at the top
// edge (y = 0 side) for every venue.

import { html } from "./template.js";
import { money } from "./ui.js";

export const UNIT = 22; // px of drawing per seat position
const SEAT = 18;

// ---- colours -------------------------------------------------------------
// A free seat is filled with its section's colour, lightened until it stands out against the
// map (≥ 3:1, WCAG's figure for shapes) and against the two unavailable looks: sold (a dark
// square) and held by someone else (an empty outline). So a free seat never passes for a
// taken one, whatever colours a venue owner chose.
export const MAP_BG = "#0b0c1a";
export const SOLD = "#2b2d44";
export const HELD_LINE = "#6b6e91";
export const PICKED = "#ffffff";
export const MINE = "#38bdf8";

const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
const hex = (c) => `#${c.map((v) => Math.round(v).toString(16).padStart(2, "0")).join("")}`;

export function luminance(colour) {
  const [r, g, b] = rgb(colour).map((v) => {
    const c = v / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

export function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

// The section colour a free seat is drawn in.
export function seatColour(colour) {
  let c = /^#[0-9a-f]{6}$/i.test(colour || "") ? colour.toLowerCase() : "#a78bfa";
  for (let k = 0; k < 20 && contrast(c, SOLD) < 3.6; k += 1) {
    c = hex(rgb(c).map((v) => v + (255 - v) * 0.15));
  }
  return c;
}

// ---- seats -----------------------------------------------------------------
// Every seat of a layout (GET /shows/{id}/layout), in seat index order (the order the live
// statuses use).
export function seatsOf(layout) {
  const seats = [];
  layout.rows.forEach((row, r) => {
    const section = layout.sections[row.section];
    const accessible = new Set(row.accessible || []);
    for (const [first, x, count] of row.runs) {
      for (let k = 0; k < count; k += 1) {
        const number = first + k;
        seats.push({
          i: seats.length,
          seat_id: `${row.label}${number}`,
          row: row.label,
          rowIndex: r,
          number,
          x: x + k,
          y: row.y,
          section: section.name,
          priority: section.priority,
          price: section.price,
          accessible: accessible.has(number),
          status: "available",
          mine: false,
        });
      }
    }
  });
  return seats;
}

export const stateOf = (s) => (s.status === "held" ? (s.mine ? "mine" : "held") : s.status);
export const isOpen = (s) => s.status === "available" || s.mine;

export function describe(s, cur, picked) {
  const what = picked ? "selected" : s.mine ? "held by you" : s.status === "held" ? "on hold" : s.status;
  return `Row ${s.row}, seat ${s.number}, ${s.section}, ${money(s.price, cur)}, ${what}${
    s.accessible ? ", wheelchair accessible" : ""}`;
}

export function extent(list) {
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const s of list) {
    if (s.x < minX) minX = s.x;
    if (s.y < minY) minY = s.y;
    if (s.x > maxX) maxX = s.x;
    if (s.y > maxY) maxY = s.y;
  }
  return { minX, minY, maxX, maxY };
}

// The class list of a seat's <g>.
export const seatClass = (s, picked) =>
  `seat ${stateOf(s)}${picked ? " selected" : ""}`;

// One seat: its shape says its state without colour alone (filled: free; outline: on hold;
// small dark square: sold; white with a tick: yours).
export function seatShape(s, picked, fill) {
  const x = s.x * UNIT;
  const y = s.y * UNIT;
  const state = stateOf(s);
  let body;
  if (picked || state === "mine") {
    body = html`<rect x="${x + 1}" y="${y + 1}" width="${SEAT}" height="${SEAT}" rx="4"
      fill="${picked ? PICKED : MINE}" stroke="${fill}" stroke-width="2"></rect><path
      d="M${x + 5} ${y + 10.5}l3.5 3.5 6.5-7" fill="none" stroke="#0b0c1a" stroke-width="2.4"></path>`;
  } else if (state === "available") {
    // A wheelchair space shows its sign where other seats show their number.
    body = html`<rect x="${x + 1}" y="${y + 1}" width="${SEAT}" height="${SEAT}" rx="4"
      fill="${fill}"></rect><text x="${x + 10}" y="${y + 14}" class="n${s.accessible ? " acc" : ""}">${
      s.accessible ? "♿" : s.number}</text>`;
  } else if (state === "held") {
    body = html`<rect x="${x + 2}" y="${y + 2}" width="${SEAT - 2}" height="${SEAT - 2}" rx="4"
      fill="none" stroke="${HELD_LINE}" stroke-width="2"></rect>`;
  } else {
    body = html`<rect x="${x + 4}" y="${y + 4}" width="${SEAT - 6}" height="${SEAT - 6}" rx="3"
      fill="${SOLD}"></rect>`;
  }
  return body;
}

// ---- best available --------------------------------------------------------
// The best `n` seats side by side among `seats` (free ones only): the best-priority section;
// in it, a choice that would leave a single seat stranded between taken ones (an orphan nobody
// buys) is avoided when another exists; then the row nearest the stage, then the middle of the
// row. Returns the seats, or null.
export function bestAvailable(seats, n) {
  const rows = new Map();
  for (const s of seats) {
    if (s.status !== "available" || s.mine) continue;
    const key = `${s.section}|${s.rowIndex}`;
    if (!rows.has(key)) rows.set(key, []);
    rows.get(key).push(s);
  }
  // Rows nearest the stage first, within each section's priority.
  const frontRow = new Map();
  for (const s of seats) {
    const f = frontRow.get(s.section);
    if (f === undefined || s.y < f) frontRow.set(s.section, s.y);
  }
  const centre = new Map();
  for (const s of seats) {
    const key = `${s.section}|${s.rowIndex}`;
    const c = centre.get(key) || { lo: Infinity, hi: -Infinity };
    c.lo = Math.min(c.lo, s.x);
    c.hi = Math.max(c.hi, s.x);
    centre.set(key, c);
  }
  let best = null;
  let bestScore = Infinity;
  for (const [key, free] of rows) {
    free.sort((a, b) => a.x - b.x);
    const { lo, hi } = centre.get(key);
    const middle = (lo + hi) / 2;
    // Runs of seats next to each other (an aisle or a taken seat breaks a run).
    let start = 0;
    for (let i = 1; i <= free.length; i += 1) {
      if (i < free.length && free[i].x === free[i - 1].x + 1) continue;
      const run = free.slice(start, i);
      start = i;
      for (let p = 0; p + n <= run.length; p += 1) {
        const left = p;
        const right = run.length - n - p;
        const orphans = (left === 1 ? 1 : 0) + (right === 1 ? 1 : 0);
        const pick = run.slice(p, p + n);
        const mid = (pick[0].x + pick[n - 1].x) / 2;
        const s0 = pick[0];
        const score = s0.priority * 1e9 + orphans * 1e7 + (s0.y - frontRow.get(s0.section)) * 1e3 +
          Math.abs(mid - middle);
        if (score < bestScore) {
          bestScore = score;
          best = pick;
        }
      }
    }
  }
  return best;
}

// ---- the viewer --------------------------------------------------------------
// A drawing in an <svg> inside `view` that wheel, pinch, drag and the +/− buttons zoom and
// pan by changing its viewBox. `onTap(target)` gets taps that were not drags.
export function viewer(view, svg, box, { onTap, maxScale = 3, signal }) {
  const fit = { ...box };
  let vb = { ...box };
  svg.setAttribute("preserveAspectRatio", "xMidYMin meet");
  const apply = () => {
    svg.setAttribute("viewBox", `${vb.x} ${vb.y} ${vb.w} ${vb.h}`);
    // Seat numbers only once they are big enough to read.
    const px = view.clientWidth / vb.w;
    const scale = Math.min(px, view.clientHeight / vb.h) * UNIT;
    svg.classList.toggle("far", scale < 17);
  };
  const clamp = () => {
    const minW = view.clientWidth / maxScale;
    if (vb.w > fit.w * 1.05 && vb.h > fit.h * 1.05) vb = { ...fit };
    if (vb.w < minW) {
      const k = minW / vb.w;
      vb.x -= (vb.w * (k - 1)) / 2;
      vb.y -= (vb.h * (k - 1)) / 2;
      vb.w *= k;
      vb.h *= k;
    }
    vb.x = Math.min(Math.max(vb.x, fit.x - vb.w / 2), fit.x + fit.w - vb.w / 2);
    vb.y = Math.min(Math.max(vb.y, fit.y - vb.h / 2), fit.y + fit.h - vb.h / 2);
  };
  // The drawing point under the screen point (cx, cy) of the view.
  const toDrawing = (cx, cy) => {
    const r = view.getBoundingClientRect();
    const k = Math.max(vb.w / r.width, vb.h / r.height);
    const ox = (r.width * k - vb.w) / 2;
    const oy = 0; // drawn from the top (preserveAspectRatio xMidYMin): the stage stays in view
    return { x: vb.x - ox + (cx - r.left) * k, y: vb.y - oy + (cy - r.top) * k, k };
  };
  const zoom = (factor, cx, cy) => {
    const r = view.getBoundingClientRect();
    const at = toDrawing(cx ?? r.left + r.width / 2, cy ?? r.top + r.height / 2);
    vb = {
      x: at.x - (at.x - vb.x) / factor,
      y: at.y - (at.y - vb.y) / factor,
      w: vb.w / factor,
      h: vb.h / factor,
    };
    clamp();
    apply();
  };
  const opts = { signal, passive: false };
  view.addEventListener(
    "wheel",
    (e) => {
      e.preventDefault();
      zoom(Math.exp(-e.deltaY * 0.0015), e.clientX, e.clientY);
    },
    opts,
  );
  const pointers = new Map();
  let dragged = false;
  let pinch = null;
  view.addEventListener(
    "pointerdown",
    (e) => {
      pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
      if (pointers.size === 1) dragged = false;
      if (pointers.size === 2) {
        const [a, b] = [...pointers.values()];
        pinch = Math.hypot(a.x - b.x, a.y - b.y);
      }
    },
    opts,
  );
  view.addEventListener(
    "pointermove",
    (e) => {
      const last = pointers.get(e.pointerId);
      if (!last) return;
      const now = { x: e.clientX, y: e.clientY };
      if (pointers.size === 2 && pinch) {
        pointers.set(e.pointerId, now);
        const [a, b] = [...pointers.values()];
        const d = Math.hypot(a.x - b.x, a.y - b.y);
        zoom(d / pinch, (a.x + b.x) / 2, (a.y + b.y) / 2);
        pinch = d;
        dragged = true;
        return;
      }
      const dx = now.x - last.x;
      const dy = now.y - last.y;
      if (!dragged && Math.hypot(dx, dy) < 6) return;
      if (!dragged) view.setPointerCapture?.(e.pointerId);
      dragged = true;
      pointers.set(e.pointerId, now);
      const { k } = toDrawing(now.x, now.y);
      vb.x -= dx * k;
      vb.y -= dy * k;
      clamp();
      apply();
    },
    opts,
  );
  const up = (e) => {
    pointers.delete(e.pointerId);
    if (pointers.size < 2) pinch = null;
  };
  view.addEventListener("pointerup", up, opts);
  view.addEventListener("pointercancel", up, opts);
  view.addEventListener(
    "click",
    (e) => {
      if (dragged) {
        dragged = false;
        return;
      }
      onTap(e.target);
    },
    { signal },
  );
  apply();
  return {
    // The first view: all of it when a seat is at least `minScale` px a drawing unit; else the
    // full width when that is enough; else zoomed to `minScale` on the front (stage) middle.
    start(minScale) {
      const sw = view.clientWidth / fit.w;
      const sh = view.clientHeight / fit.h;
      if (Math.min(sw, sh) >= minScale || !view.clientWidth) return;
      const scale = sw >= minScale ? sw : minScale;
      const w = view.clientWidth / scale;
      const h = view.clientHeight / scale;
      vb = { x: fit.x + fit.w / 2 - w / 2, y: fit.y, w, h };
      apply();
    },
    zoomIn: () => zoom(1.6),
    zoomOut: () => zoom(1 / 1.6),
    reset: () => {
      vb = { ...fit };
      apply();
    },
    // Brings the drawing rectangle `r` into view, zooming in to `scale` px per unit if asked.
    show(r, { zoomTo } = {}) {
      if (zoomTo) {
        const w = view.clientWidth / zoomTo;
        const h = view.clientHeight / zoomTo;
        if (w < vb.w) vb = { x: vb.x, y: vb.y, w, h };
      }
      const inside =
        r.x >= vb.x && r.y >= vb.y && r.x + r.w <= vb.x + vb.w && r.y + r.h <= vb.y + vb.h;
      if (!inside || zoomTo) {
        vb.x = r.x + r.w / 2 - vb.w / 2;
        vb.y = r.y + r.h / 2 - vb.h / 2;
      }
      clamp();
      apply();
    },
    refit: apply,
  };
}
