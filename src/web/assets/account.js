// Sign in and sign up.

import { api, human, session } from "./api.js";
import { html, render } from "./template.js";
import { $, main, toast } from "./ui.js";

async function signedIn(tokens) {
  session.save(tokens);
  session.saveUser(await api("/api/v1/me"));
  location.hash = sessionStorage.getItem("bo.after") || "#/";
  sessionStorage.removeItem("bo.after");
}

const login = (email, password) =>
  api("/api/v1/auth/login", { method: "POST", auth: false, body: { email, password } });

export function loginPage(page) {
  render(
    main(),
    html`<h1>Sign in</h1><form class="panel narrow" id="f">
    <label for="email">Email</label><input id="email" type="email" autocomplete="email" required>
    <label for="password">Password</label>
    <input id="password" type="password" autocomplete="current-password" required>
    <p><button type="submit">Sign in</button></p>
    <p class="muted">New here? <a href="#/signup">Create an account</a></p></form>`,
  );
  page.on("submit", "#f", async (e) => {
    e.preventDefault();
    try {
      await signedIn(await login($("#email").value, $("#password").value));
    } catch (err) {
      toast(human(err));
    }
  });
}

export function signupPage(page) {
  render(
    main(),
    html`<h1>Create your account</h1><form class="panel narrow" id="f">
    <label for="name">Name</label><input id="name" autocomplete="name" required>
    <label for="email">Email</label><input id="email" type="email" autocomplete="email" required>
    <label for="password">Password (8+ characters)</label>
    <input id="password" type="password" autocomplete="new-password" minlength="8" required>
    <label><input type="checkbox" id="organiser"> I organise events</label>
    <label><input type="checkbox" id="owner"> I own a venue</label>
    <p><button type="submit">Sign up</button></p></form>`,
  );
  page.on("submit", "#f", async (e) => {
    e.preventDefault();
    const roles = [
      ...($("#organiser").checked ? ["organiser"] : []),
      ...($("#owner").checked ? ["venue_owner"] : []),
    ];
    const email = $("#email").value;
    const password = $("#password").value;
    const body = { email, password, name: $("#name").value, roles };
    try {
      await api("/api/v1/auth/register", { method: "POST", auth: false, body });
      await signedIn(await login(email, password));
    } catch (err) {
      toast(human(err));
    }
  });
}
