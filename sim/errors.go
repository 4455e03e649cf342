package sim

import "errors"

// ErrScenario is wrapped by every error about a scenario that cannot run: a
// TOML syntax error, an unknown field or a value out of range. The message
// names the field.
var ErrScenario = errors.New("sim: scenario")
