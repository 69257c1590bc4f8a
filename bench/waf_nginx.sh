#!/usr/bin/env bash
# Ironcart's WAF beside nginx + libmodsecurity 3 (Debian's packages) running the same
# OWASP CRS 4 from ../shared/data/waf/crs, all on loopback:
#   1. detection: the same go-ftw sample replayed through both (the crs_http example),
#      per family expect_ids / no_expect_ids pass counts for each engine, and on how
#      many stages their verdicts agree; both configured as the CRS suite expects
#      (detection only, paranoia 4, its rule 900005);
#   2. latency: wrk on a clean and an attack request through nginx without
#      ModSecurity, nginx + ModSecurity + CRS (paranoia 1, blocking), and ironcart
#      serve with the same CRS (paranoia 1, blocking, plain HTTP as behind a proxy).
# nginx runs as a private process with its own configuration in a temp directory;
# the upstream is a second nginx server block returning a fixed JSON body.
#
# usage: bench/waf_nginx.sh            (PER_FAMILY=40 stages per family, DURATION=10 s)
set -euo pipefail
cd "$(dirname "$0")/.."

PER_FAMILY="${PER_FAMILY:-40}"
DURATION="${DURATION:-10}"
[ "$DURATION" -le 30 ] || DURATION=30
CRS="$(realpath ../shared/data/waf/crs)"
MODULE=/usr/lib/nginx/modules/ngx_http_modsecurity_module.so

if ! command -v wrk >/dev/null || [ ! -x /usr/sbin/nginx ] || [ ! -f "$MODULE" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx libnginx-mod-http-modsecurity >/dev/null
fi
echo "== versions"
/usr/sbin/nginx -v 2>&1
dpkg-query -W -f='${Package} ${Version}\n' libmodsecurity3 libnginx-mod-http-modsecurity
echo "CRS $(cat "$CRS/UPSTREAM_COMMIT" 2>/dev/null || echo '?') from $CRS"

echo "== release build"
cargo build --release --locked -q -p ironcart --bin ironcart --example crs_http

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
UPSTREAM=$(free_port); DETECT=$(free_port); BLOCK=$(free_port); PLAIN=$(free_port); APP=$(free_port)

# ModSecurity's own settings (the engine, body access, limits, JSON/XML body
# processors), then CRS: the shipped setup example, optionally the suite's settings,
# and every rules/*.conf.
engine_conf() { # $1 = On | DetectionOnly
  cat <<CONF
SecRuleEngine $1
SecRequestBodyAccess On
SecRequestBodyLimit 13107200
SecRequestBodyNoFilesLimit 131072
SecRequestBodyLimitAction Reject
SecPcreMatchLimit 1000
SecPcreMatchLimitRecursion 1000
SecRule REQUEST_HEADERS:Content-Type "^(?:application(?:/soap\+|/)|text/)xml" "id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "^application/json" "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecAuditEngine Off
Include $CRS/crs-setup.conf.example
CONF
}
engine_conf DetectionOnly > "$WORK/detect.conf"
cat >> "$WORK/detect.conf" <<'CONF'
SecAction "id:900005,phase:1,pass,nolog,ctl:ruleRemoveById=910000,setvar:tx.blocking_paranoia_level=4,setvar:tx.crs_validate_utf8_encoding=1,setvar:tx.arg_name_length=100,setvar:tx.arg_length=400,setvar:tx.total_arg_length=64000,setvar:tx.max_num_args=255,setvar:tx.max_file_size=64100,setvar:tx.combined_file_sizes=65535"
CONF
echo "Include $CRS/rules/*.conf" >> "$WORK/detect.conf"
engine_conf On > "$WORK/block.conf"
echo "Include $CRS/rules/*.conf" >> "$WORK/block.conf"

mkdir -p "$WORK/tmp"
cat > "$WORK/nginx.conf" <<CONF
load_module $MODULE;
user root;
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/error.log info;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/tmp/body;
  proxy_temp_path $WORK/tmp/proxy;
  fastcgi_temp_path $WORK/tmp/fastcgi;
  uwsgi_temp_path $WORK/tmp/uwsgi;
  scgi_temp_path $WORK/tmp/scgi;
  upstream app { server 127.0.0.1:$UPSTREAM; keepalive 64; }
  server {
    listen 127.0.0.1:$UPSTREAM;
    location / { default_type application/json; return 200 '{"products":[],"page":1}'; }
  }
  server {
    listen 127.0.0.1:$PLAIN;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
  server {
    listen 127.0.0.1:$DETECT;
    modsecurity on;
    modsecurity_rules_file $WORK/detect.conf;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
  server {
    listen 127.0.0.1:$BLOCK;
    modsecurity on;
    modsecurity_rules_file $WORK/block.conf;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
CONF

echo "== nginx: does libmodsecurity load this CRS?"
if ! /usr/sbin/nginx -t -p "$WORK" -c "$WORK/nginx.conf" 2>"$WORK/test.log"; then
  cat "$WORK/test.log"
  echo "nginx + libmodsecurity cannot load CRS from $CRS (above)" >&2
  exit 1
fi
grep -iE "warn|error|rules loaded" "$WORK/test.log" | grep -v "syntax is ok" || true
/usr/sbin/nginx -p "$WORK" -c "$WORK/nginx.conf"
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PLAIN/" >/dev/null && break; sleep 0.2; done

echo "== detection: the same go-ftw sample through both ($PER_FAMILY stages per family)"
: > "$WORK/error.log"
target/release/examples/crs_http --per-family "$PER_FAMILY" \
  --modsecurity "127.0.0.1:$DETECT" "$WORK/error.log"

echo "== latency: wrk -t2 -c32 -d${DURATION}s"
mkdir -p "$WORK/app"
# One address sends every attack: allow-listed, or the IP-ban detectors would ban it
# and the figures would measure the ban check instead of the WAF.
printf '[rate_limits.address]\nper_minute = 100000000\nburst = 10000000\n\n[bans]\nallow = ["127.0.0.1"]\n' > "$WORK/app.toml"
target/release/ironcart serve --listen "127.0.0.1:$APP" --data-dir "$WORK/app" \
  --insecure-plain-http --waf-rules "$CRS" --config "$WORK/app.toml" > "$WORK/app.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$APP/healthz" >/dev/null && break; sleep 0.2; done

BROWSER='Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0'
CLEAN='/api/v1/products?q=union+jack&vendor=Ironcart&per_page=5&page=2'
ATTACK='/api/v1/products?q=1%27%20UNION%20SELECT%20email%2Cpassword%20FROM%20users--'
run_wrk() { # label url
  local out
  out=$(wrk -t2 -c32 -d"${DURATION}s" --latency -H "User-Agent: $BROWSER" \
    -H 'Accept: application/json' -H 'Accept-Language: en-GB,en;q=0.8' "$2")
  echo "$out" | awk -v label="$1" '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /Requests\/sec/ {rps=$2} /Non-2xx/ {non2xx=$NF}
    $1=="50%" {p50=ms($2)} $1=="99%" {p99=ms($2)}
    END {printf "%-44s %9.0f req/s  p50 %7.2f ms  p99 %7.2f ms  non-2xx %s\n", label, rps, p50, p99, (non2xx == "" ? 0 : non2xx)}'
}
for kind in clean attack; do
  path=$CLEAN; [ "$kind" = attack ] && path=$ATTACK
  run_wrk "$kind: nginx, ModSecurity off" "http://127.0.0.1:$PLAIN$path"
  run_wrk "$kind: nginx + ModSecurity + CRS (PL1, On)" "http://127.0.0.1:$BLOCK$path"
  run_wrk "$kind: ironcart serve + CRS (PL1, blocking)" "http://127.0.0.1:$APP$path"
done
echo "(ironcart serves its real catalog search from SQLite; nginx's upstream returns a"
echo " fixed body. examples/waf_throughput.rs gives ironcart with the WAF off.)"
