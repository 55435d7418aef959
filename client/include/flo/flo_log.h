/*
 * A tiny leveled logger shared by libflo, flo-dev and the sidecar. Each
 * event is one logfmt line on stderr:
 *   ts=2026-11-26T06:15:41.123Z level=info msg="upstream connected" addr=127.0.0.1:9000
 * The caller writes the key=value tail (after msg) with printf formatting.
 */
#ifndef FLO_LOG_H
#define FLO_LOG_H

#include <stdarg.h>

enum flo_log_level_e {
    FLO_LOG_DEBUG = 0,
    FLO_LOG_INFO = 1,
    FLO_LOG_WARN = 2,
    FLO_LOG_ERROR = 3,
    FLO_LOG_OFF = 4,
};

/*
 * Line format: logfmt (default) or JSON lines, where each key=value of the
 * tail becomes a string member:
 *   {"ts":"2026-11-26T06:15:41.123Z","level":"info","msg":"upstream up",
 *    "addr":"127.0.0.1:9000"}   (one line)
 */
enum flo_log_format_e {
    FLO_LOG_FORMAT_LOGFMT = 0,
    FLO_LOG_FORMAT_JSON = 1,
};
void flo_log_set_format(enum flo_log_format_e format);
/* Parse "logfmt|json"; returns -1 if unknown. */
int flo_log_parse_format(const char *s);

/* Messages below `level` are dropped. Default FLO_LOG_INFO. */
void flo_log_set_level(enum flo_log_level_e level);
enum flo_log_level_e flo_log_get_level(void);
/* Parse "debug|info|warn|error|off"; returns -1 if unknown. */
int flo_log_parse_level(const char *s);

/*
 * Emit one event. `msg` is the human message (quoted for you); `fmt` is the
 * optional key=value tail ("addr=%s err=%s"), may be NULL. Values holding
 * spaces are written "quoted" with \" and \\ escaped, so the JSON format can
 * split the tail back into members.
 */
void flo_log(enum flo_log_level_e level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define FLO_DEBUG(msg, ...) flo_log(FLO_LOG_DEBUG, msg, __VA_ARGS__)
#define FLO_INFO(msg, ...)  flo_log(FLO_LOG_INFO, msg, __VA_ARGS__)
#define FLO_WARN(msg, ...)  flo_log(FLO_LOG_WARN, msg, __VA_ARGS__)
#define FLO_ERROR(msg, ...) flo_log(FLO_LOG_ERROR, msg, __VA_ARGS__)

#endif
