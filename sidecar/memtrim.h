/* Gives back the memory that only start-up needed, once, after start-up.
 *
 * An idle sidecar runs a small loop: a probe, a timer, now and then a
 * request. Start-up ran much more: the config and YAML parsers, the
 * smartstack reader, library constructors (a static binary's OpenSSL
 * included). Their code pages stay mapped, and the kernel maps whole
 * windows of cached file pages around each page touched, so the idle
 * process keeps far more resident than it uses: about 2.3 MB for the
 * static binary, of which the idle loop needs about 1.6 (BENCHMARKS.md
 * "Static binary: idle memory"). The pod pays that RSS in every replica.
 *
 * memtrim_schedule arms one timer; when it fires, the process returns its
 * free heap to the kernel (malloc_trim) and asks the kernel to reclaim the
 * pages of its read-only file mappings (MADV_PAGEOUT). The kernel skips any
 * page another process also maps, so a binary shared by many sidecars on a
 * host stays cached for the others; what the idle loop needs faults back in
 * once, from the page cache. MADV_RANDOM on the same mappings keeps those
 * faults from reading ahead what the loop does not use. Nothing here is
 * needed for correctness: a kernel without MADV_PAGEOUT (before 5.4)
 * answers EINVAL and the process keeps its pages, logged at debug. */
#ifndef MESHREG_MEMTRIM_H
#define MESHREG_MEMTRIM_H

#include <stddef.h>

struct ev_loop;

/* Arms the one-shot trim AFTER seconds from now (once per process: later
 * calls do nothing; MESHREG_MEMTRIM=0 in the environment turns it off).
 * The caller calls it when start-up is over: every check has a first
 * result. */
void memtrim_schedule(struct ev_loop *loop, double after);

/* Stops the timer if it has not fired (before the loop is destroyed). */
void memtrim_stop(struct ev_loop *loop);

/* The trim itself, also used by tests: returns how many mappings were
 * advised, or -1 with err when /proc/self/maps cannot be read. */
int memtrim_now(char *err, size_t errlen);

#endif
