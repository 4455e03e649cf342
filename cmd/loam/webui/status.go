package webui

import (
	"fmt"

	"loam/mixnet"
)

// ClientStatus reports a connected client's state for the status page;
// tor says whether its gateway link goes through Tor.
func ClientStatus(mc *mixnet.Client, tor bool) Status {
	st := Status{Tor: tor}
	if mc == nil {
		st.Error = "not connected to the network"
		return st
	}
	connected, gateway, stale := mc.Status()
	st.Connected, st.Gateway = connected, gateway
	doc, err := mc.Document()
	switch {
	case stale != nil:
		st.Directory = stale.Error()
	case err != nil:
		st.Directory = err.Error()
	default:
		st.Directory = fmt.Sprintf("epoch %d, %d nodes, verified", doc.Epoch, len(doc.Nodes))
	}
	if stats, loops, ok := mc.CoverStatus(); ok {
		st.Cover = true
		if err == nil {
			st.RealOrDropRate, st.LoopRate, st.DropRate = doc.Params.LambdaP, doc.Params.LambdaL, doc.Params.LambdaD
		}
		st.RealSent, st.DropSent, st.LoopSent = stats.Real, stats.Drop+stats.DropStream, stats.Loop
		st.Pending = stats.Queued
		st.LoopAlarm = loops.Alarm
	}
	return st
}
