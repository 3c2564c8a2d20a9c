/* Logging: one event per line on stdout, flushed per line so a supervisor or
 * `kubectl logs` sees events as they happen. */
#include "sidecar/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static enum log_format log_fmt = LOG_FORMAT_TEXT;
static enum log_level log_min = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_setup(enum log_format fmt, enum log_level min)
{
    log_fmt = fmt;
    log_min = min;
}

/* Writes s as a JSON string body (without quotes). */
static void json_escape(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
}

void log_msg(enum log_level lvl, const char *reg, const char *fmt, ...)
{
    if (lvl < log_min)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* One line per event, whatever the message held. */
    for (char *c = msg; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", (long)(tv.tv_usec / 1000));

    if (log_fmt == LOG_FORMAT_JSON) {
        fprintf(stdout, "{\"ts\":\"%s\",\"level\":\"%s\"", ts, level_names[lvl]);
        if (reg) {
            fputs(",\"registration\":\"", stdout);
            json_escape(stdout, reg);
            fputc('"', stdout);
        }
        fputs(",\"msg\":\"", stdout);
        json_escape(stdout, msg);
        fputs("\"}\n", stdout);
    } else {
        fprintf(stdout, "%s %-5s %s%s%s\n", ts, level_names[lvl], reg ? reg : "", reg ? ": " : "",
                msg);
    }
    fflush(stdout);
}
