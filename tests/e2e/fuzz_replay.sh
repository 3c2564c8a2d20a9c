#!/usr/bin/env bash
# Replays every committed fuzz seed (tests/fuzz/corpus, including the
# regression seeds of bugs the fuzzers or their harnesses found) through the
# libFuzzer targets under ASan+UBSan. Deterministic: no random exploration
# here; `make fuzz` does that.
exec "$(dirname "$0")/../../scripts/fuzz" 0
