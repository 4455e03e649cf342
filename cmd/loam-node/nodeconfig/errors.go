package nodeconfig

import (
	"errors"
	"strings"
)

// ErrInvalid is what every configuration problem wraps: a file that cannot
// be read or decoded, a bad value, or a key file that is missing, corrupt or
// readable by others. loam-node exits with status 2 on it.
var ErrInvalid = errors.New("nodeconfig: invalid configuration")

// Error lists the problems found in one configuration file. Its message has
// one line per problem, "path: field: what is wanted", so an operator fixes
// them all in one pass.
type Error struct {
	Path     string
	Problems []Problem
}

// Problem is one bad setting: the field (a dotted TOML key such as
// "authority.parameters.mu", or empty for the file as a whole) and what is
// wrong with it.
type Problem struct {
	Field, Msg string
}

func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Path)
		b.WriteString(": ")
		if p.Field != "" {
			b.WriteString(p.Field)
			b.WriteString(": ")
		}
		b.WriteString(p.Msg)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) hold for every *Error.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

func (e *Error) add(field, msg string) {
	e.Problems = append(e.Problems, Problem{Field: field, Msg: msg})
}

// Has reports whether a problem concerns field.
func (e *Error) Has(field string) bool {
	for _, p := range e.Problems {
		if p.Field == field {
			return true
		}
	}
	return false
}

func (e *Error) orNil() error {
	if len(e.Problems) == 0 {
		return nil
	}
	return e
}

func configErr(path, field, msg string) *Error {
	return &Error{Path: path, Problems: []Problem{{Field: field, Msg: msg}}}
}
