package console

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dolbom/dolbom/devices"
)

// BootstrapAdminID is the account created at first start.
const BootstrapAdminID = "admin"

// BootstrapPasswordFile is where BootstrapAdmin writes the first admin's
// password, readable by the owner only.
func BootstrapPasswordFile(dataDir string) string {
	return filepath.Join(dataDir, "admin-password.txt")
}

// BootstrapAdmin creates the account "admin" with a generated password when
// no account exists at all, so that a fresh gateway can be signed in to
// without any other tool. It writes the password (mode 0600) to
// BootstrapPasswordFile and returns it with created true, for dolbomd to
// print once; the admin should change it and delete the file. With any
// account present it does nothing and returns created false.
func BootstrapAdmin(ctx context.Context, accounts AccountStore, dataDir string) (password string, created bool, err error) {
	n, err := accounts.CountAccounts(ctx)
	if err != nil {
		return "", false, fmt.Errorf("console: bootstrap admin: %w", err)
	}
	if n > 0 {
		return "", false, nil
	}
	// 18 random bytes: 24 characters, easy to copy, 144 bits.
	password = RandomToken()[:24]
	file := BootstrapPasswordFile(dataDir)
	if err := os.WriteFile(file, []byte(password+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("console: bootstrap admin: %w", err)
	}
	if err := os.Chmod(file, 0o600); err != nil { // WriteFile keeps the mode of an existing file
		return "", false, fmt.Errorf("console: bootstrap admin: %w", err)
	}
	err = accounts.CreateAccount(ctx, Account{ID: BootstrapAdminID, Name: "Administrator", Role: RoleAdmin, PasswordHash: HashPassword(password)})
	if err != nil {
		_ = os.Remove(file)
		if errors.Is(err, devices.ErrConflict) { // another gateway on the same database was first
			return "", false, nil
		}
		return "", false, fmt.Errorf("console: bootstrap admin: %w", err)
	}
	return password, true, nil
}
