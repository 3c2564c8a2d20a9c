/* One event per line on stdout, text or JSON. Every line about a
 * registration carries its name (the `reg` argument; NULL for process-wide
 * events). */
#ifndef MESHREG_LOG_H
#define MESHREG_LOG_H

#include "config/config.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_setup(enum log_format fmt, enum log_level min);
void log_msg(enum log_level lvl, const char *reg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_info(reg, ...) log_msg(LOG_INFO, (reg), __VA_ARGS__)
#define log_warn(reg, ...) log_msg(LOG_WARN, (reg), __VA_ARGS__)
#define log_error(reg, ...) log_msg(LOG_ERROR, (reg), __VA_ARGS__)
#define log_debug(reg, ...) log_msg(LOG_DEBUG, (reg), __VA_ARGS__)

#endif
