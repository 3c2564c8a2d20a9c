#!/usr/bin/env bash
# README "Same verdicts as paasta validate": for every file of the corpus in
# tests/fixtures/smartstack_corpus/, `meshreg check` gives PaaSTA's verdict
# (exit 0 for accept and for meshreg's extensions, 2 for reject; errors and
# warnings as FILE:LINE:COL), the verdict written in VERDICTS, and the one the
# reference script computes now (PaaSTA's schema with python3-jsonschema on
# what PyYAML loads), so a wrong VERDICTS line fails as well.
. "$(dirname "$0")/lib.sh"

C=$ROOT/tests/fixtures/smartstack_corpus
REFPY=/usr/bin/python3
"$REFPY" -c 'import yaml, jsonschema' 2>/dev/null ||
    skip_all "no python3-yaml/python3-jsonschema for $REFPY (Debian packages)"

# The reference judges: one process for the whole corpus.
mapfile -t files < <(cd "$C" && ls -- *.yaml)
(cd "$C" && "$REFPY" "$C/reference_verdict.py" "${files[@]}") >"$T/live" 2>"$T/live.err" ||
    fail "reference_verdict.py runs" "$(head -c 300 "$T/live.err")"
declare -A live written
while read -r name word; do live[$name]=$word; done <"$T/live"
while read -r name word; do
    case $name in '#'* | '') continue ;; esac
    written[$name]=$word
done <"$C/VERDICTS"

check_between "corpus size" "${#files[@]}" 100 100000
missing=
for f in "${files[@]}"; do [ -n "${written[$f]:-}" ] || missing="$missing $f"; done
for f in "${!written[@]}"; do [ -f "$C/$f" ] || missing="$missing $f(no file)"; done
check_eq "every corpus file has exactly one VERDICTS line" "${missing:-none}" none

# The reference is not a constant: a control pair through the same script.
printf 'main:\n  proxy_port: 20000\n' >"$T/ctl_good.yaml"
printf 'main:\n  proxy_port: 0o47040\n' >"$T/ctl_bad.yaml"
got=$("$REFPY" "$C/reference_verdict.py" "$T/ctl_good.yaml" "$T/ctl_bad.yaml" | tr '\n' ' ')
check_eq "control: the reference accepts and rejects" "$got" "ctl_good.yaml accept ctl_bad.yaml reject "

judge() { # judge FILE -> sets RC, ERR
    "$BIN" check --smartstack "$1" --service corpus --instance nosuchinstance --port 8888 \
        --host 127.0.0.1 --backend "file:$T/reg" >/dev/null 2>"$T/err"
    RC=$?
}

disagree=0
for f in "${files[@]}"; do
    want=${written[$f]:-?}
    path=$C/$f
    judge "$path"
    loc="^$(printf '%s' "$path" | sed 's/[][\.*^$/]/\\&/g'):[0-9]+:[0-9]+: "
    why=
    [ "${live[$f]:-?}" = "$want" ] || why="VERDICTS says $want, the reference says ${live[$f]:-nothing}"
    case $want in
    accept | extension)
        [ -z "$why" ] && [ "$RC" != 0 ] && why="meshreg exit $RC: $(head -c 200 "$T/err")"
        # whatever meshreg says about a file it accepts is a located warning
        bad=$(grep -v -e '^$' "$T/err" | grep -Ev "${loc}warning: " | head -1)
        [ -z "$why" ] && [ -n "$bad" ] && why="unlocated output: $bad"
        [ -z "$why" ] && [ "$want" = extension ] && ! grep -qE "${loc}warning: .*meshreg extension" "$T/err" &&
            why="no warning naming the meshreg extension"
        ;;
    reject)
        [ -z "$why" ] && [ "$RC" != 2 ] && why="meshreg exit $RC, want 2"
        [ -z "$why" ] && ! grep -qE "$loc" "$T/err" && why="no FILE:LINE:COL error: $(head -c 200 "$T/err")"
        ;;
    *) why="VERDICTS has '$want'" ;;
    esac
    if [ -z "$why" ]; then
        ok "$f: $want"
    else
        fail "$f" "$why"
        disagree=$((disagree + 1))
    fi
done
echo "# ${#files[@]} files, $disagree disagreements"

# What PaaSTA accepts starts: `run` on a file meshreg only warns about comes
# up (admin endpoint answering) and logs the warning with its position.
port=$(free_port)
warned=$C/meshreg_warn_duplicate_ns.yaml
start_meshreg run --smartstack "$warned" --service corpus --instance nosuchinstance --port 8888 \
    --host 127.0.0.1 --backend "file:$T/reg-run" --admin "127.0.0.1:$port" --drain-seconds 0
check "run: a file PaaSTA accepts (with a duplicate key) starts" wait_port "$port" 10
check "run: the warning is logged at FILE:LINE:COL" \
    grep -q "warn .*meshreg_warn_duplicate_ns.yaml:5:1: warning: duplicate key 'main'" \
    "$MESHREG_LOG" "$MESHREG_ERR"
stop_pid "$MESHREG_PID"
finish
