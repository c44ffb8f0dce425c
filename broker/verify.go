package broker

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"hash"
	"sync"

	"github.com/dolbom/dolbom/devices"
)

// verifier checks hub secrets. SHA-256 hashes (devices.HashHubSecret, every
// hub provisioned now) are checked inline. Legacy argon2id hashes are
// checked on a fixed
// pool of workers, so that a flood of CONNECTs queues instead of taking
// every core (and so that argon2's stack stays on a few goroutines rather
// than growing every connection's). After a success it remembers a keyed
// MAC of (stored hash, presented secret): a reconnect then costs one
// HMAC-SHA256 instead of argon2id. The MAC key is random per process, so the
// cache holds nothing an attacker could reuse, and including the stored hash
// means a rotated secret misses the cache by itself.
type verifier struct {
	key   []byte
	jobs  chan verifyJob
	mu    sync.RWMutex
	cache map[devices.HubID][sha256.Size]byte
	macs  sync.Pool // of *macState keyed with key
}

type verifyJob struct {
	hash, secret string
	reply        chan verifyResult
}

type verifyResult struct {
	ok  bool
	err error
}

func newVerifier() *verifier {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // never fails on Linux (Go >= 1.24)
	return &verifier{key: key, jobs: make(chan verifyJob), cache: make(map[devices.HubID][sha256.Size]byte)}
}

// run serves verifications on n workers until ctx ends.
func (v *verifier) run(ctx context.Context, n int, wg *sync.WaitGroup) {
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-v.jobs:
					ok, err := devices.VerifySecret(j.hash, j.secret)
					j.reply <- verifyResult{ok, err}
				}
			}
		}()
	}
}

// macState is one keyed HMAC and its input buffer, reused from reconnect
// to reconnect: a fresh HMAC and its input cost ~600 B per CONNECT
// (docs/performance.md, "Per-message costs").
type macState struct {
	h   hash.Hash
	in  []byte
	sum []byte
}

func (v *verifier) mac(hash, secret string) [sha256.Size]byte {
	st, _ := v.macs.Get().(*macState)
	if st == nil {
		st = &macState{h: hmac.New(sha256.New, v.key)}
	}
	st.h.Reset() // back to the keyed state
	st.in = append(append(append(st.in[:0], hash...), 0), secret...)
	st.h.Write(st.in)
	st.sum = st.h.Sum(st.sum[:0])
	var out [sha256.Size]byte
	copy(out[:], st.sum)
	clear(st.in) // the secret does not stay in the pool
	v.macs.Put(st)
	return out
}

// check reports whether secret is the hub's. cached says the cache answered.
// It returns ctx's error when no worker took the job in time.
func (v *verifier) check(ctx context.Context, hub devices.HubID, hash, secret string) (ok, cached bool, err error) {
	if devices.IsFastSecretHash(hash) {
		// A SHA-256 hash costs less than the cache's own HMAC: verify
		// on the caller's goroutine, keep nothing.
		ok, err := devices.VerifySecret(hash, secret)
		return ok, false, err
	}
	m := v.mac(hash, secret)
	v.mu.RLock()
	known, hit := v.cache[hub]
	v.mu.RUnlock()
	if hit && hmac.Equal(known[:], m[:]) {
		return true, true, nil
	}
	j := verifyJob{hash: hash, secret: secret, reply: make(chan verifyResult, 1)}
	select {
	case v.jobs <- j:
	case <-ctx.Done():
		return false, false, ctx.Err()
	}
	r := <-j.reply // a worker that took the job always answers
	if r.err != nil || !r.ok {
		return false, false, r.err
	}
	v.mu.Lock()
	v.cache[hub] = m
	v.mu.Unlock()
	return true, false, nil
}

func (v *verifier) forget(hub devices.HubID) {
	v.mu.Lock()
	delete(v.cache, hub)
	v.mu.Unlock()
}
