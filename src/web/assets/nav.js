// The header's account links: who is signed in, and signing out.

import { api, onSessionChange, session } from "./api.js";
import { html, render } from "./template.js";
import { $, clearMessage, delegate } from "./ui.js";

export function renderNav() {
  const u = session.user;
  if (!u) {
    render($("#nav"), html`<a href="#/login">Sign in</a>
      <a class="btn" href="#/signup">Sign up</a>`);
    return;
  }
  const roles = u.roles || [];
  const organiser = roles.includes("organiser") && html`<a href="#/organiser">Organiser</a>`;
  const owner = roles.includes("venue_owner") && html`<a href="#/venues">Venues</a>`;
  render(
    $("#nav"),
    html`<a href="#/bookings">My tickets</a>${organiser}${owner}
      <span class="who" title="${u.name}">${u.name}</span>
      <button class="secondary small" id="logout">Sign out</button>`,
  );
}

async function signOut() {
  try {
    await api("/api/v1/auth/logout", { method: "POST", body: { refresh_token: session.refresh } });
  } catch {}
  session.clear();
  location.hash = "#/";
}

export function startNav() {
  delegate($("#nav"), "click", "#logout", signOut);
  // What was said to the last visitor is not for the next one.
  onSessionChange(() => {
    clearMessage();
    renderNav();
  });
  renderNav();
}
