// boxoffice web app: a dependency-free single-page app over the JSON API, as ES modules
// loaded by the browser (no build step). This entry module wires the header and the routes.

import { human, refreshNow, scheduleRefresh } from "./api.js";
import { loginPage, signupPage } from "./account.js";
import { bookingPage, bookingsPage } from "./bookings.js";
import { checkoutPage } from "./checkout.js";
import { eventPage } from "./event.js";
import { homePage } from "./home.js";
import { startNav } from "./nav.js";
import { organiserPage } from "./organiser.js";
import { start } from "./router.js";
import { showPage } from "./show.js";
import { venuesPage } from "./venues.js";

// Modules keep their names to themselves; the browser test (and a curious developer at the
// console) calls this one.
window.refreshNow = refreshNow;

startNav();
scheduleRefresh();
start(
  {
    "": homePage,
    event: eventPage,
    show: showPage,
    checkout: checkoutPage,
    booking: bookingPage,
    bookings: bookingsPage,
    login: loginPage,
    signup: signupPage,
    organiser: organiserPage,
    venues: venuesPage,
  },
  human,
);
