package devices

import (
	"fmt"
	"testing"
)

func TestSecretHashRoundTrip(t *testing.T) {
	secret := NewSecret()
	if len(secret) != 43 {
		t.Fatalf("secret length %d, want 43", len(secret))
	}
	h := HashSecret(secret, LegacyHubSecretParams)
	if ok, err := VerifySecret(h, secret); !ok || err != nil {
		t.Fatalf("VerifySecret(own secret) = %v, %v", ok, err)
	}
	if ok, err := VerifySecret(h, secret+"x"); ok || err != nil {
		t.Fatalf("VerifySecret(wrong secret) = %v, %v", ok, err)
	}
	if h2 := HashSecret(secret, LegacyHubSecretParams); h2 == h {
		t.Fatal("two hashes of one secret are equal: salt not random")
	}
	for _, bad := range []string{"", "plain", "$argon2id$v=19$m=x$a$b", "$bcrypt$v=19$m=1,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=9999999,t=1,p=1$AAAA$AAAA",
		"$sha256$", "$sha256$!!!", "$sha256$AAAA"} {
		if _, err := VerifySecret(bad, secret); err == nil {
			t.Errorf("VerifySecret(%q) accepted a malformed hash", bad)
		}
	}
}

func TestHubSecretHash(t *testing.T) {
	secret := NewSecret()
	h := HashHubSecret(secret)
	if !IsFastSecretHash(h) || IsFastSecretHash(HashSecret(secret, LegacyHubSecretParams)) {
		t.Fatalf("IsFastSecretHash wrong for %q", h)
	}
	if ok, err := VerifySecret(h, secret); !ok || err != nil {
		t.Fatalf("VerifySecret(own secret) = %v, %v", ok, err)
	}
	for _, wrong := range []string{"", secret + "x", secret[:42], NewSecret()} {
		if ok, err := VerifySecret(h, wrong); ok || err != nil {
			t.Fatalf("VerifySecret(%q) = %v, %v, want false, nil", wrong, ok, err)
		}
	}
	// Legacy argon2id hub hashes keep verifying.
	old := HashSecret(secret, LegacyHubSecretParams)
	if ok, err := VerifySecret(old, secret); !ok || err != nil {
		t.Fatalf("legacy hash: %v, %v", ok, err)
	}
}

func BenchmarkVerifyHubSecret(b *testing.B) {
	secret := NewSecret()
	h := HashHubSecret(secret)
	b.ReportAllocs()
	for b.Loop() {
		if ok, _ := VerifySecret(h, secret); !ok {
			b.Fatal("mismatch")
		}
	}
}

func BenchmarkVerifySecret(b *testing.B) {
	for _, p := range []SecretParams{LegacyHubSecretParams, {Time: 1, Memory: 1024, Threads: 1}, {Time: 2, Memory: 19 * 1024, Threads: 1}} {
		secret := NewSecret()
		h := HashSecret(secret, p)
		b.Run(fmt.Sprintf("m=%dKiB/t=%d", p.Memory, p.Time), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if ok, _ := VerifySecret(h, secret); !ok {
					b.Fatal("mismatch")
				}
			}
		})
	}
}
