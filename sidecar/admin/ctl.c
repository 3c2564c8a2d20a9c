/* The client of `meshreg drain|undrain|status`. Each call is proto/httpc
 * run to completion under one deadline (httpc_fetch), so a hung sidecar
 * cannot hang a preStop hook for longer than the timeout of each call. */
#include "sidecar/admin/ctl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto/httpc_fetch.h"
#include "proto/netaddr.h"

#define CTL_DEFAULT_ADMIN "127.0.0.1:6666"
#define CTL_TIMEOUT_S 5.0          /* connect + request + answer, per call */
#define CTL_POLL_S 0.15            /* --wait: period of GET /status */
#define CTL_WAIT_SLACK_S 30.0      /* --wait: give up this long after the promised end */
#define CTL_WAIT_MAX_ERRORS 3      /* --wait: consecutive failed polls before giving up */
#define CTL_MAX_ANSWER (16u << 20) /* a /status of many checks stays far below */

struct ctl_opts {
    const char *admin;
    const char *reason;
    const char *expires;
    const char *until;
    const char *scope; /* SVC.NS or "all" */
    bool wait;
    bool json;
};

struct ctl_answer {
    int status;
    char *body; /* NUL-terminated */
    size_t len;
};

/* How a call failed, for --wait: a sidecar that exited after its window
 * refuses connections, which is success there. */
enum ctl_fail { CTL_OK, CTL_GONE, CTL_ERROR };

static void usage(FILE *f, const char *cmd)
{
    if (strcmp(cmd, "drain") == 0)
        fprintf(f, "usage: meshreg drain [SVC.NS|all] [--reason R] [--expires SECONDS | --until "
                   "EPOCH]\n"
                   "                     [--wait] [--admin ADDR]\n"
                   "  Takes one registration (default: all of them) out of the backend\n"
                   "  (POST /drain), like hadown. A new drain of the same scope replaces the old.\n"
                   "  --reason R         shown in /status, hacheck's routes and the logs\n"
                   "                     (default: $SUDO_USER, else $SSH_USER, else the login "
                   "name)\n"
                   "  --expires SECONDS  the drain ends by itself after this long (0 = never)\n"
                   "  --until EPOCH      ... or at this Unix time (hadown -e)\n"
                   "  --wait             return only once the drain window has passed (or the\n"
                   "                     sidecar has exited): for a preStop hook; exits 0 when\n"
                   "                     no sidecar answers\n");
    else if (strcmp(cmd, "undrain") == 0)
        fprintf(f, "usage: meshreg undrain [SVC.NS|all] [--admin ADDR]\n"
                   "  Ends the drain of one registration (default: the `all` drain), like haup\n"
                   "  (POST /undrain). Other drains stay.\n");
    else
        fprintf(f, "usage: meshreg status [--json] [--admin ADDR]\n"
                   "  One line per check, like hastatus: UP<TAB>svc.ns,\n"
                   "  DOWN<TAB>until<TAB>svc.ns<TAB>reason (drained; until is Unix time or inf),\n"
                   "  FAIL<TAB>svc.ns<TAB>last probe result (its probe fails).\n"
                   "  --json             the sidecar's whole state (GET /status)\n");
    fprintf(f,
            "  --admin ADDR       the sidecar's admin endpoint, HOST:PORT or [IPv6]:PORT\n"
            "                     (default: $MESHREG_ADMIN, else %s; 0.0.0.0 and ::\n"
            "                     mean this host's loopback)\n"
            "  -h, --help         this text\n",
            CTL_DEFAULT_ADMIN);
    if (strcmp(cmd, "status") == 0)
        fprintf(f, "Exit status: 0 every check up, 1 something is not up, 2 bad usage,\n"
                   "3 no sidecar answers.\n");
    else
        fprintf(f, "Exit status: 0 done, 1 failure (no sidecar answers%s, refused, error "
                   "answer),\n2 bad usage.\n",
                   strcmp(cmd, "drain") == 0 ? " without --wait" : "");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int parse_target(const char *s, struct netaddr *na, char *err, size_t errlen)
{
    if (netaddr_parse(s, na, err, errlen) < 0)
        return -1;
    /* A sidecar listening on every address is reached on loopback. */
    if (netaddr_is_any((struct sockaddr *)&na->ss)) {
        int port = netaddr_port((struct sockaddr *)&na->ss);
        char lo[32];
        snprintf(lo, sizeof(lo), na->ss.ss_family == AF_INET6 ? "[::1]:%d" : "127.0.0.1:%d", port);
        return netaddr_parse(lo, na, err, errlen);
    }
    return 0;
}

/* The numeric host of na, for the request (proto/httpc connects to numbers only). */
static void host_of(const struct netaddr *na, char *out, size_t cap)
{
    const void *a = na->ss.ss_family == AF_INET6
                        ? (const void *)&((const struct sockaddr_in6 *)&na->ss)->sin6_addr
                        : (const void *)&((const struct sockaddr_in *)&na->ss)->sin_addr;
    if (!inet_ntop(na->ss.ss_family, a, out, (socklen_t)cap))
        snprintf(out, cap, "?");
}

/* Says why the exchange failed, and whether that means the sidecar is gone
 * (refused, reset, closed before answering: one on its way out). */
static enum ctl_fail call_failed(const struct httpc_result *r, const char *hostport, char *err,
                                 size_t errlen)
{
    switch (r->error_kind) {
    case HTTPC_ERR_NOMEM:
        snprintf(err, errlen, "out of memory");
        return CTL_ERROR;
    case HTTPC_ERR_SOCKET:
        snprintf(err, errlen, "%s", r->error);
        return CTL_ERROR;
    case HTTPC_ERR_CONNECT:
        snprintf(err, errlen, "cannot connect to %s: %s", hostport, strerror(r->sys_errno));
        return r->sys_errno == ECONNREFUSED ? CTL_GONE : CTL_ERROR;
    case HTTPC_ERR_TIMEOUT:
        if (r->stage == HTTPC_STAGE_CONNECT)
            snprintf(err, errlen, "cannot connect to %s: timed out after %.0f s", hostport,
                     CTL_TIMEOUT_S);
        else if (r->stage == HTTPC_STAGE_SEND)
            snprintf(err, errlen, "%s: sending timed out", hostport);
        else
            snprintf(err, errlen, "%s: no answer within %.0f s", hostport, CTL_TIMEOUT_S);
        return CTL_ERROR;
    case HTTPC_ERR_SEND:
        snprintf(err, errlen, "%s: send: %s", hostport, strerror(r->sys_errno));
        return r->sys_errno == ECONNRESET || r->sys_errno == EPIPE ? CTL_GONE : CTL_ERROR;
    case HTTPC_ERR_RECV:
        snprintf(err, errlen, "%s: receive: %s", hostport, strerror(r->sys_errno));
        return r->sys_errno == ECONNRESET ? CTL_GONE : CTL_ERROR;
    case HTTPC_ERR_CLOSED:
        snprintf(err, errlen, "%s: connection closed without an answer", hostport);
        return CTL_GONE;
    case HTTPC_ERR_CUT:
        snprintf(err, errlen, "%s: answer cut short", hostport);
        return CTL_ERROR;
    case HTTPC_ERR_PROTOCOL:
        snprintf(err, errlen, "%s: not an HTTP answer", hostport);
        return CTL_ERROR;
    case HTTPC_ERR_NONE:
    case HTTPC_ERR_OTHER:
        break;
    }
    snprintf(err, errlen, "%s: %s", hostport, r->error ? r->error : "failed");
    return CTL_ERROR;
}

/* One request on a fresh connection, answer read to its end (proto/httpc
 * run to completion under one deadline). */
static enum ctl_fail call(const struct netaddr *na, const char *method, const char *target,
                          const char *body, struct ctl_answer *ans, char *err, size_t errlen)
{
    char hostport[NETADDR_STRLEN], host[NETADDR_STRLEN];
    struct httpc_answer a;
    bool post = strcmp(method, "POST") == 0;

    memset(ans, 0, sizeof(*ans));
    netaddr_format((const struct sockaddr *)&na->ss, hostport, sizeof(hostport));
    host_of(na, host, sizeof(host));
    struct httpc_request req = {
        .host = host,
        .port = netaddr_port((const struct sockaddr *)&na->ss),
        .method = method,
        .target = target,
        .extra_headers = body ? "User-Agent: meshreg-ctl\r\n"
                                "Content-Type: application/x-www-form-urlencoded\r\n"
                              : "User-Agent: meshreg-ctl\r\n",
        /* POSTs always say their length, even 0 */
        .body = body   ? body
                : post ? ""
                       : NULL,
        .body_len = body ? strlen(body) : 0,
        .timeout_ms = (int)(CTL_TIMEOUT_S * 1000),
        .max_body = CTL_MAX_ANSWER + 1,
    };
    if (httpc_fetch(&req, &a) < 0) {
        snprintf(err, errlen, "out of memory");
        return CTL_ERROR;
    }
    enum ctl_fail rc = CTL_OK;
    if (a.res.status == 0) {
        rc = call_failed(&a.res, hostport, err, errlen);
    } else if (a.res.body_len > CTL_MAX_ANSWER) {
        snprintf(err, errlen, "%s: answer too large", hostport);
        rc = CTL_ERROR;
    } else {
        ans->status = a.res.status;
        ans->body = a.body;
        ans->len = a.res.body_len;
        a.body = NULL; /* now ans's */
    }
    httpc_fetch_free(&a);
    return rc;
}

/* Percent-encodes a form value. */
static void form_append(char *out, size_t cap, const char *key, const char *val)
{
    size_t o = strlen(out);
    int n = snprintf(out + o, cap - o, "%s%s=", o ? "&" : "", key);
    if (n < 0 || (size_t)n >= cap - o) {
        out[o] = '\0'; /* no half a key */
        return;
    }
    o += (size_t)n;
    for (const unsigned char *p = (const unsigned char *)val; *p && o + 4 < cap; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p))
            out[o++] = (char)*p;
        else
            o += (size_t)snprintf(out + o, cap - o, "%%%02X", *p);
    }
    out[o] = '\0';
}

/* Reads drain.window_remaining_ms (or window_remaining_ms at the top, as
 * POST /drain answers it). Returns -1 when absent. */
static long long window_ms(const char *body)
{
    json_error_t jerr;
    json_t *o = json_loads(body, 0, &jerr);
    long long ms = -1;
    if (!o)
        return -1;
    json_t *d = json_object_get(o, "drain");
    json_t *w = json_object_get(d ? d : o, "window_remaining_ms");
    if (json_is_number(w))
        ms = (long long)json_number_value(w);
    json_decref(o);
    return ms;
}

static void print_body(FILE *f, const struct ctl_answer *a)
{
    json_error_t jerr;
    json_t *o = a->len ? json_loads(a->body, 0, &jerr) : NULL;
    if (o) {
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s) {
            fprintf(f, "%s\n", s);
            free(s);
        }
        json_decref(o);
    } else if (a->len) {
        fprintf(f, "%s%s", a->body, a->body[a->len - 1] == '\n' ? "" : "\n");
    }
}

static int fail_answer(const char *cmd, const char *admin, const struct ctl_answer *a)
{
    fprintf(stderr, "meshreg %s: %s answered %d%s\n", cmd, admin, a->status,
            a->status == 403 ? " (changing routes only from loopback or --admin-allow)" : "");
    print_body(stderr, a);
    return 1;
}

/* --wait: polls /status until the window is over or the sidecar is gone. */
static int wait_window(const struct netaddr *na, const char *admin, long long first_ms)
{
    double end = now_s() + first_ms / 1000.0 + CTL_WAIT_SLACK_S;
    long long ms = first_ms;
    int errors = 0;
    char err[256];

    fprintf(stderr, "meshreg drain: waiting for the drain window (%.1f s)\n", first_ms / 1000.0);
    while (ms != 0) {
        if (now_s() > end) {
            fprintf(stderr, "meshreg drain: window still not over %.0f s past its end; giving up\n",
                    CTL_WAIT_SLACK_S);
            return 1;
        }
        sleep_s(CTL_POLL_S);
        struct ctl_answer a;
        enum ctl_fail f = call(na, "GET", "/status", NULL, &a, err, sizeof(err));
        if (f == CTL_GONE) {
            fprintf(stderr, "meshreg drain: sidecar gone (%s): window over\n", err);
            return 0;
        }
        if (f == CTL_OK && a.status == 200 && (ms = window_ms(a.body)) >= 0) {
            errors = 0;
        } else {
            if (f == CTL_OK)
                snprintf(err, sizeof(err), "GET /status answered %d without a drain window",
                         a.status);
            ms = -1;
            if (++errors >= CTL_WAIT_MAX_ERRORS) {
                fprintf(stderr, "meshreg drain: %s: %s\n", admin, err);
                free(a.body);
                return 1;
            }
        }
        free(a.body);
    }
    fprintf(stderr, "meshreg drain: window over\n");
    return 0;
}

/* A number of seconds (or a Unix time): finite and >= 0. */
static int check_seconds(const char *cmd, const char *flag, const char *v)
{
    char *end;
    errno = 0;
    double e = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(e) || e < 0) {
        fprintf(stderr, "meshreg %s: %s wants seconds (>= 0), got \"%s\"\n", cmd, flag, v);
        return -1;
    }
    return 0;
}

/* Returns 0 to go on, 1 when --help was given, -1 on bad usage. */
static int parse_args(const char *cmd, int argc, char **argv, struct ctl_opts *o)
{
    bool is_drain = strcmp(cmd, "drain") == 0, is_status = strcmp(cmd, "status") == 0;
    const char *names[] = {"--admin", "--reason", "--expires", "--until"};
    const char **slot[] = {&o->admin, &o->reason, &o->expires, &o->until};
    size_t nnames = is_drain ? 4 : 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            return 1;
        if ((strcmp(a, "--wait") == 0 && is_drain) || (strcmp(a, "--json") == 0 && is_status)) {
            *(is_drain ? &o->wait : &o->json) = true;
            continue;
        }
        if (a[0] != '-' && !is_status && !o->scope) {
            o->scope = a;
            continue;
        }
        size_t k;
        for (k = 0; k < nnames; k++) {
            size_t nl = strlen(names[k]);
            if (strcmp(a, names[k]) == 0) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "meshreg %s: %s needs a value\n", cmd, a);
                    return -1;
                }
                val = argv[++i];
                break;
            }
            if (strncmp(a, names[k], nl) == 0 && a[nl] == '=') {
                val = a + nl + 1;
                break;
            }
        }
        if (!val) {
            fprintf(stderr, "meshreg %s: unknown %s \"%s\"\n", cmd,
                    a[0] == '-' ? "option" : "argument", a);
            return -1;
        }
        *slot[k] = val;
    }
    if (o->expires && o->until) {
        fprintf(stderr, "meshreg %s: --expires and --until: one or the other\n", cmd);
        return -1;
    }
    if ((o->expires && check_seconds(cmd, "--expires", o->expires) < 0) ||
        (o->until && check_seconds(cmd, "--until", o->until) < 0))
        return -1;
    if (o->scope && !*o->scope) {
        fprintf(stderr, "meshreg %s: want SVC.NS or all, got \"\"\n", cmd);
        return -1;
    }
    return 0;
}

/* hadown's default reason: who is doing it. */
static const char *default_reason(void)
{
    const char *env[] = {"SUDO_USER", "SSH_USER"};
    for (size_t i = 0; i < 2; i++) {
        const char *v = getenv(env[i]);
        if (v && *v)
            return v;
    }
    struct passwd *pw = getpwuid(geteuid());
    return pw && pw->pw_name ? pw->pw_name : "";
}

/* One line per check in hastatus' format; returns 0 when every check is
 * up, 1 otherwise (or when the answer is not what /status gives). */
static int print_hastatus(const struct ctl_answer *a)
{
    json_error_t jerr;
    json_t *o = json_loads(a->body, 0, &jerr);
    json_t *checks = json_object_get(o, "checks"), *c;
    size_t i;
    int rc = 0;
    if (!json_is_array(checks)) {
        fprintf(stderr, "meshreg status: the answer has no list of checks\n");
        json_decref(o);
        return 1;
    }
    bool shutting = json_is_true(json_object_get(json_object_get(o, "drain"), "shutting_down"));
    json_array_foreach(checks, i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        json_t *d = json_object_get(c, "drain");
        if (!name)
            continue;
        if (json_is_true(json_object_get(c, "up"))) {
            printf("UP\t%s\n", name);
            continue;
        }
        rc = 1;
        bool said = false;
        if (json_is_true(json_object_get(c, "drained")) && d) {
            json_t *u = json_object_get(d, "until");
            const char *r = json_string_value(json_object_get(d, "reason"));
            if (json_is_number(u))
                printf("DOWN\t%f\t%s\t%s\n", json_number_value(u), name, r ? r : "");
            else
                printf("DOWN\tinf\t%s\t%s\n", name, r ? r : "");
            said = true;
        }
        if (shutting) {
            printf("DOWN\tinf\t%s\tshutting down\n", name);
            said = true;
        }
        if (!json_is_true(json_object_get(c, "healthy")) || !said) {
            const char *lr = json_string_value(json_object_get(c, "last_result"));
            printf("FAIL\t%s\t%s\n", name, lr ? lr : "");
        }
    }
    json_decref(o);
    return rc;
}

/* Every check in a /status answer is up. */
static bool all_up(const struct ctl_answer *a)
{
    json_t *o = json_loads(a->body, 0, NULL), *c;
    json_t *checks = json_object_get(o, "checks");
    size_t i;
    bool up = true; /* a check that is not up says so; none, nothing down */
    json_array_foreach(checks, i, c) up = up && json_is_true(json_object_get(c, "up"));
    json_decref(o);
    return up;
}

static int ctl_status(const struct netaddr *na, const struct ctl_opts *o)
{
    struct ctl_answer a;
    char err[256];
    if (call(na, "GET", "/status", NULL, &a, err, sizeof(err)) != CTL_OK) {
        fprintf(stderr, "meshreg status: no sidecar answers: %s\n", err);
        return 3;
    }
    int rc;
    if (a.status != 200) {
        print_body(stderr, &a);
        fprintf(stderr, "meshreg status: %s answered %d\n", o->admin, a.status);
        rc = 1;
    } else if (o->json) {
        print_body(stdout, &a);
        rc = all_up(&a) ? 0 : 1;
    } else {
        rc = print_hastatus(&a);
    }
    free(a.body);
    return rc;
}

int ctl_main(const char *cmd, int argc, char **argv)
{
    struct ctl_opts o = {0};
    struct netaddr na;
    struct ctl_answer a;
    char err[256];
    int rc;

    if (strcmp(cmd, "drain") != 0 && strcmp(cmd, "undrain") != 0 && strcmp(cmd, "status") != 0) {
        fprintf(stderr, "meshreg: unknown subcommand \"%s\"\n", cmd);
        return 2;
    }
    rc = parse_args(cmd, argc, argv, &o);
    if (rc != 0) {
        usage(rc > 0 ? stdout : stderr, cmd);
        return rc > 0 ? 0 : 2;
    }
    if (!o.admin)
        o.admin = getenv("MESHREG_ADMIN");
    if (!o.admin || !*o.admin)
        o.admin = CTL_DEFAULT_ADMIN;
    if (parse_target(o.admin, &na, err, sizeof(err)) < 0) {
        fprintf(stderr, "meshreg %s: --admin: %s\n", cmd, err);
        return 2;
    }

    if (strcmp(cmd, "status") == 0)
        return ctl_status(&na, &o);

    char form[1024] = "";
    bool drain = strcmp(cmd, "drain") == 0;
    form_append(form, sizeof(form), "service", o.scope ? o.scope : "all");
    if (drain)
        form_append(form, sizeof(form), "reason", o.reason ? o.reason : default_reason());
    if (o.expires)
        form_append(form, sizeof(form), "expires", o.expires);
    if (o.until)
        form_append(form, sizeof(form), "until", o.until);
    if (call(&na, "POST", drain ? "/drain" : "/undrain", form, &a, err, sizeof(err)) != CTL_OK) {
        if (drain && o.wait) {
            /* preStop: a sidecar already gone has nothing left to drain */
            fprintf(stderr, "meshreg drain: no sidecar answers (%s): nothing to wait for\n", err);
            return 0;
        }
        fprintf(stderr, "meshreg %s: no sidecar answers: %s\n", cmd, err);
        return 1;
    }
    if (a.status != 200) {
        rc = fail_answer(cmd, o.admin, &a);
        free(a.body);
        return rc;
    }
    print_body(stdout, &a);
    fflush(stdout);
    rc = 0;
    if (drain && o.wait) {
        long long ms = window_ms(a.body);
        rc = wait_window(&na, o.admin, ms < 0 ? 0 : ms);
    }
    free(a.body);
    return rc;
}
