/*
 * One logfmt line per event on stderr. Writes go out with a single
 * fwrite per line so lines from flo-dev and the sidecar never interleave
 * mid-line.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "flo/flo_log.h"

#define LOG_LINE_MAX 2048

static enum flo_log_level_e log_level = FLO_LOG_INFO;

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
