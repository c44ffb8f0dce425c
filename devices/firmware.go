package devices

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
)

// CmdFirmwareUpdate asks a hub to download, verify, install and boot a
// firmware image (protocol section 11.3). Its args are a FirmwareUpdate.
const CmdFirmwareUpdate CommandType = "firmware_update"

// FirmwareStep is one step a hub reports, in an "accepted" acknowledgement,
// while it carries out a firmware_update.
type FirmwareStep string

const (
	StepDownloading FirmwareStep = "downloading" // fetching the image from the url
	StepVerified    FirmwareStep = "verified"    // size, SHA-256 and signature checked
	StepInstalling  FirmwareStep = "installing"  // writing the inactive slot
	StepRebooting   FirmwareStep = "rebooting"   // about to disconnect and boot the new slot
)

// Why a firmware_update failed: the "detail" of its failed acknowledgement.
// A closed list, so that a rollout can count failures by reason.
const (
	FwFailArgs      = "args"      // the command's args are not a valid firmware_update
	FwFailModel     = "model"     // the image is for another hardware model
	FwFailDownload  = "download"  // the url could not be fetched
	FwFailSize      = "size"      // the image's length is not args.size
	FwFailSHA256    = "sha256"    // the image's SHA-256 is not args.sha256
	FwFailSignature = "signature" // the signature does not verify with the hub's key
	FwFailInstall   = "install"   // writing the inactive slot failed
	FwFailBoot      = "boot"      // the new slot did not boot; the hub fell back to the old one
)

// FirmwareFailReasons lists the reason codes above.
var FirmwareFailReasons = []string{FwFailArgs, FwFailModel, FwFailDownload, FwFailSize, FwFailSHA256, FwFailSignature, FwFailInstall, FwFailBoot}

// MaxFirmwareSize bounds an image a hub is asked to fetch (64 MiB, far above
// any hub's flash): a larger size is a mistake, not an image.
const MaxFirmwareSize = 64 << 20

// MaxVersionLen is the length of a firmware version: the 40 bytes the
// gateway keeps of a status's "fw", so that the version a rollout sends and
// the one a hub reports compare equal.
const MaxVersionLen = 40

// FirmwareUpdate is the args of a firmware_update command.
type FirmwareUpdate struct {
	URL     string `json:"url"`     // http or https; the hub GETs it
	Version string `json:"version"` // what the hub reports in "fw" once it runs the image
	Model   string `json:"model"`   // the hardware model the image is for
	Size    int64  `json:"size"`    // bytes
	SHA256  string `json:"sha256"`  // lower-case hex of the image's SHA-256
	// Signature is the standard base64 of the ed25519 signature of
	// FirmwareManifest(Model, Version, Size, SHA256) by the vendor's key,
	// which hubs hold from the factory.
	Signature string `json:"signature"`
}

// ValidVersion reports whether s can be a firmware version: a token (ValidToken)
// of at most MaxVersionLen bytes.
func ValidVersion(s string) bool { return len(s) <= MaxVersionLen && ValidToken(s) }

// FirmwareManifest is the text the vendor signs for an image. Signing the
// model, version and size with the hash (rather than the image alone) means
// a genuine image cannot be passed off as another version or for another
// model: a hub checks what it was told against what was signed.
func FirmwareManifest(model, version string, size int64, sha256hex string) []byte {
	return []byte("dolbom-firmware/v1\n" + model + "\n" + version + "\n" + strconv.FormatInt(size, 10) + "\n" + sha256hex + "\n")
}

// Validate checks the args' form; it does not fetch or verify the image.
func (u FirmwareUpdate) Validate() error {
	p, err := url.Parse(u.URL)
	switch {
	case err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || len(u.URL) > 512:
		return errf(CodeOutOfRange, `"url" must be an http or https URL of at most 512 bytes, got `+quote(u.URL))
	case !ValidVersion(u.Version):
		return errf(CodeBadID, `"version" must be 1-40 characters of [A-Za-z0-9._:-], got `+quote(u.Version))
	case !ValidVersion(u.Model):
		return errf(CodeBadID, `"model" must be 1-40 characters of [A-Za-z0-9._:-], got `+quote(u.Model))
	case u.Size <= 0 || u.Size > MaxFirmwareSize:
		return errf(CodeOutOfRange, fmt.Sprintf(`"size" must be in 1..%d, got %d`, MaxFirmwareSize, u.Size))
	case !validSHA256Hex(u.SHA256):
		return errf(CodeOutOfRange, `"sha256" must be 64 lower-case hex digits, got `+quote(u.SHA256))
	}
	if sig, err := base64.StdEncoding.Strict().DecodeString(u.Signature); err != nil || len(sig) != ed25519.SignatureSize {
		return errf(CodeOutOfRange, `"signature" must be the standard base64 of a 64-byte ed25519 signature, got `+quote(u.Signature))
	}
	return nil
}

// VerifySignature reports whether the args' signature is the vendor's (pub)
// over their manifest. The hub also checks that the image it fetched has
// exactly Size bytes and hashes to SHA256; only then is the signature worth
// anything.
func (u FirmwareUpdate) VerifySignature(pub ed25519.PublicKey) bool {
	sig, err := base64.StdEncoding.Strict().DecodeString(u.Signature)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return false
	}
	return ed25519.Verify(pub, FirmwareManifest(u.Model, u.Version, u.Size, u.SHA256), sig)
}

func validSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// DecodeFirmwareUpdate parses and validates a firmware_update command's args
// (the hub side). Unknown members are ignored, as hubs must (section 11.1).
func DecodeFirmwareUpdate(args json.RawMessage) (FirmwareUpdate, error) {
	if len(args) == 0 {
		return FirmwareUpdate{}, errf(CodeMissing, `"args" is required for firmware_update`)
	}
	var u FirmwareUpdate
	if err := unmarshal(args, &u); err != nil {
		return FirmwareUpdate{}, err
	}
	if err := u.Validate(); err != nil {
		return FirmwareUpdate{}, err
	}
	return u, nil
}

// FirmwareUpdateArgs encodes u as a command's args.
func FirmwareUpdateArgs(u FirmwareUpdate) json.RawMessage { return mustMarshal(u) }
