package api

import "sort"

// FrameTypes lists the client frame types the socket dispatches (tests only).
func FrameTypes() []string {
	types := make([]string, 0, len(frameHandlers))
	for t := range frameHandlers {
		types = append(types, t)
	}
	sort.Strings(types)
	return types
}
