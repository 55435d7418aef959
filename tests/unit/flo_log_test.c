/*
 * Unit tests of the logger's two line formats (client/flo_log.c): logfmt,
 * and JSON lines whose members come from the logfmt tail (quoted values
 * unescaped, control bytes escaped). Output is captured by pointing stderr
 * at a temporary file.
 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flo/flo_log.h"

static int saved_fd = -1;
static FILE *cap;

static void capture_start(void)
{
    fflush(stderr);
    cap = tmpfile();
    cr_assert_not_null(cap);
    saved_fd = dup(STDERR_FILENO);
    cr_assert_geq(saved_fd, 0);
    cr_assert_geq(dup2(fileno(cap), STDERR_FILENO), 0);
}

/* Stop capturing; returns what was written (caller frees). */
static char *capture_end(void)
{
    fflush(stderr);
    dup2(saved_fd, STDERR_FILENO);
    close(saved_fd);
    long n = ftell(cap);
    cr_assert_geq(n, 0);
    char *s = calloc(1, (size_t)n + 1);
    cr_assert_not_null(s);
    rewind(cap);
    cr_assert_eq(fread(s, 1, (size_t)n, cap), (size_t)n);
    fclose(cap);
    return s;
}

static void restore(void)
{
    flo_log_set_format(FLO_LOG_FORMAT_LOGFMT);
    flo_log_set_level(FLO_LOG_INFO);
}

TestSuite(flo_log, .fini = restore);

Test(flo_log, parse_format)
{
    cr_assert_eq(flo_log_parse_format("logfmt"), FLO_LOG_FORMAT_LOGFMT);
    cr_assert_eq(flo_log_parse_format("JSON"), FLO_LOG_FORMAT_JSON);
    cr_assert_eq(flo_log_parse_format("xml"), -1);
}

Test(flo_log, logfmt_line)
{
    capture_start();
    flo_log(FLO_LOG_WARN, "upstream \"lost\"", "addr=%s err=\"%s\"", "127.0.0.1:9000", "reset");
    char *s = capture_end();
    cr_assert(strstr(s, " level=warn msg=\"upstream \\\"lost\\\"\" addr=127.0.0.1:9000 "
                        "err=\"reset\"\n") != NULL,
              "%s", s);
    cr_assert_eq(strncmp(s, "ts=", 3), 0);
    free(s);
}

Test(flo_log, json_line_members_from_the_tail)
{
    flo_log_set_format(FLO_LOG_FORMAT_JSON);
    capture_start();
    flo_log(FLO_LOG_ERROR, "bad \"thing\"\n", "client=%d cmd=%s detail=\"%s\" flag", 7, "get",
            "a \\\"quoted\\\" word");
    flo_log(FLO_LOG_INFO, "no tail", NULL);
    flo_log(FLO_LOG_DEBUG, "dropped below the level", NULL);
    char *s = capture_end();
    char *nl = strchr(s, '\n');
    cr_assert_not_null(nl);
    *nl = '\0';
    cJSON *doc = cJSON_Parse(s);
    cr_assert_not_null(doc, "not JSON: %s", s);
    cr_assert_str_eq(cJSON_GetObjectItem(doc, "level")->valuestring, "error");
    cr_assert_str_eq(cJSON_GetObjectItem(doc, "msg")->valuestring, "bad \"thing\"\n");
    cr_assert_str_eq(cJSON_GetObjectItem(doc, "client")->valuestring, "7");
    cr_assert_str_eq(cJSON_GetObjectItem(doc, "cmd")->valuestring, "get");
    cr_assert_str_eq(cJSON_GetObjectItem(doc, "detail")->valuestring, "a \"quoted\" word");
    cr_assert_str_eq(cJSON_GetObjectItem(doc, "flag")->valuestring, "");
    const char *ts = cJSON_GetObjectItem(doc, "ts")->valuestring;
    cr_assert_eq(strlen(ts), strlen("2026-11-26T06:15:41.123Z"), "%s", ts);
    cJSON_Delete(doc);
    doc = cJSON_Parse(nl + 1);
    cr_assert_not_null(doc, "second line: %s", nl + 1);
    cr_assert_str_eq(cJSON_GetObjectItem(doc, "msg")->valuestring, "no tail");
    cJSON_Delete(doc);
    cr_assert_null(strstr(nl + 1, "dropped"));
    free(s);
}
