#include "config/yaml11.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cmem.h"

static bool dig(char c)
{
    return c >= '0' && c <= '9';
}

static bool in_set(char c, const char *set)
{
    return c && strchr(set, c);
}

static bool one_of(const char *s, size_t len, const char *const *list)
{
    for (; *list; list++)
        if (strlen(*list) == len && memcmp(s, *list, len) == 0)
            return true;
    return false;
}

/* ---- implicit resolution: PyYAML's resolver patterns, one by one ---- */

/* (?::[0-5]?[0-9])+ from s[*j]; true when at least one group was read. */
static bool sexagesimal_groups(const char *s, size_t len, size_t *j)
{
    size_t k = *j;
    int groups = 0;
    while (k < len && s[k] == ':') {
        k++;
        if (k + 1 < len && in_set(s[k], "012345") && dig(s[k + 1]))
            k += 2;
        else if (k < len && dig(s[k]))
            k++;
        else
            return false;
        groups++;
    }
    *j = k;
    return groups > 0;
}

/* [0-9_]* from s[*j] */
static void digits_(const char *s, size_t len, size_t *j)
{
    while (*j < len && (dig(s[*j]) || s[*j] == '_'))
        (*j)++;
}

static bool match_int(const char *s, size_t len)
{
    size_t j = (len && in_set(s[0], "+-")) ? 1 : 0;
    const char *r = s + j;
    size_t n = len - j;
    if (n == 0)
        return false;
    if (n >= 3 && r[0] == '0' && (r[1] == 'b' || r[1] == 'x')) {
        const char *set = r[1] == 'b' ? "01_" : "0123456789abcdefABCDEF_";
        for (size_t k = 2; k < n; k++)
            if (!in_set(r[k], set))
                return false;
        return true;
    }
    if (r[0] == '0') {
        for (size_t k = 1; k < n; k++)
            if (!in_set(r[k], "01234567_"))
                return false;
        return true;
    }
    if (!in_set(r[0], "123456789"))
        return false;
    size_t k = 1;
    digits_(r, n, &k);
    if (k == n)
        return true;
    return sexagesimal_groups(r, n, &k) && k == n;
}

/* ([eE][-+][0-9]+)?$ from s[j] */
static bool exp_tail(const char *s, size_t len, size_t j)
{
    if (j == len)
        return true;
    if (!in_set(s[j], "eE") || j + 2 >= len || !in_set(s[j + 1], "+-"))
        return false;
    for (j += 2; j < len; j++)
        if (!dig(s[j]))
            return false;
    return true;
}

static bool match_float(const char *s, size_t len)
{
    static const char *const infs[] = {".inf", ".Inf", ".INF", NULL};
    static const char *const nans[] = {".nan", ".NaN", ".NAN", NULL};
    if (one_of(s, len, nans))
        return true;
    size_t j = (len && in_set(s[0], "+-")) ? 1 : 0;
    if (one_of(s + j, len - j, infs))
        return true;
    if (j == 0 && len >= 2 && s[0] == '.' && dig(s[1])) { /* \.[0-9][0-9_]*(exp)? */
        size_t k = 2;
        digits_(s, len, &k);
        return exp_tail(s, len, k);
    }
    if (j >= len || !dig(s[j]))
        return false;
    size_t k = j + 1;
    digits_(s, len, &k);
    if (k < len && s[k] == '.') { /* [0-9][0-9_]*\.[0-9_]*(exp)? */
        k++;
        digits_(s, len, &k);
        return exp_tail(s, len, k);
    }
    /* [0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]* */
    if (!sexagesimal_groups(s, len, &k) || k >= len || s[k] != '.')
        return false;
    k++;
    digits_(s, len, &k);
    return k == len;
}

struct ts {
    int year, month, day, hour, minute, second, tzh, tzm;
    bool time, tz_offset;
};

/* n digits (exactly lo..hi of them) from s[*j] into *out */
static bool ts_digits(const char *s, size_t len, size_t *j, int lo, int hi, int *out)
{
    int n = 0, v = 0;
    while (*j < len && n < hi && dig(s[*j])) {
        v = v * 10 + (s[*j] - '0');
        (*j)++;
        n++;
    }
    *out = v;
    return n >= lo;
}

static bool ts_tz(const char *s, size_t len, size_t j, struct ts *t)
{
    size_t k = j;
    while (k < len && in_set(s[k], " \t"))
        k++;
    if (k == len)
        return k == j; /* trailing blanks without a zone do not match */
    if (s[k] == 'Z')
        return k + 1 == len;
    if (!in_set(s[k], "+-"))
        return false;
    k++;
    t->tz_offset = true;
    if (!ts_digits(s, len, &k, 1, 2, &t->tzh))
        return false;
    if (k < len && s[k] == ':' && (k++, !ts_digits(s, len, &k, 2, 2, &t->tzm)))
        return false;
    return k == len;
}

/* The timestamp pattern. implicit: the resolver's (a date alone needs two
 * digits for month and day); else the constructor's (one is enough). */
static bool ts_match(const char *s, size_t len, bool implicit, struct ts *t)
{
    size_t j = 0, m0, d0;
    memset(t, 0, sizeof(*t));
    if (!ts_digits(s, len, &j, 4, 4, &t->year) || j >= len || s[j++] != '-')
        return false;
    m0 = j;
    if (!ts_digits(s, len, &j, 1, 2, &t->month) || j >= len || s[j++] != '-')
        return false;
    d0 = j;
    if (!ts_digits(s, len, &j, 1, 2, &t->day))
        return false;
    if (j == len)
        return !implicit || (d0 - m0 == 3 && j - d0 == 2);
    if (in_set(s[j], "Tt")) {
        j++;
    } else if (in_set(s[j], " \t")) {
        while (j < len && in_set(s[j], " \t"))
            j++;
    } else {
        return false;
    }
    t->time = true;
    if (!ts_digits(s, len, &j, 1, 2, &t->hour) || j >= len || s[j++] != ':' ||
        !ts_digits(s, len, &j, 2, 2, &t->minute) || j >= len || s[j++] != ':' ||
        !ts_digits(s, len, &j, 2, 2, &t->second))
        return false;
    if (j < len && s[j] == '.')
        for (j++; j < len && dig(s[j]);)
            j++;
    return ts_tz(s, len, j, t);
}

/* What Python's datetime.date/datetime/timezone accept. */
static const char *ts_invalid(const struct ts *t)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (t->year < 1)
        return "year 0 is out of range";
    if (t->month < 1 || t->month > 12)
        return "month must be in 1..12";
    bool leap = (t->year % 4 == 0 && t->year % 100 != 0) || t->year % 400 == 0;
    if (t->day < 1 || t->day > mdays[t->month - 1] + (t->month == 2 && leap))
        return "day is out of range for month";
    if (t->time && (t->hour > 23 || t->minute > 59 || t->second > 59))
        return "hour, minute or second out of range";
    if (t->tz_offset && t->tzh * 60 + t->tzm >= 24 * 60)
        return "time zone offset must be less than 24 hours";
    return NULL;
}

const char *yaml11_implicit(const char *s, size_t len)
{
    static const char *const bools[] = {"yes",  "Yes",  "YES",   "no",    "No",    "NO", "true",
                                        "True", "TRUE", "false", "False", "FALSE", "on", "On",
                                        "ON",   "off",  "Off",   "OFF",   NULL};
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    struct ts t;
    if (memchr(s, '\0', len))
        return "str";
    if (one_of(s, len, bools))
        return "bool";
    if (match_float(s, len))
        return "float";
    if (match_int(s, len))
        return "int";
    if (len == 2 && memcmp(s, "<<", 2) == 0)
        return "merge";
    if (one_of(s, len, nulls))
        return "null";
    if (ts_match(s, len, true, &t))
        return "timestamp";
    if (len == 1 && s[0] == '=')
        return "value";
    if (len == 1 && in_set(s[0], "!&*"))
        return "yaml";
    return "str";
}

/* ---- construction ---- */

struct bigint {
    long long v; /* valid unless big */
    double d;
    bool big;
};

static void bi_muladd(struct bigint *b, long long mul, long long add)
{
    b->d = b->d * (double)mul + (double)add;
    long long t;
    if (b->big || __builtin_mul_overflow(b->v, mul, &t) || __builtin_add_overflow(t, add, &b->v))
        b->big = true;
}

static void trim(const char **s, size_t *len)
{
    while (*len && in_set(**s, " \t\n\v\f\r"))
        (*s)++, (*len)--;
    while (*len && in_set((*s)[*len - 1], " \t\n\v\f\r"))
        (*len)--;
}

/* Python's int(text, base) on text without underscores. */
static bool py_int(const char *s, size_t len, int base, struct bigint *out)
{
    memset(out, 0, sizeof(*out));
    trim(&s, &len);
    bool neg = false;
    if (len && in_set(s[0], "+-"))
        neg = s[0] == '-', s++, len--;
    if (len >= 2 && s[0] == '0' && base != 10) {
        char p = (char)(s[1] | 0x20);
        if ((base == 2 && p == 'b') || (base == 8 && p == 'o') || (base == 16 && p == 'x'))
            s += 2, len -= 2;
    }
    if (!len)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = (char)(s[i] | 0x20);
        int v = dig(s[i]) ? s[i] - '0' : (c >= 'a' && c <= 'z') ? c - 'a' + 10 : 99;
        if (v >= base)
            return false;
        bi_muladd(out, base, neg ? -v : v);
    }
    return true;
}

/* Python's float(text) on lowercased text without underscores. */
static bool py_float(const char *s, size_t len, double *out)
{
    trim(&s, &len);
    char buf[400];
    size_t j = (len && in_set(s[0], "+-")) ? 1 : 0, k = j;
    bool digits = false;
    if (len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (strcmp(buf + j, "inf") == 0 || strcmp(buf + j, "infinity") == 0 ||
        strcmp(buf + j, "nan") == 0) {
        *out = strcmp(buf + j, "nan") == 0 ? NAN : (s[0] == '-' ? -INFINITY : INFINITY);
        return true;
    }
    for (; k < len && dig(s[k]); k++)
        digits = true;
    if (k < len && s[k] == '.')
        for (k++; k < len && dig(s[k]); k++)
            digits = true;
    if (!digits)
        return false;
    if (k < len && s[k] == 'e') {
        k++;
        if (k < len && in_set(s[k], "+-"))
            k++;
        if (k >= len || !dig(s[k]))
            return false;
        while (k < len && dig(s[k]))
            k++;
    }
    if (k != len)
        return false;
    *out = strtod(buf, NULL);
    return true;
}

/* The text without '_' (and lowercased for floats), as PyYAML prepares it. */
static char *prepare(const char *s, size_t len, bool lower)
{
    char *b = cmem_malloc(len + 1);
    size_t j = 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] != '_')
            b[j++] = lower && s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] | 0x20) : s[i];
    b[j] = '\0';
    return b;
}

static bool construct_int(const char *s, size_t len, struct yaml11_value *v)
{
    char *b = prepare(s, len, false), *p = b;
    bool neg = b[0] == '-', ok = true;
    struct bigint r = {0};
    if (in_set(b[0], "+-"))
        p++;
    if (!*p)
        ok = false;
    else if (strcmp(p, "0") == 0)
        ;
    else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'x'))
        ok = py_int(p + 2, strlen(p + 2), p[1] == 'b' ? 2 : 16, &r);
    else if (p[0] == '0')
        ok = py_int(p, strlen(p), 8, &r);
    else if (strchr(p, ':')) {
        for (char *part = p, *end; ok && part; part = end ? end + 1 : NULL) {
            struct bigint d;
            end = strchr(part, ':');
            ok = py_int(part, end ? (size_t)(end - part) : strlen(part), 10, &d);
            bi_muladd(&r, 60, d.big ? 0 : d.v);
            r.big |= d.big;
        }
    } else
        ok = py_int(p, strlen(p), 10, &r);
    free(b);
    if (!ok)
        return false;
    v->type = YAML11_INT;
    v->big = r.big || (neg && r.v == LLONG_MIN);
    v->i = v->big ? ((r.d < 0) != neg ? LLONG_MIN : LLONG_MAX) : neg ? -r.v : r.v;
    v->f = v->big ? (neg ? -r.d : r.d) : (double)v->i;
    return true;
}

static bool construct_float(const char *s, size_t len, struct yaml11_value *v)
{
    char *b = prepare(s, len, true), *p = b;
    bool neg = b[0] == '-', ok = true;
    double r = 0;
    if (in_set(b[0], "+-"))
        p++;
    if (!b[0])
        ok = false;
    else if (strcmp(p, ".inf") == 0)
        r = INFINITY;
    else if (strcmp(p, ".nan") == 0)
        r = NAN, neg = false;
    else if (strchr(p, ':')) {
        for (char *part = p, *end; ok && part; part = end ? end + 1 : NULL) {
            double d = 0;
            end = strchr(part, ':');
            ok = py_float(part, end ? (size_t)(end - part) : strlen(part), &d);
            r = r * 60 + d;
        }
    } else
        ok = py_float(p, strlen(p), &r);
    free(b);
    v->type = YAML11_FLOAT;
    v->f = neg ? -r : r;
    return ok;
}

/* base64.decodebytes: characters outside the alphabet are skipped; the data
 * must end on a quantum boundary or be padded there. */
static bool base64_ok(const char *s, size_t len)
{
    int quad = 0, pads = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80)
            return false;
        if (c == '=') {
            if (quad >= 2 && quad + ++pads >= 4)
                return true;
            continue;
        }
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || dig((char)c) || c == '+' ||
              c == '/'))
            continue;
        quad = (quad + 1) % 4;
        pads = 0;
    }
    return quad == 0;
}

int yaml11_construct(const char *tag, const char *s, size_t len, struct yaml11_value *v, char *err,
                     size_t errlen)
{
    static const char *const bools[] = {"yes", "no", "true", "false", "on", "off", NULL};
    const size_t pl = strlen(YAML11_TAG);
    const char *t = strncmp(tag, YAML11_TAG, pl) == 0 ? tag + pl : "";
    struct ts ts;
    memset(v, 0, sizeof(*v));
    v->type = YAML11_STR;
    bool nul = memchr(s, '\0', len) != NULL;
    if (strcmp(t, "str") == 0)
        return 0;
    if (strcmp(t, "null") == 0) {
        v->type = YAML11_NULL;
        return 0;
    }
    if (strcmp(t, "bool") == 0) {
        char low[8] = {0};
        for (size_t i = 0; i < len && i < sizeof(low) - 1; i++)
            low[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] | 0x20 : s[i]);
        v->type = YAML11_BOOL;
        v->b = low[0] == 'y' || low[0] == 't' || strcmp(low, "on") == 0;
        if (!nul && len < sizeof(low) && one_of(low, len, bools))
            return 0;
        snprintf(err, errlen, "'%.60s' is not a boolean", s);
        return -1;
    }
    if (strcmp(t, "int") == 0 || strcmp(t, "float") == 0) {
        if (!nul && (t[0] == 'i' ? construct_int(s, len, v) : construct_float(s, len, v)))
            return 0;
        snprintf(err, errlen, "'%.60s' is not a valid %s", s, t[0] == 'i' ? "integer" : "float");
        return -1;
    }
    if (strcmp(t, "timestamp") == 0) {
        const char *why = "not a timestamp";
        if (!nul && ts_match(s, len, false, &ts) && !(why = ts_invalid(&ts))) {
            v->type = YAML11_TIMESTAMP;
            return 0;
        }
        snprintf(err, errlen, "'%.60s': %s", s, why);
        return -1;
    }
    if (strcmp(t, "binary") == 0) {
        v->type = YAML11_BINARY;
        if (base64_ok(s, len))
            return 0;
        snprintf(err, errlen, "cannot decode base64 data");
        return -1;
    }
    snprintf(err, errlen, "could not determine a constructor for the tag '%.200s'", tag);
    return -1;
}
