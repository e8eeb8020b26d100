#!/usr/bin/env bash
# The steps a CI job runs against the Open Banking Sandbox, as one script the
# GitHub Actions workflow, the GitLab CI job and the docker-compose "app"
# service all call (and this project's own CI runs on every change):
#
#   1. the sandbox answers its health check (`sandbox healthcheck`);
#   2. the job gets a tenant of its own (POST /sandbox/tenants): a whole
#      sandbox under /t/<job>, deleted when the job ends;
#   3. a whole account-information journey with headless consent
#      (`sandbox tpp accounts`, exit 0, the accounts printed as JSON);
#   4. the PSU refusing makes `sandbox tpp` fail (exit 1), as a CI step must;
#   5. test data of the job's own: a PSU added at run time (POST /sandbox/psus)
#      whose journey works at once;
#   6. a payment (`sandbox tpp pay`).
#
# SANDBOX_URL and SANDBOX_ADMIN_TOKEN name a running sandbox; without
# SANDBOX_URL the script starts one itself from SANDBOX_BIN (default
# `sandbox` on the PATH) with a throw-away database. Needs bash and curl.
set -euo pipefail

SANDBOX_BIN=${SANDBOX_BIN:-sandbox}
JOB=${SANDBOX_JOB:-job-${CI_JOB_ID:-${GITHUB_RUN_ID:-local}}-$$}
JOB=$(printf '%s' "$JOB" | tr 'A-Z_.' 'a-z--' | tr -cd 'a-z0-9-' | cut -c1-40)
WORK=$(mktemp -d)
passed=0
failed=0
started_pid=""
tenant_base=""

cleanup() {
  if [ -n "$tenant_base" ]; then
    curl -fsS -o /dev/null -X DELETE "$SANDBOX_URL/sandbox/tenants/$JOB" -H "Authorization: Bearer $SANDBOX_ADMIN_TOKEN" || true
  fi
  if [ -n "$started_pid" ]; then
    kill "$started_pid" 2>/dev/null || true
    wait "$started_pid" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# field NAME JSON: the string value of one top-level field (no jq needed).
field() { printf '%s' "$2" | tr -d '\n' | sed -n 's/.*"'"$1"'":"\([^"]*\)".*/\1/p'; }

# step NAME COMMAND...: runs a step, says ok or FAIL, counts it.
step() {
  local name=$1; shift
  if "$@" >"$WORK/step.out" 2>"$WORK/step.err"; then
    echo "ok    $name"; passed=$((passed + 1))
  else
    echo "FAIL  $name (exit $?)"; sed 's/^/      /' "$WORK/step.err" | tail -20; failed=$((failed + 1))
  fi
}

if [ -z "${SANDBOX_URL:-}" ]; then
  SANDBOX_ADMIN_TOKEN=${SANDBOX_ADMIN_TOKEN:-ci-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}
  : >"$WORK/banner" # there before the sandbox writes it: the loop below reads it at once
  "$SANDBOX_BIN" serve --addr 127.0.0.1:0 --db "$WORK/sandbox.db" --admin-token "$SANDBOX_ADMIN_TOKEN" --psus 2 \
    >"$WORK/banner" 2>"$WORK/log" &
  started_pid=$!
  for _ in $(seq 300); do # 30 s: a busy machine
    SANDBOX_URL=$(sed -n 's|^  Health *\(http[^ ]*\)/healthz.*|\1|p' "$WORK/banner")
    [ -n "$SANDBOX_URL" ] && break
    sleep 0.1
  done
  if [ -z "$SANDBOX_URL" ]; then echo "the sandbox did not start:"; cat "$WORK/log"; exit 1; fi
  echo "started $SANDBOX_BIN at $SANDBOX_URL"
fi
: "${SANDBOX_ADMIN_TOKEN:?SANDBOX_ADMIN_TOKEN is needed with SANDBOX_URL}"

# 1. Health.
step "healthcheck: $SANDBOX_URL answers" "$SANDBOX_BIN" healthcheck --url "$SANDBOX_URL"

# 2. A tenant for this job.
tenant() {
  local resp
  resp=$(curl -fsS -X POST "$SANDBOX_URL/sandbox/tenants" -H "Authorization: Bearer $SANDBOX_ADMIN_TOKEN" \
    -H 'Content-Type: application/json' -d "{\"name\":\"$JOB\"}")
  tenant_base=$(field base_url "$resp")
  tenant_admin=$(field admin_token "$resp")
  [ -n "$tenant_base" ] && [ -n "$tenant_admin" ] && "$SANDBOX_BIN" healthcheck --url "$tenant_base/healthz"
}
step "tenant $JOB of its own" tenant
if [ -z "$tenant_base" ]; then echo "0 passed, $((failed + 1)) failed"; exit 1; fi
BASE=$tenant_base

# 3. A whole AIS journey, consent approved headlessly.
accounts() {
  "$SANDBOX_BIN" tpp accounts --sandbox "$BASE" --admin-token "$tenant_admin" --psu alice --quiet >"$WORK/accounts.json"
  grep -q '"AccountId"' "$WORK/accounts.json"
}
step "sandbox tpp accounts: alice's accounts (exit 0)" accounts

# 4. A refusal fails the step: the PSU denies, the TPP exits 1.
denied() {
  local code=0
  "$SANDBOX_BIN" tpp accounts --sandbox "$BASE" --admin-token "$tenant_admin" --psu alice --scenario psu-denies --quiet \
    >/dev/null 2>"$WORK/denied.err" || code=$?
  [ "$code" -eq 1 ] && grep -q 'access_denied' "$WORK/denied.err"
}
step "sandbox tpp accounts --scenario psu-denies: exit 1, access_denied" denied

# 5. The job's own test data: a PSU added at run time.
own_psu() {
  curl -fsS -o /dev/null -X POST "$BASE/sandbox/psus" -H "Authorization: Bearer $tenant_admin" -H 'Content-Type: application/json' \
    -d '{"username":"ci-user","password":"ci-pass-1","accounts":[{"Currency":"EUR","AccountSubType":"CurrentAccount","Nickname":"CI account","balance":"250.00"}]}'
  "$SANDBOX_BIN" tpp accounts --sandbox "$BASE" --admin-token "$tenant_admin" --psu ci-user --password ci-pass-1 --quiet \
    --read accounts,balances >"$WORK/own.json"
  grep -q '"EUR"' "$WORK/own.json" && grep -q '250.00' "$WORK/own.json"
}
step "a PSU added at run time goes through a journey" own_psu

# 6. A payment.
pay() {
  "$SANDBOX_BIN" tpp pay --sandbox "$BASE" --admin-token "$tenant_admin" --psu alice --amount 1.00 --quiet >"$WORK/pay.json"
  grep -q '"Status"' "$WORK/pay.json"
}
step "sandbox tpp pay: a domestic payment" pay

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
