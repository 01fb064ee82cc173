#!/usr/bin/env bash
# A throwaway MIT KDC on loopback for the benchmark (TEST.REALM).
#   bench/kdc.sh DIR PORT HOST_FQDN...
# Leaves DIR/env.sh (KRB5_CONFIG, KRB5_KDC_PROFILE), DIR/http.keytab (HTTP/localhost),
# DIR/host-<fqdn>.keytab for each host, and DIR/krb5kdc.pid (kill it when done).
set -euo pipefail
D=$1; PORT=$2; shift 2
REALM=TEST.REALM
mkdir -p "$D"
cat > "$D/krb5.conf" <<EOC
[libdefaults]
 default_realm = $REALM
 dns_lookup_kdc = false
 dns_lookup_realm = false
 dns_canonicalize_hostname = false
 rdns = false
 udp_preference_limit = 1
[realms]
 $REALM = {
  kdc = 127.0.0.1:$PORT
 }
[domain_realm]
 localhost = $REALM
 .test.realm = $REALM
EOC
cat > "$D/kdc.conf" <<EOC
[kdcdefaults]
 kdc_listen = 127.0.0.1:$PORT
 kdc_tcp_listen = 127.0.0.1:$PORT
[realms]
 $REALM = {
  database_name = $D/principal
  key_stash_file = $D/stash
  acl_file = $D/kadm5.acl
  kdc_listen = 127.0.0.1:$PORT
  kdc_tcp_listen = 127.0.0.1:$PORT
  master_key_type = aes256-cts-hmac-sha1-96
  supported_enctypes = aes256-cts-hmac-sha1-96:normal
 }
[logging]
 kdc = FILE:$D/kdc.log
EOC
echo "*/admin@$REALM *" > "$D/kadm5.acl"
printf 'export KRB5_CONFIG=%s/krb5.conf KRB5_KDC_PROFILE=%s/kdc.conf\n' "$D" "$D" > "$D/env.sh"
. "$D/env.sh"
kdb5_util create -s -r $REALM -P 'master-pw-not-secret' >"$D/kdb5_util.out" 2>&1
krb5kdc -n -r $REALM >"$D/krb5kdc.out" 2>&1 &
echo $! > "$D/krb5kdc.pid"
{
  echo "addprinc -randkey HTTP/localhost@$REALM"
  echo "ktadd -k $D/http.keytab HTTP/localhost@$REALM"
  for h in "$@"; do
    echo "addprinc -randkey host/$h@$REALM"
    echo "ktadd -k $D/host-$h.keytab host/$h@$REALM"
  done
} | kadmin.local >"$D/kadmin.out" 2>&1
for _ in $(seq 1 500); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && exit 0; sleep 0.01; done
echo "krb5kdc did not come up" >&2; cat "$D/krb5kdc.out" >&2; exit 1
