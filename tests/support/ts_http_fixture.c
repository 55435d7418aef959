/*
 * The HTTP integration-test fixture (see ts_http_fixture.h): process start
 * and stop with the sanitizer-log check, and JSON request helpers.
 */
#include "ts_http_fixture.h"

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_SCAN_MAX (4u << 20) /* bytes of a process log searched for reports */
#define URL_MAX      640

void ts_http_fixture_start(struct ts_flodev *dev, struct ts_sidecar *sc, const char *const extra[])
{
    cr_assert_eq(ts_flodev_start(dev, NULL), 0, "flo-dev did not start");
    cr_assert_eq(ts_sidecar_start(sc, dev->port, extra), 0, "flo-sidecar did not start");
    if (ts_sidecar_wait_ready(sc, TS_WAIT_MS) != 0) {
        ts_dump_log(&sc->proc); /* why it did not come up */
        cr_assert_fail("sidecar never became ready");
    }
}

/* A sanitizer build writes its reports into the process log, and they
 * would otherwise go unnoticed: the process exits on its own terms. */
void ts_http_check_log(const struct ts_proc *p)
{
    FILE *f = fopen(p->log, "r");
    if (f == NULL) {
        return;
    }
    char *buf = malloc(LOG_SCAN_MAX + 1);
    size_t n = buf ? fread(buf, 1, LOG_SCAN_MAX, f) : 0;
    fclose(f);
    if (buf == NULL) {
        return;
    }
    buf[n] = '\0';
    bool bad = strstr(buf, "AddressSanitizer") || strstr(buf, "LeakSanitizer") ||
               strstr(buf, "runtime error:");
    free(buf);
    if (bad) {
        ts_dump_log(p);
    }
    cr_expect(!bad, "sanitizer report in %s", p->log);
}

void ts_http_fixture_stop(struct ts_flodev *dev, struct ts_sidecar *sc)
{
    if (sc->proc.pid) {
        ts_stop(&sc->proc);
        ts_http_check_log(&sc->proc);
    }
    if (dev->proc.pid) {
        ts_stop(&dev->proc);
    }
}

struct ts_http_resp ts_http_call(const struct ts_sidecar *sc, const char *method, const char *path,
                                 const char *const hdrs[], const void *body, size_t len)
{
    char u[URL_MAX];
    struct ts_http_resp r;
    int n = snprintf(u, sizeof(u), "http://127.0.0.1:%u%s", (unsigned)sc->http_port, path);
    cr_assert(n > 0 && (size_t)n < sizeof(u), "%s %s: path too long", method, path);
    cr_assert_eq(ts_http(method, u, hdrs, body, len, &r), 0, "%s %s: transport error", method,
                 path);
    return r;
}

cJSON *ts_http_call_json(const struct ts_sidecar *sc, const char *method, const char *path,
                         const char *const hdrs[], const char *body, long want)
{
    struct ts_http_resp r = ts_http_call(sc, method, path, hdrs, body, body ? strlen(body) : 0);
    cr_assert_eq(r.status, want, "%s %s: want %ld got %ld: %s", method, path, want, r.status,
                 r.body);
    cJSON *doc = cJSON_ParseWithLength(r.body, r.body_len);
    cr_assert_not_null(doc, "%s %s: not JSON: %s", method, path, r.body);
    ts_http_resp_free(&r);
    return doc;
}

double ts_json_num(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(o, name);
    cr_assert(cJSON_IsNumber(v), "field %s missing or not a number", name);
    return v->valuedouble;
}

const char *ts_json_str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(o, name);
    cr_assert(cJSON_IsString(v), "field %s missing or not a string", name);
    return v->valuestring;
}
