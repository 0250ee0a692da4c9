// The waiting room of a show whose organiser turned it on (SPEC §10): the visitor's place in
// line, kept live, until they are admitted with a pass that reserving and booking carry.
//
// The place lives on the server, bound to the signed-in visitor: a reload reads it again
// (status, and join only if there is none: joining is idempotent anyway), so nobody loses their
// place by refreshing. The pass is kept in sessionStorage per show, with its owner and expiry.

import { ApiError, api, human, session } from "./api.js";
import { STALE, route } from "./router.js";
import { html, render } from "./template.js";
import { $, clock, main, when } from "./ui.js";

const POLL_MS = 2500;
const NOTE = "bo.queue.note";
const passKey = (showId) => `bo.pass.${showId}`;

function storedPass(showId) {
  try {
    return JSON.parse(sessionStorage.getItem(passKey(showId)) || "null");
  } catch {
    return null;
  }
}

// The signed-in visitor's pass for `showId`: only a live one, unless `expired` (booking seats
// held with it is allowed a grace after it ran out).
export function passFor(showId, { expired = false } = {}) {
  const p = storedPass(showId);
  if (!p || !session.user || p.user !== session.user.user_id) return null;
  if (!expired && Date.parse(p.expires_at) <= Date.now()) return null;
  return p.pass;
}

// The request headers that carry the pass, if one is stored.
export function passHeaders(showId, options) {
  const pass = passFor(showId, options);
  return pass ? { "X-Queue-Pass": pass } : {};
}

// When the stored pass for `showId` runs out (a Date), or null.
export function passExpiry(showId) {
  return passFor(showId) ? new Date(storedPass(showId).expires_at) : null;
}

export const isPassRefusal = (e) =>
  e instanceof ApiError && e.status === 403 && e.body?.error_code === "QUEUE_PASS_REQUIRED";

const REFUSED = {
  expired: "Your time to book ran out. Join again for a new place in line.",
  missing: "This show has a waiting room: wait for your turn to pick seats.",
};

// Sends the visitor back to the show's waiting room after the server refused their pass.
export function backToRoom(showId, error) {
  sessionStorage.removeItem(passKey(showId));
  const reason = error?.body?.details?.reason;
  sessionStorage.setItem(
    NOTE,
    REFUSED[reason] || "Your pass for this show is no longer valid. Join again to book.",
  );
  const target = `#/show/${showId}`;
  if (location.hash === target) route();
  else location.hash = target;
}

// "less than a minute", "about 3 min", "about 1 h 20 min".
export function aboutWait(seconds) {
  if (seconds < 45) return "less than a minute";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `about ${minutes} min`;
  const rest = minutes % 60;
  return `about ${Math.floor(minutes / 60)} h${rest ? ` ${rest} min` : ""}`;
}

function fairness(place) {
  const f = place.fairness;
  if (!f.seed) {
    return html`<p>Everyone who joins before the room opens gets the same chance: at opening,
      their order is drawn at random from a secret seed chosen in advance. Later arrivals line
      up in the order they join.</p>
      <p>The seed's fingerprint (SHA-256), published now so the seed cannot be changed later:</p>
      <p><code class="hash">${f.seed_sha256}</code></p>`;
  }
  const drawn = f.pre_queue_size
    ? html`<p>${f.pre_queue_size.toLocaleString()} people joined before opening; their order was
      drawn at random from this seed. Anyone can check that it matches the fingerprint published
      before opening, and recompute the order. Later arrivals line up in the order they joined.</p>`
    : html`<p>Nobody was waiting when the room opened, so there was nothing to draw: places go in
      the order people join.</p>`;
  return html`${drawn}<p>Seed: <code class="hash">${f.seed}</code></p>
    <p>Fingerprint (SHA-256): <code class="hash">${f.seed_sha256}</code></p>
    <p class="muted small">${f.algorithm}</p>`;
}

// What the live region says about `place`: a headline and a line of detail.
function describe(place, show) {
  if (place.state === "expired") {
    return {
      headline: "Your turn passed",
      detail: "You were let in, but the time to book ran out. Join again for a new place at " +
        "the back of the line.",
    };
  }
  if (place.position == null) {
    const opens = place.opens_at
      ? `Opens at ${when(place.opens_at)} (${show.timezone}), in ${aboutWait(
        place.estimated_wait_seconds)}. `
      : "";
    return {
      headline: "You're in the pre-queue",
      detail: `${opens}Places are drawn at random at opening, so there is no need to rush.`,
    };
  }
  if (place.state === "admitted") {
    return { headline: "It's your turn!", detail: "Taking you to the seat map…" };
  }
  const ahead = place.ahead ?? 0;
  const people = ahead === 0 ? "Nobody is" : ahead === 1 ? "1 person is" : `${ahead} people are`;
  return {
    headline: `You're number ${place.position.toLocaleString()} in line`,
    detail: `${people} ahead of you. Estimated wait: ${aboutWait(place.estimated_wait_seconds)}.`,
  };
}

// The waiting room instead of the seat map, until the visitor is admitted.
export async function waitingRoom(page, show) {
  const showId = show.show_id;
  const note = sessionStorage.getItem(NOTE);
  sessionStorage.removeItem(NOTE);
  render(
    main(),
    html`
    <p><a href="#/">← All shows</a></p>
    <h1>${show.title}</h1>
    <p>${show.venue_name} · <strong>${when(show.start_time)}</strong>
      <span class="muted">(${show.timezone})</span></p>
    <section class="panel room" aria-labelledby="room-title">
      <h2 id="room-title">Waiting room</h2>
      ${note && html`<p class="note" id="room-note">${note}</p>`}
      <div id="room-live" class="room-live" aria-live="polite" aria-atomic="true">
        <p class="headline">Finding your place…</p></div>
      <progress id="room-progress" max="1" value="0" hidden></progress>
      <div id="room-actions" class="gap-top"></div>
      <p class="muted small">Lots of fans want this show, so we let people in a few at a time.
        Keep this page open: it moves you to the seat map when it's your turn. Reloading keeps
        your place.</p>
      <details class="fair"><summary>How is the order decided?</summary>
        <div id="room-fair"><p>Places are given in the order people join.</p></div></details>
      <p class="muted small" id="room-trouble" role="status"></p>
    </section>`,
  );

  if (!session.access) {
    render($("#room-live"), html`<p class="headline">Sign in to join the line</p>
      <p>Your place is kept with your account, so you can reload without losing it.</p>`);
    render($("#room-actions"), html`<button id="room-signin">Sign in to join</button>
      <a href="#/signup" id="room-signup">Create an account</a>`);
    const remember = () => sessionStorage.setItem("bo.after", `#/show/${showId}`);
    page.on("click", "#room-signin", () => {
      remember();
      location.hash = "#/login";
    });
    page.on("click", "#room-signup", remember);
    return;
  }

  let said = "";
  let seed = "";
  let first = null; // the most people ever ahead, for the progress bar
  let busy = false;
  let stopped = false;

  function present(place) {
    const { headline, detail } = describe(place, show);
    if (headline + detail !== said) {
      said = headline + detail;
      render($("#room-live"), html`<p class="headline">${headline}</p><p>${detail}</p>`);
    }
    const bar = $("#room-progress");
    if (place.state === "waiting" && place.ahead != null) {
      first = Math.max(first ?? 0, place.ahead);
      bar.hidden = first === place.ahead; // shown once the line has moved
      bar.max = Math.max(first, 1);
      bar.value = first - place.ahead;
      bar.setAttribute("aria-label", "Your progress through the line");
    } else bar.hidden = true;
    const again = place.state === "expired";
    if (again !== Boolean($("#room-again"))) {
      const button = again && html`<button id="room-again">Join again</button>`;
      render($("#room-actions"), html`${button}`);
    }
    const fair = place.fairness.seed || place.fairness.seed_sha256;
    if (fair !== seed) {
      seed = fair;
      render($("#room-fair"), fairness(place));
    }
  }

  function admitted(place) {
    const user = session.user?.user_id;
    const pass = { pass: place.pass, expires_at: place.pass_expires_at, user };
    sessionStorage.setItem(passKey(showId), JSON.stringify(pass));
    if (!page.signal.aborted) route();
  }

  async function step(join) {
    if (busy || stopped || page.signal.aborted) return;
    busy = true;
    try {
      let place;
      // The place's token lets any node answer from its recent read of the line.
      const token = sessionStorage.getItem(`bo.queue-token.${showId}`);
      const headers = token ? { "x-queue-token": token } : {};
      try {
        place = join
          ? await api(`/api/v1/shows/${showId}/queue/join`, { method: "POST", body: {} })
          : await api(`/api/v1/shows/${showId}/queue/status`, { headers });
      } catch (e) {
        if (!(e instanceof ApiError && e.status === 404 && !join)) throw e;
        place = await api(`/api/v1/shows/${showId}/queue/join`, { method: "POST", body: {} });
      }
      if (page.signal.aborted) return;
      if (place.queue_token) sessionStorage.setItem(`bo.queue-token.${showId}`, place.queue_token);
      $("#room-trouble").textContent = "";
      present(place);
      if (place.state === "admitted" && place.pass) admitted(place);
    } catch (e) {
      if (e === STALE || page.signal.aborted) return;
      if (e instanceof ApiError && e.status === 401) {
        route(); // signed out meanwhile: the room asks them to sign in again
        return;
      }
      if (e instanceof ApiError && e.status < 500 && e.status !== 429) {
        // The show is no longer on sale, say: nothing to wait for.
        stopped = true;
        render($("#room-live"), html`<p class="headline">The line is closed</p>
          <p>${human(e)}</p>`);
        return;
      }
      $("#room-trouble").textContent = "Connection trouble: still trying. Your place is kept.";
    } finally {
      busy = false;
    }
  }

  page.on("click", "#room-again", () => {
    first = null;
    step(true);
  });
  page.every(POLL_MS, () => step(false));
  await step(false);
}

// A line above the seat map while the visitor holds a pass: until when they may reserve.
export function passBanner(showId) {
  const until = passExpiry(showId);
  return until
    ? html`<p class="note" id="pass-note">It's your turn: reserve your seats before
      <strong>${clock(until)}</strong>.</p>`
    : html``;
}
