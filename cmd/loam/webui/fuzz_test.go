package webui

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"unicode/utf8"

	"loam/mailbox/feed"
)

// FuzzUpload feeds arbitrary bodies to the compose form's reader: it must
// never panic, and whatever it accepts is within the feed's limits and
// came with the session's CSRF token first.
func FuzzUpload(f *testing.F) {
	const csrf = "fuzz-csrf-token-0123456789abcdef"
	seed := func(parts ...part) []byte {
		b, _ := multipartBody(f, parts...)
		return b.Bytes()
	}
	f.Add(seed(part{name: "csrf", data: []byte(csrf)}, part{name: "text", data: []byte("hello")}))
	f.Add(seed(part{name: "csrf", data: []byte(csrf)}, part{name: "text", data: []byte("a")},
		part{name: "attachments", file: "a.jpg", data: []byte("\xff\xd8\xff\xe0")}))
	f.Add(seed(part{name: "csrf", data: []byte(csrf)}, part{name: "attachments", file: "", data: nil}))
	f.Add(seed(part{name: "text", data: []byte("no token")}))
	f.Add(seed(part{name: "csrf", data: []byte(csrf)}, part{name: "attachments", file: "../../etc/passwd", data: []byte("x")}))
	f.Add([]byte("--B\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n" + csrf + "\r\n--B--\r\n"))
	f.Add([]byte("--B\r\n\r\n--B"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		ct := "multipart/form-data; boundary=B"
		if i := bytes.Index(body, []byte("\r\n")); i > 2 && bytes.HasPrefix(body, []byte("--")) {
			ct = "multipart/form-data; boundary=" + string(body[2:i]) // the seeds' own boundary
		}
		r := httptest.NewRequest(http.MethodPost, "/post", bytes.NewReader(body))
		r.Header.Set("Content-Type", ct)
		r = r.WithContext(withSession(r.Context(), &browserSession{csrf: csrf}))
		u, err := readUpload(r)
		if err != nil {
			return
		}
		if !bytes.Contains(body, []byte(csrf)) {
			t.Fatal("accepted without the CSRF token")
		}
		if u.text == "" && len(u.attachments) == 0 {
			t.Fatal("accepted an empty post")
		}
		if !utf8.ValidString(u.text) || len(u.text) > feed.MaxTextLen || len(u.attachments) > feed.MaxAttachments {
			t.Fatal("accepted text or attachments beyond the limits")
		}
		total := 0
		for _, a := range u.attachments {
			total += len(a.Data)
			if a.Name == "" || len(a.Name) > feed.MaxAttachmentNameLen || !utf8.ValidString(a.Name) ||
				a.Type == "" || len(a.Type) > feed.MaxMediaTypeLen || bytes.ContainsAny([]byte(a.Name), "/\\") {
				t.Fatalf("an attachment the feed would refuse: %q %q", a.Name, a.Type)
			}
		}
		if total > feed.MaxAttachmentBytes {
			t.Fatal("attachments beyond 5 MiB")
		}
	})
}
