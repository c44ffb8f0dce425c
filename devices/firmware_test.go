package devices

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// testVendorKey is the key the golden firmware_update was signed with
// (seed 0x00..0x1f), so that the golden file's signature really verifies.
var testVendorKey = ed25519.NewKeyFromSeed(func() []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}())

func goldenFirmwareUpdate(t testing.TB) FirmwareUpdate {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "golden", "cmd", "firmware-update.json"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := DecodeCommand(raw)
	if err != nil {
		t.Fatal(err)
	}
	u, err := DecodeFirmwareUpdate(c.Args)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestFirmwareSignatureBindsTheManifest(t *testing.T) {
	u := goldenFirmwareUpdate(t)
	pub := testVendorKey.Public().(ed25519.PublicKey)
	if !u.VerifySignature(pub) {
		t.Fatal("the golden firmware_update's signature does not verify")
	}
	other, _, _ := ed25519.GenerateKey(nil)
	if u.VerifySignature(other) {
		t.Error("verified with another key")
	}
	// Each signed member changed alone must break the signature: a genuine
	// image may not be relabelled as another version or model.
	for name, change := range map[string]func(*FirmwareUpdate){
		"version": func(u *FirmwareUpdate) { u.Version = "2.5.1" },
		"model":   func(u *FirmwareUpdate) { u.Model = "DBH-100" },
		"size":    func(u *FirmwareUpdate) { u.Size++ },
		"sha256":  func(u *FirmwareUpdate) { u.SHA256 = hex.EncodeToString(make([]byte, 32)) },
	} {
		v := u
		change(&v)
		if v.VerifySignature(pub) {
			t.Errorf("signature still verifies with %s changed", name)
		}
	}
}

func TestDecodeFirmwareUpdateRefuses(t *testing.T) {
	good := goldenFirmwareUpdate(t)
	for name, tc := range map[string]struct {
		change func(*FirmwareUpdate)
		code   ErrorCode
	}{
		"ftp url":       {func(u *FirmwareUpdate) { u.URL = "ftp://gw/fw" }, CodeOutOfRange},
		"no host":       {func(u *FirmwareUpdate) { u.URL = "https:///fw" }, CodeOutOfRange},
		"version space": {func(u *FirmwareUpdate) { u.Version = "2.5 beta" }, CodeBadID},
		"long version":  {func(u *FirmwareUpdate) { u.Version = string(make([]byte, 41)) }, CodeBadID},
		"no model":      {func(u *FirmwareUpdate) { u.Model = "" }, CodeBadID},
		"zero size":     {func(u *FirmwareUpdate) { u.Size = 0 }, CodeOutOfRange},
		"huge size":     {func(u *FirmwareUpdate) { u.Size = MaxFirmwareSize + 1 }, CodeOutOfRange},
		"upper hex":     {func(u *FirmwareUpdate) { u.SHA256 = "A78E29DC57D83A0C45A90ABD4CAB1BDA1DD4827B7B5FC6F7793161AA32764B52" }, CodeOutOfRange},
		"short sig":     {func(u *FirmwareUpdate) { u.Signature = base64.StdEncoding.EncodeToString(make([]byte, 63)) }, CodeOutOfRange},
		"url-safe sig":  {func(u *FirmwareUpdate) { u.Signature = base64.URLEncoding.EncodeToString(make([]byte, 64)) + "-" }, CodeOutOfRange},
	} {
		u := good
		tc.change(&u)
		_, err := DecodeFirmwareUpdate(FirmwareUpdateArgs(u))
		if CodeOf(err) != tc.code {
			t.Errorf("%s: got %v, want code %s", name, err, tc.code)
		}
	}
	if _, err := DecodeFirmwareUpdate(nil); CodeOf(err) != CodeMissing {
		t.Errorf("no args: got %v, want missing_field", err)
	}
	if _, err := DecodeFirmwareUpdate(json.RawMessage(`{"size":"12"}`)); CodeOf(err) != CodeSyntax {
		t.Errorf("size as string: got %v, want bad_json", err)
	}
}

func TestFirmwareManifestMatchesTheDocs(t *testing.T) {
	sum := sha256.Sum256([]byte("x"))
	got := string(FirmwareManifest("DBH-200", "2.5.0", 1, hex.EncodeToString(sum[:])))
	want := "dolbom-firmware/v1\nDBH-200\n2.5.0\n1\n" + hex.EncodeToString(sum[:]) + "\n"
	if got != want {
		t.Errorf("manifest %q, want %q (docs/protocol.md section 11.3)", got, want)
	}
}

// FuzzDecodeFirmwareUpdate checks that the hub-side decoder of a
// firmware_update's args never panics, refuses only with a known code, and
// that what it accepts re-encodes to args it accepts as the same update.
func FuzzDecodeFirmwareUpdate(f *testing.F) {
	f.Add([]byte(FirmwareUpdateArgs(goldenFirmwareUpdate(f))))
	f.Add([]byte(`{"url":"http://h/x","version":"1","model":"m","size":1,"sha256":"` + hex.EncodeToString(make([]byte, 32)) + `","signature":"` + base64.StdEncoding.EncodeToString(make([]byte, 64)) + `"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, args []byte) {
		u, err := DecodeFirmwareUpdate(args)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		again, err := DecodeFirmwareUpdate(FirmwareUpdateArgs(u))
		if err != nil {
			t.Fatalf("re-encoded args refused: %v\nargs: %s", err, args)
		}
		if !reflect.DeepEqual(u, again) {
			t.Fatalf("re-decoded %+v, first %+v", again, u)
		}
	})
}
