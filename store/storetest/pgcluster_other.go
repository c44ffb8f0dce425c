//go:build !linux

package storetest

import "testing"

// Cluster is a private PostgreSQL cluster (Linux only).
type Cluster struct{ URL string }

// PrivatePostgres skips the test off Linux.
func PrivatePostgres(t testing.TB) *Cluster {
	t.Skip("a private PostgreSQL cluster to freeze needs Linux")
	return nil
}

func (c *Cluster) Stop(t testing.TB)     {}
func (c *Cluster) Continue(t testing.TB) {}
