#!/usr/bin/env bash
# CI's benchmark smoke run: a small seed, two short scenarios (a read and webhook ingestion),
# failing on any non-2xx answer or inexact totals. The full run is `npm run bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
url=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/payme_ci_bench}
psql "${url%/*}/postgres" -qc "drop database if exists ${url##*/} with (force)"
DATABASE_URL=$url npm run -s seed -- --customers 20000 --business 5 --sales 40000
out=$(mktemp -d)
DATABASE_URL=$url npm run -s bench -- --scenarios 'get customer,distinct customers' --duration 3 --warmup 1 --check --out "$out"
psql "${url%/*}/postgres" -qc "drop database if exists ${url##*/} with (force)"
