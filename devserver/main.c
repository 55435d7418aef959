/*
 * flo-dev: run the in-memory Flo development server as its own process.
 * Parses flags, starts dev_server on a libuv loop and stops it cleanly on
 * SIGINT/SIGTERM. Everything else lives in the flodev library, which
 * `flo-sidecar --dev` embeds the same way.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "dev_server.h"
#include "flo/flo_error.h"
#include "flo/flo_log.h"

#define DEFAULT_LISTEN "127.0.0.1:9000"
#define API_KEY_ENV    "FLO_DEV_API_KEY"

struct app {
    uv_loop_t loop;
    dev_server_t *srv;
    uv_signal_t sigint, sigterm;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: flo-dev [--listen ADDR:PORT] [--api-key KEY] [--log-level LEVEL]\n"
               "\n"
               "In-memory Flo development server speaking Flo's binary protocol.\n"
               "\n"
               "  --listen ADDR:PORT   address to listen on (default " DEFAULT_LISTEN ");\n"
               "                       port 0 picks a free port\n"
               "  --api-key KEY        require AUTH with KEY on every connection\n"
               "                       (default: $" API_KEY_ENV "; unset = no AUTH, like Flo)\n"
               "  --log-level LEVEL    debug, info, warn, error or off (default info)\n"
               "  --help               show this text\n");
}

static void signal_cb(uv_signal_t *s, int signum)
{
    struct app *a = s->data;
    flo_log(FLO_LOG_INFO, "flo-dev shutting down", "signal=%d", signum);
    dev_server_close(a->srv);
    uv_close((uv_handle_t *)&a->sigint, NULL);
    uv_close((uv_handle_t *)&a->sigterm, NULL);
}

/* Value of "--name VALUE" or "--name=VALUE" at argv[*i]; NULL if argv[*i]
 * is not this flag. Exits with a message when the value is missing. */
static const char *flag_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    const char *arg = argv[*i];
    if (strncmp(arg, name, n) != 0) {
        return NULL;
    }
    if (arg[n] == '=') {
        return arg + n + 1;
    }
    if (arg[n] != '\0') {
        return NULL;
    }
    if (*i + 1 >= argc) {
        fprintf(stderr, "flo-dev: %s needs a value (see --help)\n", name);
        exit(2);
    }
    return argv[++*i];
}

int main(int argc, char **argv)
{
    const char *listen = DEFAULT_LISTEN;
    const char *api_key = getenv(API_KEY_ENV);
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if ((v = flag_value(argc, argv, &i, "--listen")) != NULL) {
            listen = v;
        } else if ((v = flag_value(argc, argv, &i, "--api-key")) != NULL) {
            api_key = v;
        } else if ((v = flag_value(argc, argv, &i, "--log-level")) != NULL) {
            int lvl = flo_log_parse_level(v);
            if (lvl < 0) {
                fprintf(stderr, "flo-dev: unknown log level '%s' (debug|info|warn|error|off)\n", v);
                return 2;
            }
            flo_log_set_level((enum flo_log_level_e)lvl);
        } else {
            fprintf(stderr, "flo-dev: unknown argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (api_key != NULL && api_key[0] == '\0') {
        api_key = NULL; /* an empty key would be a lock anyone opens */
    }

    signal(SIGPIPE, SIG_IGN);
    struct app a = {0};
    uv_loop_init(&a.loop);
    struct dev_config cfg = {.listen = listen, .api_key = api_key};
    int rc = dev_server_new(&a.loop, &cfg, &a.srv);
    if (rc != 0) {
        fprintf(stderr, "flo-dev: cannot listen on %s (%s)\n", listen,
                rc == FLO_EINVAL ? "bad address, expected ADDR:PORT" : flo_strerror(rc));
        uv_run(&a.loop, UV_RUN_DEFAULT); /* let the failed listener close */
        uv_loop_close(&a.loop);
        return 1;
    }
    /* Report the bound port (it differs from the flag when that said 0). */
    char where[160];
    const char *colon = strrchr(listen, ':');
    snprintf(where, sizeof where, "%.*s:%u", (int)(colon - listen), listen,
             (unsigned)dev_server_port(a.srv));
    char line[200];
    snprintf(line, sizeof line, "flo-dev listening on %s", where);
    flo_log(FLO_LOG_INFO, line, "addr=%s auth=%s", where, api_key != NULL ? "api-key" : "off");

    uv_signal_init(&a.loop, &a.sigint);
    uv_signal_init(&a.loop, &a.sigterm);
    a.sigint.data = a.sigterm.data = &a;
    uv_signal_start(&a.sigint, signal_cb, SIGINT);
    uv_signal_start(&a.sigterm, signal_cb, SIGTERM);

    uv_run(&a.loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&a.loop);
    if (rc != 0) {
        flo_log(FLO_LOG_WARN, "loop closed with handles open", "err=%s", uv_strerror(rc));
    }
    return 0;
}
