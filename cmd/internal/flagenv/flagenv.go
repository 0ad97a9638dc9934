// Package flagenv defines command-line flags whose defaults come from
// RINGCHAT_* environment variables, so a flag beats the environment and a
// variable that does not parse is an error, never silently ignored.
package flagenv

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Set is a flag set plus the environment errors found while defining it.
type Set struct {
	FS   *flag.FlagSet
	errs []error
}

// New makes an empty set for the named command.
func New(name string) *Set {
	return &Set{FS: flag.NewFlagSet(name, flag.ContinueOnError)}
}

// EnvName is the variable for a flag: listen -> RINGCHAT_LISTEN.
func EnvName(flagName string) string {
	return "RINGCHAT_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (s *Set) env(name string) (string, bool) { return os.LookupEnv(EnvName(name)) }

func (s *Set) bad(name, v string, err error) {
	s.errs = append(s.errs, fmt.Errorf("%s=%q: %w", EnvName(name), v, err))
}

func usage(name, text string) string { return text + " (" + EnvName(name) + ")" }

// String defines a string flag.
func (s *Set) String(p *string, name, def, text string) {
	if v, ok := s.env(name); ok {
		def = v
	}
	s.FS.StringVar(p, name, def, usage(name, text))
}

// Secret defines a string flag whose value from the environment is never
// shown as its default in the usage text (--help output ends up in logs).
func (s *Set) Secret(p *string, name, text string) {
	s.FS.StringVar(p, name, "", usage(name, text))
	if v, ok := s.env(name); ok {
		*p = v
	}
}

// Duration defines a duration flag.
func (s *Set) Duration(p *time.Duration, name string, def time.Duration, text string) {
	if v, ok := s.env(name); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			s.bad(name, v, err)
		}
		def = d
	}
	s.FS.DurationVar(p, name, def, usage(name, text))
}

// Int defines an int flag.
func (s *Set) Int(p *int, name string, def int, text string) {
	if v, ok := s.env(name); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			s.bad(name, v, err)
		}
		def = n
	}
	s.FS.IntVar(p, name, def, usage(name, text))
}

// Parse reports environment errors first, then parses args.
func (s *Set) Parse(args []string) error {
	if err := errors.Join(s.errs...); err != nil {
		return err
	}
	return s.FS.Parse(args)
}
