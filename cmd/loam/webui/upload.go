package webui

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"loam/mailbox/feed"
)

// A compose request is multipart/form-data, read as a stream so nothing of
// it touches the disk (Request.ParseMultipartForm would spill large files
// into unencrypted temporary files). Its first part must be the CSRF token:
// no attachment is read before the request is known to come from the app.

// Upload errors, each answered with its own status.
var (
	errUploadCSRF     = errors.New("missing or wrong CSRF token: reload the page and try again")
	errUploadTooLarge = fmt.Errorf("the post is too large: at most %d attachments of %d MiB in all, and %d KiB of text",
		feed.MaxAttachments, feed.MaxAttachmentBytes>>20, feed.MaxTextLen>>10)
	errUploadEmpty = errors.New("nothing to post: write something or attach a picture")
)

// upload is a parsed compose request.
type upload struct {
	text        string
	attachments []feed.Attachment
}

// readUpload reads a compose request's parts: "csrf" first, then "text"
// and any number of "attachments" files, each within the feed's limits.
func readUpload(r *http.Request) (*upload, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, fmt.Errorf("not a multipart form: %w", err)
	}
	first, err := mr.NextPart()
	if err != nil || first.FormName() != csrfField {
		return nil, errUploadCSRF
	}
	token, err := readLimited(first, maxFieldBytes)
	if err != nil || !validCSRF(r, string(token)) {
		return nil, errUploadCSRF
	}
	u := &upload{}
	budget := feed.MaxAttachmentBytes
	sawText := false
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, uploadReadError(err)
		}
		switch p.FormName() {
		case "text":
			if sawText {
				return nil, errors.New("two text fields")
			}
			sawText = true
			b, err := readLimited(p, feed.MaxTextLen)
			if err != nil {
				return nil, uploadReadError(err)
			}
			if !utf8.Valid(b) {
				return nil, errors.New("the text is not UTF-8")
			}
			// Browsers send textarea line breaks as CRLF.
			u.text = strings.TrimSpace(strings.ReplaceAll(string(b), "\r\n", "\n"))
		case "attachments":
			data, err := readLimited(p, budget)
			if err != nil {
				return nil, uploadReadError(err)
			}
			if p.FileName() == "" && len(data) == 0 {
				continue // the file input with nothing chosen
			}
			if len(u.attachments) == feed.MaxAttachments {
				return nil, errUploadTooLarge
			}
			budget -= len(data)
			u.attachments = append(u.attachments, attachment(p.FileName(), len(u.attachments), data))
		default:
			return nil, fmt.Errorf("unexpected field %q", p.FormName())
		}
	}
	if u.text == "" && len(u.attachments) == 0 {
		return nil, errUploadEmpty
	}
	return u, nil
}

// errFieldTooLarge reports a part longer than its limit.
var errFieldTooLarge = errors.New("field too large")

// readLimited reads all of r if it holds at most limit bytes.
func readLimited(r io.Reader, limit int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, errFieldTooLarge
	}
	return b, nil
}

func uploadReadError(err error) error {
	if errors.Is(err, errFieldTooLarge) || errors.As(err, new(*http.MaxBytesError)) {
		return errUploadTooLarge
	}
	return fmt.Errorf("the form does not parse: %w", err)
}

// attachment makes a feed attachment of an uploaded file: its type from
// its bytes (so a picture is labelled as what it is, whatever its name),
// else from its name's extension; a name the feed accepts.
func attachment(name string, i int, data []byte) feed.Attachment {
	typ, _, _ := strings.Cut(http.DetectContentType(data), ";")
	if typ == "application/octet-stream" || typ == "text/plain" {
		if t := mime.TypeByExtension(strings.ToLower(filepath.Ext(name))); t != "" {
			typ, _, _ = strings.Cut(t, ";")
		}
	}
	typ = strings.TrimSpace(typ)
	if typ == "" || len(typ) > feed.MaxMediaTypeLen {
		typ = "application/octet-stream"
	}
	name = filepath.Base(strings.ReplaceAll(name, "\\", "/"))
	if name == "." || name == ".." || name == "/" || name == "" || !utf8.ValidString(name) {
		name = fmt.Sprintf("attachment-%d", i+1)
	}
	for len(name) > feed.MaxAttachmentNameLen {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return feed.Attachment{Name: name, Type: typ, Data: data}
}

// writeUploadError answers a compose request that failed to parse.
func (s *Server) writeUploadError(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusBadRequest
	switch {
	case errors.Is(err, errUploadCSRF):
		code = http.StatusForbidden
	case errors.Is(err, errUploadTooLarge):
		code = http.StatusRequestEntityTooLarge
	}
	if wantsJSON(r) {
		writeJSON(w, code, map[string]string{"error": err.Error()})
		return
	}
	if code == http.StatusForbidden {
		s.refuse(w, r, code, err.Error())
		return
	}
	s.render(w, r, code, "compose", newComposeData(err.Error()))
}
