#!/usr/bin/env bash
# A saved plan applies only what its manifest says (engine/saved_plan.h). Each attack edits a plan
# file as someone who can write it but not the manifest would, and `converge apply` must refuse
# it, naming what differs, with the lab byte-for-byte unchanged:
#  (a) an added provider block pointing at a loopback listener: the listener receives nothing;
#  (b) an ACE appended to a no-op plan; (c) a changed attribute value in a change;
#  (d) the manifest edited after planning (digest mismatch); (e) a deletion applied without
#  --allow-destroy on the apply command line (apply accepts the flag: engine/cli/main.cpp);
#  (g) deeply nested JSON and a dependency cycle.
#  (f) An honest plan still applies and is journaled, and apply says where the plan was made.
#  (h) The journal on a full filesystem: at every amount of free space the lab holds no change
#      the journal does not, and a run that cannot record its intents stops, saying why.
# Also: undo takes its providers from the manifest, not from the plan the journal stored; and a
# create whose reply was lost (lab fault lost_reply_nth) is observed as made, not failed.
# Usage: saved_plan.sh CONVERGE SOURCE_DIR
set -u
converge=$1 src=$2
. "$src/tests/e2e/lib.sh"
world=$(ready_world)
cp "$M" "$tmp/m.toml"
M="$tmp/m.toml"
sha() { lab_rows | sha256sum; }
# edit IN OUT PYTHON: OUT is the plan IN after PYTHON changed `p` (the parsed plan).
edit() {
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
def res(i):
    return [r for r in p["resources"] if r["id"] == i][0]
exec(sys.argv[3])
json.dump(p, open(sys.argv[2], "w"), indent=2)
PY
}

"$converge" lab init "$world" >/dev/null
expect "plan the guide's manifest" 0 'Plan: 43 to create, 5 to update' 'Saved the plan to' \
  -- "$converge" plan "$M" --out "$tmp/p1.json"
fresh=$(sha)

# A listener on loopback that counts every byte it receives: `listen NAME` starts it and sets
# $port; `heard NAME` makes it report (a probe connection) and prints the count.
listen() {
  python3 - "$tmp/$1" <<'PY' &
import os, select, socket, sys
out = sys.argv[1]
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
with open(out + ".port.tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(out + ".port.tmp", out + ".port")
clients, total = [], 0
while True:
    r, _, _ = select.select([s] + clients, [], [], 60)
    if not r:
        break
    for c in r:
        if c is s:
            clients.append(s.accept()[0])
            continue
        data = c.recv(65536)
        if data.startswith(b"PROBE"):
            open(out + ".bytes", "w").write(str(total))
            sys.exit(0)
        total += len(data)
        if not data:
            clients.remove(c)
open(out + ".bytes", "w").write("timeout")
PY
  wait_for "$tmp/$1.port" '^[0-9]+$' 10 || { echo "the listener $1 did not start"; return 1; }
  port=$(cat "$tmp/$1.port")
}
heard() {
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $(cat "$tmp/$1.port"))).sendall(b'PROBE')"
  wait_for "$tmp/$1.bytes" '.' 10
  cat "$tmp/$1.bytes"
}
evil_ldap="{'name': 'evil', 'type': 'ldap', 'settings': {'url': 'ldap://127.0.0.1:PORT',
  'base_dn': 'DC=target,DC=local', 'bind_dn': 'CN=Administrator,CN=Users,DC=target,DC=local',
  'password': 'env:QMM_SERVICE_PASSWORD'}}"

# (a) A provider block added, and resources moved to it, pointing at the listener.
listen a
edit "$tmp/p1.json" "$tmp/pa.json" "
p['providers'].append(${evil_ldap/PORT/$port})
for r in p['resources']:
    if r['type'] in ('account', 'ou', 'group'): r['provider'] = 'evil'"
expect "(a) a plan with an added provider block is refused" 65 'the plan file was edited' \
  'provider\.evil: added to the plan \(the manifest does not declare it\)' \
  'account\.[a-z_]+: different provider' 'Nothing was changed' \
  -- "$converge" apply "$tmp/pa.json"
check "(a) the listener received nothing" test "$(heard a)" = 0
check "(a) the lab is unchanged" test "$(sha)" = "$fresh"

# (c) A changed attribute value (and its desired value, as a careful forger would).
edit "$tmp/p1.json" "$tmp/pc.json" "
r = res('registry_value.nspi_max_sessions[DC1]')
for c in r['changes']:
    if c['attribute'] == 'data': c['after'] = 7
r['desired']['data'] = 7"
expect "(c) a plan with a changed attribute is refused" 65 \
  'registry_value\.nspi_max_sessions\[DC1\]: different attributes: data \(the plan says \(none\) -> 7, the manifest gives \(none\) -> 100\)' \
  'registry_value\.nspi_max_sessions\[DC1\]: different desired attributes: data' \
  -- "$converge" apply "$tmp/pc.json"

# (d) The manifest edited after planning.
echo '# edited' >>"$M"
expect "(d) a plan of a manifest edited since is refused" 65 'digest mismatch' \
  'the plan records sha256:[0-9a-f]{64}, the manifest is sha256:[0-9a-f]{64}' \
  -- "$converge" apply "$tmp/p1.json"
cp "$src/manifests/exchange2007-target.toml" "$M"

# (g) Deep nesting and a cycle.
python3 -c "print('{\"format_version\": \"1\", \"x\": ' + '[' * 200000 + ']' * 200000 + '}')" >"$tmp/deep.json"
expect "(g) a deeply nested plan file is a clean error" 65 'nested deeper than 32 levels' \
  -- "$converge" apply "$tmp/deep.json"
edit "$tmp/p1.json" "$tmp/pg.json" "
a, b = res('ou.service_accounts'), res('account.trg_ex')
a['depends_on'].append(b['id']); b['depends_on'].append(a['id'])"
expect "(g) a plan with a dependency cycle is refused" 65 'ou\.service_accounts: different dependencies' \
  -- "$converge" apply "$tmp/pg.json"
check "(c, d, g) the lab is unchanged" test "$(sha)" = "$fresh"

# (f) The honest plan applies and is journaled; a plan file unknown to the journal says so.
expect "(f) the reviewed plan applies" 0 'note: plan made here on [0-9T:-]+' \
  'Apply: 48 applied, 0 failed, 0 skipped, 0 blocked' 'Recorded as run [0-9]+' \
  -- "$converge" apply "$tmp/p1.json"
expect "(f) the journal has the apply run" 0 '^[0-9]+ +apply +succeeded' -- "$converge" history
expect "(f) converged" 0 'Plan: 0 to create, 0 to update, 0 to delete' \
  -- "$converge" plan --detailed-exitcode "$M" --out "$tmp/noop.json"
expect "(f) a plan file not made here is named so" 0 'note: plan not made by this state directory' \
  'Apply: 0 applied' -- "$converge" apply "$tmp/noop.json" --journal "$tmp/other-journal.sqlite"
converged=$(sha)

# (b) An ACE appended to a no-op plan: under a new id, and as a second entry of a real one.
edit "$tmp/noop.json" "$tmp/pb.json" "
a = json.loads(json.dumps([r for r in p['resources'] if r['type'] == 'ace'][0]))
a.update(id='ace.extra', action='create', exists=False, before={})
a['desired']['principal'] = 'Everyone'
a['changes'] = [{'attribute': k, 'before': None, 'after': v, 'sensitive': False} for k, v in a['desired'].items()]
p['resources'].append(a)
b = json.loads(json.dumps(a)); b['id'] = res('ace.ex_read_domain')['id']
p['resources'].append(b)"
expect "(b) an ACE appended to a no-op plan is refused, naming it" 65 \
  'ace\.extra: added to the plan \(the manifest does not declare it\)' \
  'ace\.ex_read_domain: listed twice in the plan' -- "$converge" apply "$tmp/pb.json"
check "(b) the lab is unchanged" test "$(sha)" = "$converged"

# (e) A deletion, planned with --allow-destroy, applied without it.
OOB="$src/manifests/examples/out-of-band-change.toml"
expect "(e) plan a deletion" 0 'Plan: 0 to create, 1 to update, 1 to delete' \
  -- "$converge" plan "$OOB" --allow-destroy --out "$tmp/pe.json"
expect "(e) apply without --allow-destroy is refused" 64 'the plan deletes 1 resource\(s\); pass --allow-destroy' \
  'ace\.removed_read_on_domain' -- "$converge" apply "$tmp/pe.json"
check "(e) the lab is unchanged" test "$(sha)" = "$converged"
expect "(e) with --allow-destroy it applies" 0 'Apply: 2 applied, 0 failed' \
  -- "$converge" apply "$tmp/pe.json" --allow-destroy

# Undo takes its providers from the manifest as it is now, never from the plan the journal
# stored: the stored provider block of the apply in (e) (which deleted and updated), turned into
# an LDAP one at the listener, is not used.
undone=$(sqlite3 "$tmp/journal.sqlite" "select max(id) from runs where kind='apply'")
listen u
python3 - "$tmp/journal.sqlite" "$undone" "$port" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
p = json.loads(db.execute("select plan from plans where run=?", (sys.argv[2],)).fetchone()[0])
for d in p["providers"]:
    d.update(type="ldap", settings={"url": "ldap://127.0.0.1:" + sys.argv[3], "base_dn": "DC=target,DC=local",
             "bind_dn": "CN=Administrator,CN=Users,DC=target,DC=local", "password": "env:QMM_SERVICE_PASSWORD"})
db.execute("update plans set plan=? where run=?", (json.dumps(p), sys.argv[2]))
db.commit()
PY
expect "undo uses the manifest's providers" 0 'Apply: 2 applied, 0 failed' \
  -- "$converge" undo "$undone" --yes --allow-destroy
check "undo: the listener received nothing" test "$(heard u)" = 0
expect "undo: back to converged" 0 'Plan: 0 to create, 0 to update, 0 to delete' \
  -- "$converge" plan --detailed-exitcode "$M"

# A create whose first attempt was made but answered with a transient error (a timeout after the
# write) is observed before it is retried: it counts as applied and its dependents go ahead,
# instead of failing as "already exists".
expect "a create whose reply was lost counts as applied" 0 \
  'Apply: 48 applied, 0 failed, 0 skipped, 0 blocked' \
  -- env CONVERGE_LAB="$tmp/lost-reply.sqlite" sh -c '"$1" lab init "$2" >/dev/null &&
    CONVERGE_LAB_FAULTS=lost_reply_nth=1 "$1" "$3" --parallelism 1 --journal "$4"' sh \
  "$converge" "$world" "$M" "$tmp/lost-reply-journal.sqlite"

# (h) The journal on a full filesystem (a tmpfs in a mount namespace of its own), the lab outside
# it. For each amount of free space: the plan is applied; every resource the lab changed must be
# in the journal, and a run that did not finish must exit non-zero saying why.
export CONVERGE_LAB="$tmp/full-lab.sqlite"
"$converge" lab init "$world" >/dev/null
"$converge" plan "$M" --journal "$tmp/plan-journal.sqlite" --out "$tmp/ph.json" >/dev/null
"$converge" plan "$M" --journal "$tmp/plan-journal.sqlite" --json |
  python3 -c "import json,sys; [print(r['id']) for r in json.load(sys.stdin)['resources'] if r['action'] != 'noop']" |
  sort >"$tmp/h-all.ids"
cp "$CONVERGE_LAB" "$tmp/full-lab.fresh"
mkdir -p "$tmp/state"
unshare -m bash -s "$converge" "$tmp" <<'SH' >"$tmp/h.out" 2>&1
set -u
converge=$1 tmp=$2
mount -t tmpfs -o size=2m tmpfs "$tmp/state" || { echo "RESULT cannot mount"; exit 1; }
for free in $(seq 0 3 150); do
  rm -f "$tmp/state"/*
  cp "$tmp/full-lab.fresh" "$CONVERGE_LAB"
  "$converge" history --journal "$tmp/state/journal.sqlite" >/dev/null 2>&1  # creates the journal
  dd if=/dev/zero of="$tmp/state/fill" bs=4096 >/dev/null 2>&1
  truncate -s "-$((free * 4096))" "$tmp/state/fill"
  "$converge" apply "$tmp/ph.json" --journal "$tmp/state/journal.sqlite" >"$tmp/h-run.out" 2>&1
  rc=$?
  rm -f "$tmp/state/fill"  # room to read the journal back
  sqlite3 "$tmp/state/journal.sqlite" "select resource from changes" 2>/dev/null | sort -u >"$tmp/h-journal.ids"
  "$converge" plan "$tmp/m.toml" --journal "$tmp/scratch.sqlite" --json 2>/dev/null |
    python3 -c "import json,sys; [print(r['id']) for r in json.load(sys.stdin)['resources'] if r['action'] != 'noop']" |
    sort >"$tmp/h-left.ids"
  changed=$(comm -23 "$tmp/h-all.ids" "$tmp/h-left.ids")
  unjournaled=$(comm -23 <(echo "$changed" | sed '/^$/d') "$tmp/h-journal.ids" | tr '\n' ' ')
  stopped=0
  grep -q 'not applied, the run stopped: .*disk is full' "$tmp/h-run.out" && stopped=1
  said=0
  grep -Eq 'disk is full|No space left|disk I/O error' "$tmp/h-run.out" &&
    grep -Eqi 'nothing was changed|the run stopped' "$tmp/h-run.out" && said=1
  echo "RESULT free=$free rc=$rc changed=$(echo "$changed" | sed '/^$/d' | wc -l) stopped=$stopped said=$said unjournaled=[$unjournaled]"
  [ $rc -eq 0 ] && break
done
umount "$tmp/state"
SH
grep -q '^RESULT free=' "$tmp/h.out" || { cat "$tmp/h.out"; }
check "(h) the lab never holds a change the journal does not" \
  sh -c "grep -q '^RESULT free=' '$tmp/h.out' && ! grep -q 'unjournaled=\[[^]]' '$tmp/h.out'"
check "(h) every run that did not finish exited non-zero, saying the disk is full" \
  sh -c "! grep -E '^RESULT free=' '$tmp/h.out' | grep -v ' rc=0 ' | grep -q 'said=0'"
check "(h) some run recorded its start, then stopped before a change it could not record" \
  sh -c "grep -E ' stopped=1 ' '$tmp/h.out' | grep -Eq 'changed=[1-9]'"
check "(h) with room enough the plan applies completely" grep -Eq '^RESULT free=[0-9]+ rc=0 changed=48 ' "$tmp/h.out"
grep '^RESULT' "$tmp/h.out" | sed 's/^/     | /'
finish
