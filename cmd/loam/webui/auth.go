package webui

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
)

// NewToken returns a fresh per-run token: 32 bytes from crypto/rand in
// unpadded base64url, fit for a URL.
func NewToken() (string, error) { return randomString() }

func randomString() (string, error) {
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	defer clear(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// A browser session: made when a browser brings the URL token, named by a
// random id its cookie carries, with a CSRF token its forms carry.
type browserSession struct {
	csrf string
}

// sessions are kept under the SHA-256 of their id, so looking one up does
// not compare the secret id itself in variable time.
type sessions struct {
	byHash map[[32]byte]*browserSession
	order  [][32]byte // oldest first, for eviction
}

func newSessions() sessions { return sessions{byHash: map[[32]byte]*browserSession{}} }

// exchangeToken checks a URL's token and, when it holds, starts a session,
// sets its cookie and redirects to the same URL without the token, so it
// leaves the address bar and the history.
func (s *Server) exchangeToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	got := q.Get(tokenParam)
	if subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.Token)) != 1 {
		s.refuse(w, r, http.StatusForbidden, "wrong token: open the URL that `loam ui` printed in this run")
		return
	}
	id, err := randomString()
	if err != nil {
		http.Error(w, "webui: no randomness", http.StatusInternalServerError)
		return
	}
	csrf, err := randomString()
	if err != nil {
		http.Error(w, "webui: no randomness", http.StatusInternalServerError)
		return
	}
	s.mu.Lock()
	s.sessions.add(id, &browserSession{csrf: csrf})
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName, Value: id, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
	q.Del(tokenParam)
	target := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
	http.Redirect(w, r, target.String(), http.StatusSeeOther)
}

func (ss *sessions) add(id string, b *browserSession) {
	h := sha256.Sum256([]byte(id))
	if len(ss.order) >= maxSessions {
		delete(ss.byHash, ss.order[0])
		ss.order = ss.order[1:]
	}
	ss.byHash[h] = b
	ss.order = append(ss.order, h)
}

// session returns the request's session, or nil.
func (s *Server) session(r *http.Request) *browserSession {
	c, err := r.Cookie(s.cookieName)
	if err != nil || c.Value == "" {
		return nil
	}
	h := sha256.Sum256([]byte(c.Value))
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions.byHash[h]
}

type sessionKey struct{}

func withSession(ctx context.Context, b *browserSession) context.Context {
	return context.WithValue(ctx, sessionKey{}, b)
}

func sessionOf(r *http.Request) *browserSession {
	b, _ := r.Context().Value(sessionKey{}).(*browserSession)
	return b
}

// csrfToken is the token the request's session puts in its forms.
func csrfToken(r *http.Request) string {
	if b := sessionOf(r); b != nil {
		return b.csrf
	}
	return ""
}

// validCSRF reports whether got is the request's session's CSRF token.
func validCSRF(r *http.Request, got string) bool {
	want := csrfToken(r)
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// parseForm reads a url-encoded POST form and checks its CSRF token;
// it answers the request itself and returns false when either fails.
func (s *Server) parseForm(w http.ResponseWriter, r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			s.refuse(w, r, http.StatusRequestEntityTooLarge, "the form is too large")
		} else {
			s.refuse(w, r, http.StatusBadRequest, "the form does not parse")
		}
		return false
	}
	if !validCSRF(r, r.PostForm.Get(csrfField)) {
		s.refuse(w, r, http.StatusForbidden, "missing or wrong CSRF token: reload the page and try again")
		return false
	}
	return true
}
