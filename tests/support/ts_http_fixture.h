/*
 * The fixture shared by the HTTP integration tests: start flo-dev and a
 * flo-sidecar in front of it on free loopback ports, stop both (failing the
 * test if the sidecar's log holds a sanitizer report), and JSON request
 * helpers on top of ts_http. Failures are Criterion assertions, so these
 * are only for use inside tests and their init / fini hooks.
 */
#ifndef TS_HTTP_FIXTURE_H
#define TS_HTTP_FIXTURE_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "ts.h"

/* Start flo-dev, then flo-sidecar (with extra arguments, NULL-terminated,
 * or NULL) and wait until it is ready. Asserts on failure. */
void ts_http_fixture_start(struct ts_flodev *dev, struct ts_sidecar *sc, const char *const extra[]);
/* Stop whichever of the two is running (the sidecar first) and expect no
 * sanitizer report in the sidecar's log. Safe to call after a failed or
 * partial start. */
void ts_http_fixture_stop(struct ts_flodev *dev, struct ts_sidecar *sc);
/* Expect no sanitizer report in the process log (dumped if there is). */
void ts_http_check_log(const struct ts_proc *p);

/* One request to the sidecar's HTTP port; path starts with '/', hdrs is
 * NULL-terminated or NULL. Asserts on a transport error. */
struct ts_http_resp ts_http_call(const struct ts_sidecar *sc, const char *method, const char *path,
                                 const char *const hdrs[], const void *body, size_t len);
/* A request whose reply must have status `want` and a JSON body (body is a
 * string or NULL); returns the parsed document, which the caller deletes. */
cJSON *ts_http_call_json(const struct ts_sidecar *sc, const char *method, const char *path,
                         const char *const hdrs[], const char *body, long want);

/* Member `name` of o, asserting it is a number / a string. */
double ts_json_num(const cJSON *o, const char *name);
const char *ts_json_str(const cJSON *o, const char *name);

#endif
