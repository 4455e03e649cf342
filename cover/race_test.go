//go:build race

package cover

// raceEnabled: the race detector slows map-heavy tests about fifteenfold,
// so they run smaller under it.
const raceEnabled = true
