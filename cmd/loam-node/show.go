package main

import (
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"loam/cmd/loam-node/nodeconfig"
)

type showOptions struct {
	config string
	json   bool
}

var showCommand = &command{
	name:    "show",
	summary: "print the node's public identity",
	usage:   "show -c node.toml [--json]",
	help: `
Prints what others need to know of this node: role, name, node id, identity
key and link key. For an authority it prints the [[directory.authorities]]
entry to paste into every node's and every other authority's node.toml.
The authorities need not be filled in yet.`,
	flags: func(fs *flag.FlagSet) any {
		o := &showOptions{}
		fs.StringVar(&o.config, "c", "", "the node's configuration `FILE` (required)")
		fs.StringVar(&o.config, "config", "", "same as -c")
		fs.BoolVar(&o.json, "json", false, "print JSON")
		return o
	},
	run: func(c *command, opts any, stdout, stderr io.Writer) int {
		return runShow(c, opts.(*showOptions), stdout, stderr)
	},
}

// identity is what `show --json` prints.
type identity struct {
	Role        string `json:"role"`
	Name        string `json:"name"`
	Layer       int    `json:"layer,omitempty"`
	NodeID      string `json:"node_id,omitempty"`
	IdentityKey string `json:"identity_key"`
	LinkKey     string `json:"link_key,omitempty"`
	// Address is a node's link address as published (advertise, else
	// listen); Listen is an authority's HTTP listener.
	Address  string   `json:"address,omitempty"`
	Listen   string   `json:"listen,omitempty"`
	Metrics  string   `json:"metrics_listen,omitempty"`
	Services []string `json:"services,omitempty"`
	// Authority is an authority's [[directory.authorities]] entry.
	Authority *nodeconfig.AuthorityEntry `json:"authority,omitempty"`
}

func runShow(c *command, o *showOptions, stdout, stderr io.Writer) int {
	if o.config == "" {
		return usageError(stderr, c, "-c is required: the node's configuration file")
	}
	cfg, err := nodeconfig.LoadIdentity(o.config)
	if err != nil {
		return fail(stderr, c, err)
	}
	id := describe(cfg)
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(id); err != nil {
			return fail(stderr, c, err)
		}
		return exitOK
	}
	role := id.Role
	if id.Layer != 0 {
		role = fmt.Sprintf("mix (layer %d)", id.Layer)
	}
	fmt.Fprintf(stdout, "role:          %s\nname:          %s\n", role, id.Name)
	if id.NodeID != "" {
		fmt.Fprintf(stdout, "node id:       %s\n", id.NodeID)
	}
	fmt.Fprintf(stdout, "identity key:  %s\n", id.IdentityKey)
	if id.LinkKey != "" {
		fmt.Fprintf(stdout, "link key:      %s\naddress:       %s\n", id.LinkKey, id.Address)
	}
	if len(id.Services) > 0 {
		fmt.Fprintf(stdout, "services:      %v\n", id.Services)
	}
	if a := id.Authority; a != nil {
		fmt.Fprintf(stdout, "listen:        %s\nurl:           %s\n", id.Listen, a.URL)
		fmt.Fprintf(stdout, "\nAdd to every node's and every other authority's node.toml:\n\n")
		fmt.Fprintf(stdout, "[[directory.authorities]]\nkey = %q\nurl = %q\n", a.Key, a.URL)
	}
	return exitOK
}

func describe(cfg *nodeconfig.Config) identity {
	pub := cfg.Identity.Public().(ed25519.PublicKey)
	id := identity{Role: string(cfg.Role), Name: cfg.Name, Layer: cfg.Layer,
		IdentityKey: nodeconfig.EncodeKey(pub), Metrics: cfg.MetricsListen}
	if cfg.Role == nodeconfig.RoleAuthority {
		id.Listen = cfg.AuthorityListen
		url := "http://" + cfg.AuthorityListen // until the file lists this authority
		if self := cfg.Self(); self != nil {
			url = self.URL
		}
		id.Authority = &nodeconfig.AuthorityEntry{Key: id.IdentityKey, URL: url}
		return id
	}
	id.NodeID = cfg.NodeID().String()
	id.LinkKey = nodeconfig.EncodeKey(cfg.Link.Public[:])
	id.Address = cfg.Advertise
	if id.Address == "" {
		id.Address = cfg.Listen
	}
	id.Services = cfg.Services
	return id
}
