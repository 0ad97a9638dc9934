package snowflake

import "time"

// FirstTry returns cfg with AcquireLease trying id first instead of a random
// id, so tests can make processes contend for one id or re-take a known one.
func FirstTry(cfg LeaseConfig, id int64) LeaseConfig {
	cfg.firstTry = id + 1
	return cfg
}

// TTLSeconds is the CQL TTL a lease of the given length writes.
var TTLSeconds = ttlSeconds

// WithClock makes g read the time from clock (tests step it).
func WithClock(g *Generator, clock func() time.Time) *Generator {
	g.clock = clock
	return g
}
