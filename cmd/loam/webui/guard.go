package webui

import (
	"errors"
	"net/http"
)

// setSecurityHeaders sets the headers every response carries.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	// No URL of the app goes to another origin. (Not "no-referrer": under
	// it browsers send "Origin: null" with the app's own form posts, and
	// the Origin check below could not tell them from forgeries.)
	h.Set("Referrer-Policy", "same-origin")
	// Other sites may not embed or read what is served here, and nothing
	// served (private pictures among it) is written to the browser's disk
	// cache, which the feed's encryption at rest would not cover.
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// errCrossOrigin is why a state-changing request from another origin is
// refused.
var errCrossOrigin = errors.New("a state-changing request from another origin (cross-site request forgery?)")

// sameOrigin checks that a POST comes from the app's own pages. A browser
// says where a request comes from in Sec-Fetch-Site and Origin; both, when
// present, must name this origin. The Host header has been checked to be
// one of the loopback names with this port already, so "http://"+Host is
// the page's origin. (Another port on 127.0.0.1 is same-site, so the
// SameSite cookie alone does not stop it; this check and the CSRF token
// do.) A request with neither header is not from a browser's page, and
// still needs the session cookie and the CSRF token.
func sameOrigin(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return errCrossOrigin
	}
	if origin := r.Header.Get("Origin"); origin != "" && origin != "http://"+r.Host {
		return errCrossOrigin
	}
	return nil
}
