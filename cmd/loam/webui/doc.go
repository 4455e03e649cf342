// Package webui is the browser interface of a person's Loam client: a web
// app served by the `loam ui` process on their own machine, which holds
// their keys, to the browser on the same machine.
//
// Pages: the timeline of the user's and their friends' entries with their
// pictures; compose, with attachments and a progress indicator while the
// post goes into the mixnet; friends (the user's friend code as text and as
// a QR code; adding a friend by code); status (gateway, Tor, cover traffic,
// pending deliveries, last sync). HTML is rendered on the server with
// html/template; a small script from static/ adds progress polling. Every
// asset is embedded: nothing is loaded from the internet.
//
// The server trusts nothing about the browser's surroundings, since any web
// page the user visits can make the browser send requests to 127.0.0.1:
//
//   - It answers only requests whose Host header names the loopback address
//     and port it serves on (against DNS rebinding).
//   - A per-run secret token, given once in the URL `loam ui` prints, is
//     exchanged for a session cookie (HttpOnly, SameSite=Strict, named after
//     the port); nothing is served without one.
//   - Every state-changing request is a POST carrying the session's CSRF
//     token, from the same origin (Sec-Fetch-Site and Origin are checked).
//   - Responses carry a Content-Security-Policy without 'unsafe-inline',
//     frame-ancestors 'none', a same-origin referrer policy, nosniff and
//     no-store.
//   - Entries are rendered escaped; attachments are served inline only as
//     png, jpeg, gif or webp images, never as HTML, and in a sandbox.
//
// docs/ui.md describes the UI and its security for users and reviewers.
package webui
