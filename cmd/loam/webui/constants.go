package webui

import "loam/mailbox/feed"

// Limits and names. None is part of a wire format: they bound what the UI
// accepts and shape what it serves.
const (
	// tokenBytes is the entropy of the per-run URL token and of session ids.
	tokenBytes = 32
	// minTokenLen bounds Config.Token from below (43 characters is 32 bytes
	// in unpadded base64url, what NewToken makes).
	minTokenLen = 32

	// maxSessions bounds the browser sessions kept; the oldest goes first.
	maxSessions = 32
	// maxJobs bounds the finished posts and syncs remembered for their
	// progress pages.
	maxJobs = 64

	// maxFormBytes bounds a url-encoded form (a friend code, a CSRF token).
	maxFormBytes = 16 << 10
	// maxUploadBytes bounds a compose request: the text, the attachments
	// the feed allows (5 MiB in all) and the multipart framing around them.
	maxUploadBytes = feed.MaxTextLen + feed.MaxAttachmentBytes + 256<<10
	// maxFieldBytes bounds the small multipart fields (the CSRF token).
	maxFieldBytes = 256

	// timelineLimit is how many entries the timeline shows.
	timelineLimit = 50

	// cookiePrefix starts the session cookie's name; the port follows, as
	// cookies are shared by every port of a host.
	cookiePrefix = "loam_session_"
	// csrfField is the form field (and multipart part) carrying the CSRF
	// token; a compose form's first part.
	csrfField = "csrf"
	// tokenParam is the URL query parameter carrying the per-run token.
	tokenParam = "token"
)

// contentSecurityPolicy allows only the app's own scripts, styles, images
// and requests: no inline script or style, no frames, forms only to itself.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// attachmentPolicy is the CSP of a served attachment: it runs nothing even
// if a browser were to render it as a document.
const attachmentPolicy = "default-src 'none'; sandbox"

// inlineTypes are the attachment types shown in the page; every other type
// is offered as a download.
var inlineTypes = map[string]bool{
	"image/png":  true,
	"image/jpeg": true,
	"image/gif":  true,
	"image/webp": true,
}
