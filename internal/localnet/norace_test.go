//go:build !race

package localnet_test

const raceEnabled = false
