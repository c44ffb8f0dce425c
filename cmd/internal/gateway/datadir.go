package gateway

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/console/api"
	"github.com/dolbom/dolbom/dispatch/cap"
	"github.com/dolbom/dolbom/store"
)

// dataFiles are the files the gateway keeps in its data folder: the
// embedded database (residents' names, phones, addresses, medical notes),
// its readings and saved-state databases, with SQLite's companions, the key
// that seals door codes, the admin token and the first admin password,
// 119's answer token, the demo hub's secret.
func dataFiles(dir string) []string {
	var files []string
	for _, db := range []string{store.SQLitePath(dir), store.ReadingsPath(dir), store.StatePath(dir)} {
		files = append(files, db, db+"-wal", db+"-shm", db+"-journal")
	}
	return append(files, filepath.Join(dir, store.KeyFile), api.AdminTokenFile(dir), console.BootstrapPasswordFile(dir),
		cap.AnswerTokenFile(dir), filepath.Join(dir, demoFile))
}

// privateDataDir takes every permission for group and others off the data
// folder (0700) and the files the gateway keeps in it (0600), whatever made
// them looser: a folder that existed before, an older version, a copy, a
// container volume. Only the gateway's own files are touched, never
// anything else an operator keeps there (a folder such as $HOME is still
// closed to others by its own mode). It returns what it changed.
func privateDataDir(dir string) ([]string, error) {
	var changed []string
	tighten := func(path string, mustExist bool) error {
		// A symbolic link (a key kept elsewhere) is followed: what it
		// points at holds the secret.
		info, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) && !mustExist {
			return nil
		}
		if err != nil {
			return err
		}
		perm := info.Mode().Perm()
		if perm&0o077 == 0 {
			return nil
		}
		if err := os.Chmod(path, perm&^0o077); err != nil {
			return err
		}
		changed = append(changed, path)
		return nil
	}
	if err := tighten(dir, true); err != nil {
		return nil, fmt.Errorf("gateway: data folder: %w", err)
	}
	for _, path := range dataFiles(dir) {
		if err := tighten(path, false); err != nil {
			return changed, fmt.Errorf("gateway: data folder: %w", err)
		}
	}
	return changed, nil
}
