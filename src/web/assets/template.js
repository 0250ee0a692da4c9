// A tiny tagged-template helper: html`<p>${text}</p>` escapes every interpolated value unless
// it is already safe HTML (the result of another html`` call, or raw() on purpose), so safety
// never depends on remembering to call an escape function. Arrays are joined, each item by the
// same rule; null, undefined and false render as nothing (for `${cond && html`…`}`).

class Safe {
  constructor(text) {
    this.text = text;
  }

  toString() {
    return this.text;
  }
}

const ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escape = (s) => String(s).replace(/[&<>"']/g, (c) => ENTITIES[c]);

function piece(value) {
  if (value instanceof Safe) return value.text;
  if (Array.isArray(value)) return value.map(piece).join("");
  if (value == null || value === false) return "";
  return escape(value);
}

export function html(strings, ...values) {
  let out = strings[0];
  values.forEach((v, i) => {
    out += piece(v) + strings[i + 1];
  });
  return new Safe(out);
}

// Marks a string as HTML on purpose. Nothing from the API or the visitor should ever go here.
export const raw = (text) => new Safe(String(text));

function checked(content) {
  if (!(content instanceof Safe)) throw new TypeError("render takes html`…`, not a string");
  return content.text;
}

// The only ways the app writes markup: replace an element's content, or add to its end.
export function render(el, content) {
  el.innerHTML = checked(content);
}

export function append(el, content) {
  el.insertAdjacentHTML("beforeend", checked(content));
}
