package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// session is what login keeps between runs: the token is a credential, so
// the file is the user's alone (0600 in a 0700 folder).
type session struct {
	Server   string `json:"server"`
	Token    string `json:"token,omitempty"`
	UserID   string `json:"user_id,omitempty"`
	Handle   string `json:"handle,omitempty"`
	DeviceID string `json:"device_id,omitempty"`
}

func sessionPath(dir string) string { return filepath.Join(dir, "session.json") }

// defaultConfigDir is the OS's per-user config folder (XDG_CONFIG_HOME or
// ~/.config on Linux).
func defaultConfigDir() string {
	d, err := os.UserConfigDir()
	if err != nil {
		return ".ringchat"
	}
	return filepath.Join(d, "ringchat")
}

func loadSession(dir string) (session, error) {
	var s session
	b, err := os.ReadFile(sessionPath(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("read session: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("session file %s is damaged (log in again): %w", sessionPath(dir), err)
	}
	return s, nil
}

// save writes the session whole or not at all: a temporary file in the same
// folder, created 0600, renamed over the old one.
func (s session) save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("config folder: %w", err)
	}
	// A folder made looser before (by hand, or by another tool) is ours to tighten.
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("config folder: %w", err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "session-*.tmp") // CreateTemp makes it 0600
	if err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("save session: %w", err)
	}
	if err := f.Sync(); err != nil { // on disk before it replaces the old one
		f.Close()
		return fmt.Errorf("save session: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	if err := os.Rename(f.Name(), sessionPath(dir)); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	return nil
}
