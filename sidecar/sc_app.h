/*
 * flo-sidecar wiring: one libuv loop carrying the upstream pool, the RESP
 * and HTTP front ends and (with --dev) an embedded flo-dev, plus signal
 * handling and graceful shutdown.
 */
#ifndef SC_APP_H
#define SC_APP_H

#include "sc_config.h"

/* Process exit statuses used by flo-sidecar. */
enum sc_exit_e {
    SC_EXIT_OK = 0,     /* clean shutdown after SIGINT/SIGTERM */
    SC_EXIT_START = 1,  /* a listener could not bind, or start-up failed */
    SC_EXIT_CONFIG = 2, /* bad flags or environment */
};

/*
 * Run the sidecar described by cfg (borrowed; must outlive the call) until
 * SIGINT/SIGTERM. Blocks the calling thread in uv_run. Writes a clear line
 * to stderr (through flo_log) when start-up fails. On SIGTERM/SIGINT it
 * stops accepting, ends long-polls, lets requests in flight finish for up
 * to cfg->shutdown_grace_s, ends every session upstream and closes the
 * upstream connections. SIGHUP re-parses cfg->argv, the environment and
 * the files and applies the log level, log format, auth token and shutdown
 * grace (other changes are logged as needing a restart). Returns an enum
 * sc_exit_e: SC_EXIT_OK after a clean shutdown, SC_EXIT_START when a
 * listener cannot bind or start-up fails (or closing overran the grace
 * period plus the session-leave bound). A second signal during shutdown
 * ends the process at once (status 1) without returning.
 */
int sc_app_run(const struct sc_config *cfg);

/* Apply cfg's log level and log format to flo_log (start-up and SIGHUP). */
void sc_app_apply_logging(const struct sc_config *cfg);

#endif
