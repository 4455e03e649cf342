// Package nodeconfig is loam-node's configuration: the TOML file an
// operator edits (File), what it means once checked (Config), the keys in
// the data directory, and the commented file `loam-node init` writes.
//
// A file is decoded strictly: an unknown key is an error, so a typo never
// silently leaves a setting at its default. Checking reports every problem
// at once, each naming its field and what is wanted:
//
//	node.toml: layer: a mix is in layer 1, 2 or 3; got 4
//
// The package lives beside the command rather than under internal/ so that
// test harnesses (internal/localnet) write the same files operators do.
package nodeconfig
