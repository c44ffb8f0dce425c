#!/bin/bash
# scripts/national-round.sh OUTDIR STEP...
# The measurements of issue 14 (docs/performance.md, "National load at 300,000 homes"), each
# with its JSON report, gctrace and profiles in OUTDIR. Run `make build` first, on a machine with
# nothing else running (the figures are the machine's: see docs/performance.md on noise).
# a3 = 3 x 300k/3m; o = overload 450k/max 300k; r = restart embedded; rp = restart on PostgreSQL;
# r0 = restart embedded with --connect-yield-at 0; f = flood vs mosquitto; d = durable PUBACK bench (both stores);
# ro = a firmware rollout to 300,000 hubs with 3% failures (issue 18); c1 c2 c3 = the cluster contract at 30,000 (issue 16)
set -u
OUT=$(realpath -m "$1"); shift; mkdir -p "$OUT"
cd "$(dirname "$0")/.."
export DOLBOM_COMMIT=$(git rev-parse --short HEAD)$(git diff --quiet || echo -dirty)
SIM=./bin/dolbom-sim
log() { echo "$(date -u +%H:%M:%S) $*" | tee -a "$OUT/quiet.log"; }
pre() { log "start $1 (load $(cut -d' ' -f1-3 /proc/loadavg)) commit $DOLBOM_COMMIT"; }
for step in "$@"; do
  case $step in
  a3) for n in 1 2 3; do pre a3-$n; rm -rf /tmp/simdata-q$n
        GODEBUG=gctrace=1 $SIM load --homes 300000 --duration 3m --json --data-dir /tmp/simdata-q$n --cpuprofile "$OUT/a3-$n.cpu" --cpuprofile-steady > "$OUT/a3-$n.json" 2> "$OUT/a3-$n.err"
        rm -rf /tmp/simdata-q$n; python3 scripts/loadsum.py "$OUT/a3-$n.json" | tee -a "$OUT/quiet.log"; done ;;
  o) pre o; GODEBUG=gctrace=1 $SIM load --homes 450000 --max-hubs 300000 --duration 3m --json > "$OUT/o.json" 2> "$OUT/o.err"
     python3 scripts/loadsum.py "$OUT/o.json" | tee -a "$OUT/quiet.log" ;;
  r|r0) pre $step; rm -rf /tmp/simdata-r; extra=""; [ $step = r0 ] && extra="--connect-yield-at 0"
     GODEBUG=gctrace=1 $SIM load --homes 300000 --duration 5m --restart-at 2m --drain 30s --json --data-dir /tmp/simdata-r $extra > "$OUT/$step.json" 2> "$OUT/$step.err"
     rm -rf /tmp/simdata-r; python3 scripts/loadsum.py "$OUT/$step.json" | tee -a "$OUT/quiet.log" ;;
  rp) pre rp; export DOLBOM_PGTEST_STATE=/tmp/pgq.state
     DOLBOM_PGTEST_OPTS="-c shared_buffers=1GB -c max_wal_size=16GB -c checkpoint_timeout=30min -c wal_buffers=64MB" scripts/pgtest.sh start > "$OUT/pg.env" 2>>"$OUT/pg.err"
     url=$(sed -n 's/^DOLBOM_TEST_DATABASE_URL=//p' "$OUT/pg.env" | tail -1)
     rm -rf /tmp/simdata-rp
     GODEBUG=gctrace=1 $SIM load --homes 300000 --duration 5m --restart-at 2m --drain 30s --json --data-dir /tmp/simdata-rp --database-url "$url" > "$OUT/rp.json" 2> "$OUT/rp.err"
     rm -rf /tmp/simdata-rp; scripts/pgtest.sh stop 2>>"$OUT/pg.err"; unset DOLBOM_PGTEST_STATE
     python3 scripts/loadsum.py "$OUT/rp.json" | tee -a "$OUT/quiet.log" ;;
  f) pre f; scripts/flood-compare.sh 1000 20s > "$OUT/f.txt" 2>"$OUT/f.err"; grep -i ratio "$OUT/f.txt" | tail -5 | tee -a "$OUT/quiet.log" ;;
  d) pre d  # SQLite first, with no PostgreSQL running: a cluster flushing its own run's WAL slowed SQLite's fsyncs (p99 16-38 ms)
     for n in 1 2 3; do go test -run '^$' -bench 'EventPublishToPuback/backend=sqlite/mix=fleet' -benchtime 10000x ./cmd/internal/gateway/ > "$OUT/d-sqlite-$n.txt" 2>&1
       grep "^Benchmark" "$OUT/d-sqlite-$n.txt" | tee -a "$OUT/quiet.log"; done
     export DOLBOM_PGTEST_STATE=/tmp/pgd.state; scripts/pgtest.sh start > "$OUT/pgd.env" 2>>"$OUT/pg.err"
     url=$(sed -n 's/^DOLBOM_TEST_DATABASE_URL=//p' "$OUT/pgd.env" | tail -1)
     for n in 1 2 3; do DOLBOM_TEST_DATABASE_URL="$url" go test -run '^$' -bench 'EventPublishToPuback/backend=postgres/mix=fleet' -benchtime 10000x ./cmd/internal/gateway/ > "$OUT/d-pg-$n.txt" 2>&1
       grep "^Benchmark" "$OUT/d-pg-$n.txt" | tee -a "$OUT/quiet.log"; done
     scripts/pgtest.sh stop 2>>"$OUT/pg.err"; unset DOLBOM_PGTEST_STATE ;;
  ro) pre ro; rm -rf /tmp/simdata-ro
     $SIM rollout --homes 300000 --canary 1 --halt-on-failures 2 --ota-failure-rate 0.03 --json --data-dir /tmp/simdata-ro > "$OUT/ro.json" 2> "$OUT/ro.err"
     rm -rf /tmp/simdata-ro; head -c 1500 "$OUT/ro.json" | tee -a "$OUT/quiet.log"; echo | tee -a "$OUT/quiet.log" ;;
  c1|c2|c3) pre $step
     $SIM cluster --pgtest scripts/pgtest.sh --nodes 3 --homes 30000 --duration 5m --kill-at 2m \
       --pause-at 3m --pause-for 45s --restart-killed 40s --json > "$OUT/$step.json" 2> "$OUT/$step.err"
     head -c 1500 "$OUT/$step.json" | tee -a "$OUT/quiet.log"; echo | tee -a "$OUT/quiet.log" ;;
  *) log "unknown step $step" ;;
  esac
done
log done
