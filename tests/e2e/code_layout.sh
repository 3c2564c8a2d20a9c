#!/usr/bin/env bash
# The layers of README "Layout" hold: dependencies point one way,
# config -> sidecar -> proto. proto/ (wire protocols) includes nothing of
# meshreg's policy; config/ (what to do) nothing of sidecar/ (doing it).
# Read from the sources themselves, so a new include that breaks a layer
# fails here before anyone has to notice it in review.
. "$(dirname "$0")/lib.sh"
cd "$ROOT" || exit 1

# includes DIR PREFIX: "file:line: #include" lines in DIR that include PREFIX*.
includes() {
    grep -rnE "^#include \"$2" "$1" --include='*.c' --include='*.h' || true
}

out=$(includes proto/ sidecar/)
check_eq "proto/ includes nothing from sidecar/" "${out:-none}" none
out=$(includes proto/ config/)
check_eq "proto/ includes nothing from config/" "${out:-none}" none
out=$(includes config/ sidecar/)
check_eq "config/ includes nothing from sidecar/" "${out:-none}" none

# Inside sidecar/: probes and backends are parts the core wires; they know
# nothing of the core, of the admin side, or of each other.
out=$(includes sidecar/probe/ sidecar/ | grep -v -e '"sidecar/probe/' -e '"sidecar/log.h"')
check_eq "sidecar/probe/ includes only sidecar/probe/ (and the log)" "${out:-none}" none
out=$(includes sidecar/backend/ sidecar/ | grep -v -e '"sidecar/backend/' -e '"sidecar/log.h"')
check_eq "sidecar/backend/ includes only sidecar/backend/ (and the log)" "${out:-none}" none

# The admin side reads the sidecar through sidecar/admin/admin_view.h and
# asks it for changes through the same header; it never sees struct sidecar.
admin_sidecar_h() {
    grep -rnE '^#include "sidecar/sidecar\.h"' "$1" --include='*.c' --include='*.h' || true
}
out=$(admin_sidecar_h sidecar/admin/)
check_eq "sidecar/admin/ does not include sidecar/sidecar.h" "${out:-none}" none
# ... nor any other part of the core: admin_view.h is all it may touch.
out=$(includes sidecar/admin/ sidecar/ | grep -v -e '"sidecar/admin/' -e '"sidecar/log.h"')
check_eq "sidecar/admin/ includes only sidecar/admin/ (and the log)" "${out:-none}" none

# The check can see a violation: a planted include in a copy is found.
mkdir -p "$T/proto"
printf '#include "sidecar/sidecar.h"\n' >"$T/proto/planted.c"
out=$(includes "$T/proto/" sidecar/)
check "control: a planted proto -> sidecar include is found" [ -n "$out" ]
mkdir -p "$T/admin"
printf '#include "sidecar/admin/admin_view.h"\n#include "sidecar/sidecar.h"\n' >"$T/admin/planted.c"
out=$(admin_sidecar_h "$T/admin/")
check "control: a planted admin -> sidecar.h include is found" [ -n "$out" ]
finish
