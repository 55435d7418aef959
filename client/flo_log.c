/*
 * One logfmt line (or, with flo_log_set_format, one JSON object) per event
 * on stderr. Writes go out with a single fwrite per line so lines from
 * flo-dev and the sidecar never interleave mid-line. The JSON form is made
 * from the logfmt form: the key=value tail is split back into members.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "flo/flo_log.h"

#define LOG_LINE_MAX 2048

static enum flo_log_level_e log_level = FLO_LOG_INFO;
static enum flo_log_format_e log_format = FLO_LOG_FORMAT_LOGFMT;

void flo_log_set_format(enum flo_log_format_e format)
{
    log_format = format;
}

int flo_log_parse_format(const char *s)
{
    if (strcasecmp(s, "logfmt") == 0) {
        return FLO_LOG_FORMAT_LOGFMT;
    }
    if (strcasecmp(s, "json") == 0) {
        return FLO_LOG_FORMAT_JSON;
    }
    return -1;
}

/* Bounded JSON writer into a line buffer (always leaves room for "}\n"). */
struct jline {
    char *buf;
    int n, cap;
};

static void jput(struct jline *j, char ch)
{
    if (j->n < j->cap - 3) {
        j->buf[j->n++] = ch;
    }
}

/* A JSON string from s[0..len): quotes, escapes, control bytes as \u00XX. */
static void jstr(struct jline *j, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    jput(j, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            jput(j, '\\');
            jput(j, (char)ch);
        } else if (ch < 0x20) {
            jput(j, '\\');
            jput(j, 'u');
            jput(j, '0');
            jput(j, '0');
            jput(j, hex[ch >> 4]);
            jput(j, hex[ch & 15]);
        } else {
            jput(j, (char)ch);
        }
    }
    jput(j, '"');
}

/* Append the members of a logfmt tail: key=value, key="quoted \" value". */
static void jtail(struct jline *j, const char *p)
{
    char val[LOG_LINE_MAX];
    while (*p) {
        while (*p == ' ') {
            p++;
        }
        const char *k = p;
        while (*p && *p != '=' && *p != ' ') {
            p++;
        }
        size_t klen = (size_t)(p - k);
        if (klen == 0) {
            if (*p) {
                p++;
            }
            continue;
        }
        size_t vlen = 0;
        if (*p == '=') {
            p++;
            if (*p == '"') {
                for (p++; *p && *p != '"'; p++) {
                    if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) {
                        p++;
                    }
                    val[vlen++] = *p;
                }
                if (*p == '"') {
                    p++;
                }
            } else {
                while (*p && *p != ' ') {
                    val[vlen++] = *p++;
                }
            }
        }
        jput(j, ',');
        jstr(j, k, klen);
        jput(j, ':');
        jstr(j, val, vlen);
    }
}

/* Write one JSON line for an event already formatted as logfmt pieces. */
static void emit_json(const char *ts, const char *level, const char *msg, const char *tail)
{
    char line[LOG_LINE_MAX * 2];
    struct jline j = {.buf = line, .n = 0, .cap = (int)sizeof(line)};
    jput(&j, '{');
    jstr(&j, "ts", 2);
    jput(&j, ':');
    jstr(&j, ts, strlen(ts));
    jput(&j, ',');
    jstr(&j, "level", 5);
    jput(&j, ':');
    jstr(&j, level, strlen(level));
    jput(&j, ',');
    jstr(&j, "msg", 3);
    jput(&j, ':');
    jstr(&j, msg, strlen(msg));
    if (tail) {
        jtail(&j, tail);
    }
    line[j.n++] = '}';
    line[j.n++] = '\n';
    fwrite(line, 1, (size_t)j.n, stderr);
}

void flo_log_set_level(enum flo_log_level_e level)
{
    log_level = level;
}

enum flo_log_level_e flo_log_get_level(void)
{
    return log_level;
}

int flo_log_parse_level(const char *s)
{
    static const char *const names[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; i < 5; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            return i;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        return FLO_LOG_WARN;
    }
    return -1;
}

void flo_log(enum flo_log_level_e level, const char *msg, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    if (level < log_level || level >= FLO_LOG_OFF) {
        return;
    }
    char line[LOG_LINE_MAX];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    if (log_format == FLO_LOG_FORMAT_JSON) {
        char stamp[96]; /* room for any int the compiler cannot bound */
        snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
        if (fmt != NULL) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(line, sizeof line, fmt, ap);
            va_end(ap);
        }
        emit_json(stamp, names[level], msg, fmt != NULL ? line : NULL);
        return;
    }
    int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s msg=\"",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, names[level]);
    /* Quote the message: escape " and \ and drop control bytes. */
    for (const char *p = msg; *p && n < LOG_LINE_MAX - 4; p++) {
        if (*p == '"' || *p == '\\') {
            line[n++] = '\\';
        }
        line[n++] = ((unsigned char)*p < 0x20) ? ' ' : *p;
    }
    line[n++] = '"';
    if (fmt != NULL && n < LOG_LINE_MAX - 2) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, (size_t)(LOG_LINE_MAX - 1 - n), fmt, ap);
        va_end(ap);
        if (m > 0) {
            n += m < LOG_LINE_MAX - 1 - n ? m : LOG_LINE_MAX - 2 - n;
        }
    }
    line[n++] = '\n';
    fwrite(line, 1, (size_t)n, stderr);
}
