/* Allocation failure injection for unit tests.
 *
 * Every test binary is linked with -Wl,--wrap for malloc, calloc, realloc,
 * strdup and strndup, so the allocations made by meshreg's own code (not by
 * the libraries it uses) go through these wrappers. They pass through until
 * a test arms them; then the Nth allocation from now fails (returns NULL),
 * and with `sticky` every one after it too. The out-of-memory paths of a
 * module are tested by arming 1, 2, 3, ... until the operation succeeds:
 * each step must fail cleanly (error returned, nothing leaked under ASan). */
#ifndef MESHREG_TEST_FAILALLOC_H
#define MESHREG_TEST_FAILALLOC_H

#include <stdbool.h>

/* The nth allocation from now (1 = the next one) fails; sticky: so do all
 * later ones until failalloc_off(). */
void failalloc_arm(unsigned nth, bool sticky);
void failalloc_off(void);
/* How many allocations failed since the last arm. */
unsigned failalloc_failed(void);

#endif
