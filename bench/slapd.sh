#!/usr/bin/env bash
# A throwaway OpenLDAP slapd on loopback with the FreeIPA-like test tree
# (tests/fixtures/ldap), for the identity API benchmark.
#   bench/slapd.sh DIR PORT        leaves DIR/slapd.pid.real (kill it when done)
# Plain LDAP on 127.0.0.1; the simple-bind account is
# uid=idp,cn=sysaccounts,cn=etc,dc=test,dc=realm / idp-bind-secret.
set -euo pipefail
D=$1; PORT=$2
F=$(cd "$(dirname "$0")/../tests/fixtures/ldap" && pwd)
if [ -d /etc/ldap/schema ]; then S=/etc/ldap/schema; M=/usr/lib/ldap; else S=/etc/openldap/schema; M=/usr/lib64/openldap; fi
mkdir -p "$D/db"
cat > "$D/slapd.conf" <<EOC
include $S/core.schema
include $S/cosine.schema
include $S/inetorgperson.schema
include $F/schema/nis-rfc2307bis.schema
include $F/schema/kerberos-subset.schema
include $F/schema/freeipa-subset.schema
pidfile $D/slapd.pid
argsfile $D/slapd.args
modulepath $M
moduleload back_mdb
moduleload memberof
loglevel none
database mdb
maxsize 104857600
suffix "dc=test,dc=realm"
rootdn "cn=Directory Manager,dc=test,dc=realm"
rootpw dm-secret
directory $D/db
index objectClass eq
index uid,fqdn,krbPrincipalName,member,cn eq
overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
access to attrs=userPassword by self =xw by anonymous auth by * none
access to * by users read by * none
EOC
URL="ldap://127.0.0.1:$PORT/"
slapd -f "$D/slapd.conf" -h "$URL" -d 0 >"$D/slapd.out" 2>&1 &
echo $! > "$D/slapd.pid.real"
for _ in $(seq 1 500); do
  ldapsearch -x -H "$URL" -s base -b "" namingContexts >/dev/null 2>&1 && break
  sleep 0.01
done
ldapadd -x -H "$URL" -D "cn=Directory Manager,dc=test,dc=realm" -w dm-secret -f "$F/data.ldif" >/dev/null
