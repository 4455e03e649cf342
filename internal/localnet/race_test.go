//go:build race

package localnet_test

// raceEnabled: the test binary runs under the race detector, and the
// processes may be too (LOAM_LOCALNET_RACE=1).
const raceEnabled = true
