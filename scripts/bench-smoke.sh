#!/usr/bin/env bash
# CI's benchmark smoke run: a small seed (checked: its cache equals the ledger, its events are
# numbered in the feed, and it ends with every index and constraint the migrations define), three
# short scenarios (a read, and webhook ingestion by customer id and by M-Pesa payer) and the
# overload burst, failing on any non-2xx answer, inexact totals, or an overload answer other than
# 200 or 503 "Service overloaded". The full run is `npm run bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
url=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/payme_ci_bench}
psql "${url%/*}/postgres" -qc "drop database if exists ${url##*/} with (force)"
DATABASE_URL=$url npm run -s seed -- --customers 20000 --business 5 --sales 40000
DATABASE_URL=$url npm run -s recompute -- --business 5 --check
# The seed's events are in the feed, in id order, as the delivery loop would have numbered them.
unnumbered=$(psql "$url" -Atc "select count(*) filter (where position is null)
  + count(*) filter (where position < behind) from (select position,
    lag(position) over (partition by business_id order by id) as behind from customer_events) e")
[ "$unnumbered" = 0 ] || { echo "seed: $unnumbered events unnumbered or out of order" >&2; exit 1; }
migrated=${url}_migrated
psql "${url%/*}/postgres" -qc "drop database if exists ${migrated##*/} with (force)" -c "create database ${migrated##*/}"
DATABASE_URL=$migrated npm run -s migrate >/dev/null
indexes="select indexdef from pg_indexes where schemaname = 'public' order by 1"
diff <(psql "$migrated" -Atc "$indexes") <(psql "$url" -Atc "$indexes")
constraints="select conrelid::regclass || ' ' || pg_get_constraintdef(oid) from pg_constraint
  where connamespace = 'public'::regnamespace order by 1"
diff <(psql "$migrated" -Atc "$constraints") <(psql "$url" -Atc "$constraints")
psql "${url%/*}/postgres" -qc "drop database ${migrated##*/} with (force)"
out=$(mktemp -d)
DATABASE_URL=$url npm run -s bench -- --scenarios 'get customer,distinct customers,payer match,overload' --duration 3 --warmup 1 --check --out "$out"
psql "${url%/*}/postgres" -qc "drop database if exists ${url##*/} with (force)"
