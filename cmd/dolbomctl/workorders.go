package main

import (
	"context"
	"net/url"
)

// workOrderList lists work orders: "workorder list [--status open]
// [--resident ID] [--hub ID]" (the resident's history with --resident).
func (c *cli) workOrderList(ctx context.Context, args []string) error {
	fs := c.flagSet("workorder list")
	status := fs.String("status", "", "open or closed (default both)")
	resident := fs.String("resident", "", "the orders of this resident: their history")
	hub := fs.String("hub", "", "the orders of this hub")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range map[string]string{"status": *status, "resident_id": *resident, "hub": *hub} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return c.call(ctx, "GET", "workorders", q, nil)
}

// workOrderClose closes an order with what was replaced: "workorder
// close ID --by TECHNICIAN --replaced 'battery CR123A'".
func (c *cli) workOrderClose(ctx context.Context, args []string) error {
	fs := c.flagSet("workorder close")
	by := fs.String("by", "", "who did the work (required)")
	replaced := fs.String("replaced", "", "what was replaced or done (required)")
	pos, err := parse(fs, args, "ID")
	if err != nil {
		return err
	}
	if *by == "" || *replaced == "" {
		return usageErrorf("--by and --replaced are required")
	}
	return c.call(ctx, "POST", pathEscape("workorders", pos[0], "close"), nil, map[string]string{"by": *by, "replaced": *replaced})
}

// technicianSet creates or replaces a technician: "technician set ID
// --name N --phone P --region R [--lang en]".
func (c *cli) technicianSet(ctx context.Context, args []string) error {
	fs := c.flagSet("technician set")
	name := fs.String("name", "", "the technician's name")
	phone := fs.String("phone", "", "their mobile number, for the work orders' SMS (required)")
	region := fs.String("region", "", "a 시도 or 시군구, code or name (required)")
	lang := fs.String("lang", "", "ko (default) or en")
	pos, err := parse(fs, args, "ID")
	if err != nil {
		return err
	}
	if *phone == "" || *region == "" {
		return usageErrorf("--phone and --region are required")
	}
	return c.call(ctx, "PUT", pathEscape("technicians", pos[0]), nil, map[string]string{"name": *name, "phone": *phone, "region": *region, "lang": *lang})
}

func (c *cli) technicianList(ctx context.Context, args []string) error {
	if _, err := parse(c.flagSet("technician list"), args); err != nil {
		return err
	}
	return c.call(ctx, "GET", "technicians", nil, nil)
}
