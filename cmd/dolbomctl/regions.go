package main

import (
	"context"
	"os"
	"strings"
)

// Regions and 119 routing (docs/operations.md).

// regionRoute serves "region route list|set|delete".
func (c *cli) regionRoute(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usageErrorf("which? one of delete, list, set")
	}
	switch verb, rest := args[0], args[1:]; verb {
	case "list":
		fs := c.flagSet("region route list")
		if _, err := parse(fs, rest); err != nil {
			return err
		}
		return c.call(ctx, "GET", "regions/routes", nil, nil)
	case "set":
		fs := c.flagSet("region route set")
		var endpoints listFlag
		fs.Var(&endpoints, "endpoint", "the 119 centre's CAP URL (repeatable; every message goes to each)")
		tokenFile := fs.String("token-file", "", "a file holding the bearer token the centre gave us (secrets are never flags)")
		pos, err := parse(fs, rest, "SIDO")
		if err != nil {
			return err
		}
		if len(endpoints) == 0 {
			return usageErrorf("--endpoint is required")
		}
		body := map[string]any{"endpoints": []string(endpoints)}
		if *tokenFile != "" {
			b, err := os.ReadFile(*tokenFile)
			if err != nil {
				return usageErrorf("--token-file: %v", err)
			}
			body["bearer_token"] = strings.TrimSpace(string(b))
		}
		return c.call(ctx, "PUT", pathEscape("regions", "routes", pos[0]), nil, body)
	case "delete":
		fs := c.flagSet("region route delete")
		pos, err := parse(fs, rest, "SIDO")
		if err != nil {
			return err
		}
		return c.call(ctx, "DELETE", pathEscape("regions", "routes", pos[0]), nil, nil)
	default:
		return usageErrorf("route %s: unknown; one of delete, list, set", verb)
	}
}

// regionList prints the 시도 and their 시군구 with their codes.
func (c *cli) regionList(ctx context.Context, args []string) error {
	fs := c.flagSet("region list")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	return c.call(ctx, "GET", "regions", nil, nil)
}
