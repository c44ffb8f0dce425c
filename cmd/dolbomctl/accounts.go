package main

import "context"

// Accounts' regions (docs/operations.md: scoping).

// accountList prints the console's accounts with their regions.
func (c *cli) accountList(ctx context.Context, args []string) error {
	fs := c.flagSet("account list")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	return c.call(ctx, "GET", "accounts", nil, nil)
}

// accountRegions sets an account's regions: "account regions ID
// --region 26 --region 27"; --national clears them.
func (c *cli) accountRegions(ctx context.Context, args []string) error {
	fs := c.flagSet("account regions")
	var regions listFlag
	fs.Var(&regions, "region", "a 시도 or 시군구, by code or name (\"26\", \"부산\", \"부산 해운대구\"); repeatable")
	national := fs.Bool("national", false, "no region: the account sees the whole country")
	pos, err := parse(fs, args, "ID")
	if err != nil {
		return err
	}
	switch {
	case *national && len(regions) > 0:
		return usageErrorf("--national or --region, not both")
	case !*national && len(regions) == 0:
		return usageErrorf("--region (repeatable) or --national is required")
	}
	return c.call(ctx, "PUT", pathEscape("accounts", pos[0], "regions"), nil, map[string]any{"regions": append([]string{}, regions...)})
}

// accountToken gives an admin or dispatcher account a bearer token of its
// own, printed once: "account token ID". The token sees what the account
// sees (its regions); use it as --token / DOLBOM_ADMIN_TOKEN.
func (c *cli) accountToken(ctx context.Context, args []string) error {
	pos, err := parse(c.flagSet("account token"), args, "ID")
	if err != nil {
		return err
	}
	return c.call(ctx, "POST", pathEscape("accounts", pos[0], "tokens"), nil, nil)
}

// accountRevoke ends every API token of an account: "account revoke ID".
func (c *cli) accountRevoke(ctx context.Context, args []string) error {
	pos, err := parse(c.flagSet("account revoke"), args, "ID")
	if err != nil {
		return err
	}
	return c.call(ctx, "DELETE", pathEscape("accounts", pos[0], "tokens"), nil, nil)
}
