package webui

import (
	"encoding/hex"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"rsc.io/qr"

	"loam/mailbox/feed"
)

// inlineImage reports whether an attachment is shown in the page: its
// type is one of the plain image types and its bytes are what the type
// says. Anything else, a friend's mislabelled HTML or SVG among it, is
// only ever a download.
func inlineImage(a feed.Attachment) bool {
	typ := strings.ToLower(strings.TrimSpace(a.Type))
	return inlineTypes[typ] && http.DetectContentType(a.Data) == typ
}

// attachment handles GET /attachments/{entry}/{n}: an entry's n-th
// attachment, inline when it is an image, else as a download of opaque
// bytes; in a sandbox either way.
func (s *Server) attachment(w http.ResponseWriter, r *http.Request) {
	raw, err := hex.DecodeString(r.PathValue("entry"))
	n, nerr := strconv.Atoi(r.PathValue("n"))
	if err != nil || len(raw) != len(feed.EntryID{}) || nerr != nil || n < 0 {
		http.NotFound(w, r)
		return
	}
	e, err := s.feed.Entry(feed.EntryID(raw))
	if errors.Is(err, feed.ErrNotFound) || (err == nil && n >= len(e.Attachments)) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.log.Error("webui: reading an entry", "entry", r.PathValue("entry"), "err", err)
		http.Error(w, "webui: the entry could not be read", http.StatusInternalServerError)
		return
	}
	a := e.Attachments[n]
	h := w.Header()
	h.Set("Content-Security-Policy", attachmentPolicy)
	disposition, typ := "attachment", "application/octet-stream"
	if inlineImage(a) {
		disposition, typ = "inline", strings.ToLower(strings.TrimSpace(a.Type))
	}
	h.Set("Content-Type", typ)
	if d := mime.FormatMediaType(disposition, map[string]string{"filename": a.Name}); d != "" {
		h.Set("Content-Disposition", d)
	} else {
		h.Set("Content-Disposition", disposition)
	}
	h.Set("Content-Length", strconv.Itoa(len(a.Data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(a.Data)
	}
}

// qrScale is the pixels per QR module: a code of some 200 characters is
// version 9 or so, 53 modules with its quiet zone, about 320 pixels.
const qrScale = 6

// qrCode handles GET /friend-code.png: the user's friend code as a QR
// code. Friend codes are upper case Bech32 with '-', which QR's
// alphanumeric mode holds compactly.
func (s *Server) qrCode(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	png := s.qr
	s.mu.Unlock()
	if png == nil {
		id, err := s.feed.Identity()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		code, err := qr.Encode(id.FriendCode(), qr.M)
		if err != nil {
			http.Error(w, "webui: the friend code does not fit a QR code: "+err.Error(), http.StatusInternalServerError)
			return
		}
		code.Scale = qrScale
		png = code.PNG()
		s.mu.Lock()
		s.qr = png
		s.mu.Unlock()
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(png)))
	w.Write(png)
}
