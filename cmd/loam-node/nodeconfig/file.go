package nodeconfig

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/BurntSushi/toml"

	"loam/mixnet/directory"
)

// File mirrors node.toml field for field. Durations and keys stay strings
// here so that checking can name the field of a bad one; Check turns a File
// into a Config.
type File struct {
	Role          string   `toml:"role"`
	Name          string   `toml:"name"`
	Layer         int      `toml:"layer"`
	DataDir       string   `toml:"data_dir"`
	Listen        string   `toml:"listen"`
	Advertise     string   `toml:"advertise"`
	MetricsListen string   `toml:"metrics_listen"`
	LogLevel      string   `toml:"log_level"`
	LogFormat     string   `toml:"log_format"`
	Services      []string `toml:"services"`

	Network   NetworkSection   `toml:"network"`
	Directory DirectorySection `toml:"directory"`
	Limits    LimitsSection    `toml:"limits"`
	Mailbox   MailboxSection   `toml:"mailbox"`
	Tor       TorSection       `toml:"tor"`
	Faults    FaultsSection    `toml:"faults"`
	Authority AuthoritySection `toml:"authority"`

	// present holds the top-level keys and tables the decoded text set, so
	// that a section given to the wrong role is an error even when it only
	// repeats the defaults. Nil for a File built in code.
	present map[string]bool
}

// NetworkSection is [network]: what a node must share with every other node
// and client before it can read the directory.
type NetworkSection struct {
	Hops        int    `toml:"hops"`
	UserPayload int    `toml:"user_payload"`
	EpochPeriod string `toml:"epoch_period"`
}

// DirectorySection is [directory]: the authorities a node trusts, or an
// authority's peers (itself included).
type DirectorySection struct {
	Threshold   int              `toml:"threshold"`
	Authorities []AuthorityEntry `toml:"authorities"`
}

// AuthorityEntry is one [[directory.authorities]] entry: an authority's
// Ed25519 public key in standard base64 and the base URL of its HTTP API.
type AuthorityEntry struct {
	Key string `toml:"key" json:"key"`
	URL string `toml:"url" json:"url"`
}

// LimitsSection is [limits]: queue bounds and memory a node may use.
type LimitsSection struct {
	Workers        int     `toml:"workers"`
	Queue          int     `toml:"queue"`
	LinkQueue      int     `toml:"link_queue"`
	MaxScheduled   int     `toml:"max_scheduled"`
	ReplayCapacity int64   `toml:"replay_capacity"`
	ReplayFP       float64 `toml:"replay_fp"`
	ClientHold     int     `toml:"client_hold"`
	ClientHoldFor  string  `toml:"client_hold_for"`
}

// MailboxSection is [mailbox]: a mailbox replica's store and service
// (service nodes offering "mailbox").
type MailboxSection struct {
	Dir        string `toml:"dir"`
	TTL        string `toml:"ttl"`
	MaxBlob    int    `toml:"max_blob"`
	MaxEntries int    `toml:"max_entries"`
	MaxBytes   int64  `toml:"max_bytes"`
	Workers    int    `toml:"workers"`
	Queue      int    `toml:"queue"`
	GCInterval string `toml:"gc_interval"`
}

// TorSection is [tor]: a gateway's onion service, run by a tor process of
// its own.
type TorSection struct {
	Enabled          bool     `toml:"enabled"`
	DataDir          string   `toml:"data_dir"`
	OnionPort        int      `toml:"onion_port"`
	Path             string   `toml:"path"`
	Torrc            []string `toml:"torrc"`
	BootstrapTimeout string   `toml:"bootstrap_timeout"`
}

// AuthoritySection is [authority]: an authority's HTTP listener, its
// bootstrap delay and the network parameters it votes for.
type AuthoritySection struct {
	Listen     string            `toml:"listen"`
	Bootstrap  string            `toml:"bootstrap"`
	Parameters ParametersSection `toml:"parameters"`
}

// ParametersSection is [authority.parameters]: every field of
// directory.Parameters, durations as strings.
type ParametersSection struct {
	Hops        int     `toml:"hops"`
	UserPayload int     `toml:"user_payload"`
	Mu          string  `toml:"mu"`
	LambdaP     float64 `toml:"lambda_p"`
	LambdaL     float64 `toml:"lambda_l"`
	LambdaD     float64 `toml:"lambda_d"`
	LambdaM     float64 `toml:"lambda_m"`
	EpochPeriod string  `toml:"epoch_period"`
	Grace       string  `toml:"grace"`
	Replicas    int     `toml:"replicas"`
}

// Defaults of the tunables, as mixnet applies them to a zero Config. They
// are written out in full so that an operator sees every value in force.
const (
	DefaultWorkers        = 0 // one per CPU
	DefaultQueue          = 4096
	DefaultLinkQueue      = 2048
	DefaultMaxScheduled   = 1 << 15
	DefaultReplayCapacity = 2 << 20
	DefaultReplayFP       = 1e-6
	DefaultClientHold     = 4096
	DefaultClientHoldFor  = "10m"
	DefaultLogLevel       = "info"
	DefaultLogFormat      = "text"
	DefaultDataDir        = "."

	DefaultMailboxDir        = "mailbox"
	DefaultMailboxTTL        = "168h"
	DefaultMailboxMaxEntries = 1 << 16
	DefaultMailboxMaxBytes   = 64 << 20
	// DefaultMailboxWorkers is the replica's store workers: deposits wait
	// for an fsync, and concurrent ones share it, so throughput grows with
	// the number in flight (BenchmarkReplicaDeposit: about 10,000 durable
	// deposits/s with 16, twice that with 64).
	DefaultMailboxWorkers    = 64
	DefaultMailboxQueue      = 4096
	DefaultMailboxGCInterval = "10m"

	DefaultTorDataDir          = "tor"
	DefaultTorOnionPort        = 443
	DefaultTorBootstrapTimeout = "3m"
)

// maxFileLen bounds node.toml; a larger file is not a configuration.
const maxFileLen = 1 << 20

// Defaults returns the settings every File starts from: omitted keys keep
// these values. Role, name, addresses and the authorities have no default.
func Defaults() *File {
	p := ParametersOf(directory.DefaultParameters())
	return &File{
		DataDir:   DefaultDataDir,
		LogLevel:  DefaultLogLevel,
		LogFormat: DefaultLogFormat,
		Network:   NetworkSection{Hops: p.Hops, UserPayload: p.UserPayload, EpochPeriod: p.EpochPeriod},
		Limits: LimitsSection{
			Workers: DefaultWorkers, Queue: DefaultQueue, LinkQueue: DefaultLinkQueue,
			MaxScheduled: DefaultMaxScheduled, ReplayCapacity: DefaultReplayCapacity,
			ReplayFP: DefaultReplayFP, ClientHold: DefaultClientHold, ClientHoldFor: DefaultClientHoldFor,
		},
		Mailbox: MailboxSection{
			Dir: DefaultMailboxDir, TTL: DefaultMailboxTTL, MaxEntries: DefaultMailboxMaxEntries,
			MaxBytes: DefaultMailboxMaxBytes, Workers: DefaultMailboxWorkers, Queue: DefaultMailboxQueue,
			GCInterval: DefaultMailboxGCInterval,
		},
		Tor:       TorSection{DataDir: DefaultTorDataDir, OnionPort: DefaultTorOnionPort, BootstrapTimeout: DefaultTorBootstrapTimeout},
		Faults:    FaultsSection{Delay: "0s", Jitter: "0s", Hold: "0s"},
		Authority: AuthoritySection{Parameters: p},
	}
}

// ParametersOf writes directory parameters as a [authority.parameters]
// section.
func ParametersOf(p directory.Parameters) ParametersSection {
	return ParametersSection{
		Hops: p.Hops, UserPayload: p.UserPayload, Mu: FormatDuration(p.Mu),
		LambdaP: p.LambdaP, LambdaL: p.LambdaL, LambdaD: p.LambdaD, LambdaM: p.LambdaM,
		EpochPeriod: FormatDuration(p.EpochPeriod), Grace: FormatDuration(p.Grace), Replicas: p.Replicas,
	}
}

// Parse reads and decodes a configuration file strictly: a syntax error, a
// value of the wrong type or a key loam-node does not know is an error that
// names the file, the line and the key. It does not check the values; Check
// does.
func Parse(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, configErr(path, "", fmt.Sprintf("cannot read the configuration: %v", unwrapPath(err)))
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxFileLen+1))
	if err != nil {
		return nil, configErr(path, "", fmt.Sprintf("cannot read the configuration: %v", unwrapPath(err)))
	}
	if len(b) > maxFileLen {
		return nil, configErr(path, "", fmt.Sprintf("larger than %d bytes; not a configuration file", maxFileLen))
	}
	return Decode(path, b)
}

// Decode is Parse of text already read; path names it in errors.
func Decode(path string, text []byte) (*File, error) {
	f := Defaults()
	md, err := toml.Decode(string(text), f)
	if err != nil {
		return nil, decodeErr(path, err)
	}
	if keys := md.Undecoded(); len(keys) > 0 {
		e := &Error{Path: path}
		for _, k := range keys {
			e.add(k.String(), "unknown key; loam-node has no such setting (misspelt, or in the wrong [section]?)")
		}
		return nil, e
	}
	if len(f.Tor.Torrc) == 0 {
		f.Tor.Torrc = nil // "torrc = []" is no lines, as is no key
	}
	if len(f.Faults.To) == 0 {
		f.Faults.To = nil // "to = []" is every next hop, as is no key
	}
	f.present = map[string]bool{}
	for _, k := range md.Keys() {
		f.present[k[0]] = true
	}
	return f, nil
}

// decodeErr turns a TOML error into one that names the file, the key and
// the line when the decoder knows them.
func decodeErr(path string, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return configErr(path, pe.LastKey, fmt.Sprintf("line %d: %s", pe.Position.Line, pe.Message))
	}
	// A value of the wrong type reads "toml: line N (last key "k"):
	// incompatible types: TOML value has type T; destination has type D".
	if m := typeErr.FindStringSubmatch(err.Error()); m != nil {
		return configErr(path, m[2], fmt.Sprintf("line %s: want %s %s; got %s %s", m[1], article(m[4]), m[4], article(m[3]), m[3]))
	}
	return configErr(path, "", strings.TrimPrefix(err.Error(), "toml: "))
}

var typeErr = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): incompatible types: TOML value has type ([\w-]+); destination has type ([\w-]+)`)

func article(noun string) string {
	if noun != "" && strings.ContainsRune("aeiou", rune(noun[0])) {
		return "an"
	}
	return "a"
}

// unwrapPath drops the path an *os.PathError repeats.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
