#!/usr/bin/env bash
# README "Deploying": the man page (deploy/meshreg.1) and bash completion
# (deploy/bash-completion/meshreg) cannot drift from the binary: every flag
# of `meshreg --help` and of each subcommand's --help, every environment
# variable and every config key (a long flag in snake_case) is in the
# rendered page; groff finds no error in it; completion offers what
# --help lists.
. "$(dirname "$0")/lib.sh"

MAN=$ROOT/deploy/meshreg.1
COMP=$ROOT/deploy/bash-completion/meshreg

warn=$(groff -ww -z -man "$MAN" 2>&1)
check_eq "groff -ww -man: no warning" "$warn" ""
if command -v man >/dev/null 2>&1; then
    MANWIDTH=200 man -l "$MAN" 2>/dev/null | col -b >"$T/man.txt"
else # man-db missing: groff alone renders it the same way
    groff -man -Tutf8 -rLL=200n "$MAN" 2>/dev/null | col -b >"$T/man.txt"
fi
check "the page renders" grep -q 'EXIT STATUS' "$T/man.txt"
# Whole words only: `--admin` must not be found inside `--admin-allow`.
in_man() { grep -qE -- "(^|[^a-zA-Z0-9_-])$1([^a-zA-Z0-9_-]|\$)" "$T/man.txt"; }

"$BIN" --help >"$T/top.txt"
cp "$T/top.txt" "$T/help.txt"
for c in drain undrain status; do "$BIN" "$c" --help >>"$T/help.txt"; done
flags=$(grep -oE -- '(^|[[:space:],[])(-[a-zA-Z]|--[a-z][a-z0-9-]*)' "$T/help.txt" |
    grep -oE -- '-.*' | sort -u)
check "--help lists flags (parsed $(wc -w <<<"$flags"))" [ "$(wc -w <<<"$flags")" -ge 25 ]
missing=
for f in $flags; do in_man "$f" || missing="$missing $f"; done
check_eq "every --help flag is in the man page" "${missing# }" ""

envs=$(grep -oE '(env |\$)[A-Z][A-Z0-9_]+' "$T/help.txt" | grep -oE '[A-Z][A-Z0-9_]+' | sort -u)
check "--help names environment variables" [ -n "$envs" ]
missing=
for e in $envs MESHREG_LOCATION_ NOTIFY_SOCKET; do
    grep -q -- "$e" "$T/man.txt" || missing="$missing $e"
done
check_eq "every environment variable is in the man page" "${missing# }" ""

# Config keys: the long flags of run/check in snake_case, plus the two
# structured keys. --config and --help are not keys.
keys=$(sed -n '/^Options of run/,$p' "$T/top.txt" | grep -oE -- '--[a-z][a-z0-9-]*' |
    grep -vxE -- '--(config|help)' | sed 's/^--//; s/-/_/g' | sed 's/^registration$/registrations/' |
    sort -u)
missing=
for k in $keys locations services; do in_man "$k" || missing="$missing $k"; done
check_eq "every config key is in the man page" "${missing# }" ""

for w in run check drain undrain status SIGTERM SIGINT SIGHUP SIGUSR1 SIGUSR2 /health /status \
    /metrics /drain /undrain; do
    in_man "$w" || fail "man page names $w" "not found"
done
sed -n '/^EXIT STATUS/,/^[A-Z]/p' "$T/man.txt" >"$T/exit.txt"
check_eq "EXIT STATUS names 0, 1 and 2" "$(grep -oE '^ +[0-2] ' "$T/exit.txt" | tr -d ' \n')" 012
# The check itself can fail: a flag the page does not have is found missing.
check "a flag absent from the page is detected" bash -c "! grep -qE -- '(^|[^a-z-])--no-such-flag([^a-z-]|\$)' '$T/man.txt'"

# --- bash completion, driven as bash drives it
comp() { # comp WORDS...: the completions of the last word
    bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _meshreg; printf "%s\n" "${COMPREPLY[@]}"' \
        _ "$COMP" "$@" | sort | tr '\n' ' '
}
check_eq "completion: subcommands" "$(comp "$BIN" "")" "check drain run status undrain "
check_eq "completion: drain's options" "$(comp "$BIN" drain --)" "--admin --expires --help --reason --until --wait "
runflags=$(sed -n '/^Options of run/,$p' "$T/top.txt" | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u | tr '\n' ' ')
check_eq "completion: run's options are --help's" "$(comp "$BIN" run --)" "$runflags"
check_eq "completion: --log-format values" "$(comp "$BIN" run --log-format "")" "json text "
check_eq "completion: after -- the app's command" "$(comp "$BIN" run -- bas | grep -ow bash | sort -u)" "bash"
finish
