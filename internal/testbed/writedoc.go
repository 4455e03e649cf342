package testbed

import (
	"fmt"
	"os"
	"strings"
)

// The results of each mode live in docs/reliability.md between markers,
// so that a run replaces its own section and leaves the prose and the
// other mode's section alone.
func sectionMarkers(mode string) (begin, end string) {
	return "<!-- testbed:" + mode + " begin -->", "<!-- testbed:" + mode + " end -->"
}

// replaceSection puts body between mode's markers in doc, appending the
// markers at the end if doc has none.
func replaceSection(doc, mode, body string) (string, error) {
	begin, end := sectionMarkers(mode)
	i := strings.Index(doc, begin)
	j := strings.Index(doc, end)
	switch {
	case i < 0 && j < 0:
		if doc != "" && !strings.HasSuffix(doc, "\n") {
			doc += "\n"
		}
		return doc + "\n" + begin + "\n" + body + end + "\n", nil
	case i < 0 || j < i:
		return "", fmt.Errorf("testbed: the markers of the %s section are out of order", mode)
	}
	return doc[:i+len(begin)] + "\n" + body + doc[j:], nil
}

// WriteDoc writes rep into its mode's section of the Markdown file path.
func WriteDoc(path string, rep *Report) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	doc, err := replaceSection(string(old), rep.Mode, rep.Markdown())
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(doc), 0o644)
}
