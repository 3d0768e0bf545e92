#!/usr/bin/env bash
# Starts the service as a new user would (`npm start`, embedded PostgreSQL, no configuration),
# gets a token from `npm run token`, creates and reads a customer, then stops it with SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/.."

data_dir=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
log="$data_dir/start.log"
export DATA_DIR="$data_dir" PORT="$port"
unset DATABASE_URL JWT_SECRET JWT_PUBLIC_KEY NODE_ENV

# Its own process group, so that npm, tsx and node stop together.
setsid npm start >"$log" 2>&1 &
server=$!
cleanup() { kill -TERM -- "-$server" 2>/dev/null || true; rm -rf "$data_dir"; }
trap cleanup EXIT

for _ in $(seq 1 120); do
  curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fs "http://127.0.0.1:$port/ready" >/dev/null || { echo "smoke: service did not become ready"; cat "$log"; exit 1; }
grep -q "npm run token" "$log" || { echo "smoke: start-up output has no token hint"; cat "$log"; exit 1; }

token=$(npm run -s token -- --sub 1 --business 5)
created=$(curl -fs -X POST "http://127.0.0.1:$port/api/customers/5" \
  -H "authorization: Bearer $token" -H 'content-type: application/json' \
  -d '{"name":"Smoke Test","phone":"0712 345 678"}')
id=$(node -e 'const b=JSON.parse(process.argv[1]); if (b.customer.phone !== "+254712345678") process.exit(1); console.log(b.customer.id)' "$created")
read=$(curl -fs "http://127.0.0.1:$port/api/customers/5/$id" -H "authorization: Bearer $token")
node -e 'const b=JSON.parse(process.argv[1]); if (b.customer.name !== "Smoke Test" || !b.customer.history) process.exit(1)' "$read"

kill -TERM -- "-$server"
wait "$server" 2>/dev/null || true
for _ in $(seq 1 20); do
  pgrep -g "$server" >/dev/null || break
  sleep 0.5
done
if pgrep -g "$server" >/dev/null; then echo "smoke: the service did not stop on SIGTERM"; exit 1; fi
echo "smoke: npm start served on embedded PostgreSQL; created and read customer $id with a token from npm run token"
