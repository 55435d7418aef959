/*
 * flo-sidecar entry point: parse flags, environment and config file, then
 * hand over to the event loop (or, with --check-config, report the
 * effective settings and stop). Exit status 2 means bad configuration (one
 * line on stderr says which flag, variable or FILE:LINE), 1 a start-up
 * failure, 0 a clean shutdown.
 */
#include <stdio.h>

#include "flo/flo_log.h"
#include "sc_app.h"
#include "sc_config.h"

int main(int argc, char **argv)
{
    struct sc_config cfg;
    char err[1024];
    int action = sc_config_parse(&cfg, argc, argv, err, sizeof(err));
    if (action < 0) {
        fprintf(stderr, "flo-sidecar: %s\n", err);
        return SC_EXIT_CONFIG;
    }
    if (action == SC_CONFIG_HELP) {
        sc_config_usage(stdout);
        return SC_EXIT_OK;
    }
    if (action == SC_CONFIG_VERSION) {
        printf("flo-sidecar %s (commit %s)\n", FLO_VERSION_STRING, FLO_GIT_COMMIT);
        return SC_EXIT_OK;
    }
    if (action == SC_CONFIG_CHECK) {
        printf("configuration ok\n");
        sc_config_print(stdout, &cfg);
        sc_config_free(&cfg);
        return SC_EXIT_OK;
    }
    sc_app_apply_logging(&cfg);
    int code = sc_app_run(&cfg);
    sc_config_free(&cfg);
    return code;
}
