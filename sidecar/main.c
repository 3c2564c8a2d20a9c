/* meshreg: subcommand dispatch. Exit codes (README "Command line"): 0 normal stop, 2 bad usage
 * or invalid config (nothing started), 1 runtime failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "sidecar/admin/ctl.h"
#include "sidecar/log.h"
#include "sidecar/backend/regset.h"
#include "sidecar/sidecar.h"

#ifndef MESHREG_VERSION
#define MESHREG_VERSION "0.1.0"
#endif

extern char **environ;

static void usage(FILE *f)
{
    fprintf(f,
            "usage:\n"
            "  meshreg run    [options] [-- APP ARGS...]   run the sidecar (default subcommand)\n"
            "  meshreg check  [options]                    validate config, print registrations\n"
            "  meshreg drain  [SVC.NS|all] [--reason R] [--expires SECONDS|--until EPOCH] [--wait]\n"
            "                 [--admin ADDR]                like hadown (default all)\n"
            "  meshreg undrain [SVC.NS|all] [--admin ADDR]  like haup\n"
            "  meshreg status [--json] [--admin ADDR]      like hastatus (exit 0 all up, 1 not, 3 no "
            "sidecar)\n"
            "  meshreg --version | --help\n"
            "\n"
            "Options of run and check (flag > environment > config file > default):\n");
    config_usage(f);
    fprintf(f, "\nExit status: 0 normal stop, 2 bad usage or invalid config (nothing started),\n"
               "1 runtime failure.\n");
}

/* run / check: argv excludes the subcommand word. */
static int cmd_run(bool check_only, int argc, char **argv)
{
    char err[8192];
    struct mr_config *cfg = NULL;
    for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
    }
    if (config_load(argc, argv, environ, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s%s", err, err[0] && err[strlen(err) - 1] == '\n' ? "" : "\n");
        fprintf(stderr, "meshreg: invalid configuration, nothing started\n");
        return 2;
    }
    if (regset_validate(cfg->backend, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\nmeshreg: invalid configuration, nothing started\n", err);
        config_free(cfg);
        return 2;
    }
    if (check_only) {
        if (cfg->warnings)
            fprintf(stderr, "%s\n", cfg->warnings);
        config_print(stdout, cfg);
        config_free(cfg);
        return 0;
    }
    log_setup(cfg->log_format, LOG_INFO);
    /* README "Same verdicts as paasta validate": what PaaSTA accepts starts,
     * meshreg's doubts are logged as warnings (one per FILE:LINE:COL line). */
    for (const char *w = cfg->warnings, *nl; w && *w; w = nl ? nl + 1 : NULL) {
        nl = strchr(w, '\n');
        log_warn(NULL, "%.*s", nl ? (int)(nl - w) : (int)strlen(w), w);
    }
    return sidecar_run(cfg, argc, argv, environ);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return cmd_run(false, 0, argv + 1);
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("meshreg %s\n", MESHREG_VERSION);
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "run") == 0)
        return cmd_run(false, argc - 2, argv + 2);
    if (strcmp(cmd, "check") == 0)
        return cmd_run(true, argc - 2, argv + 2);
    if (strcmp(cmd, "drain") == 0 || strcmp(cmd, "undrain") == 0 || strcmp(cmd, "status") == 0)
        return ctl_main(cmd, argc - 2, argv + 2);
    if (cmd[0] == '-')
        return cmd_run(false, argc - 1, argv + 1);
    fprintf(stderr, "meshreg: unknown subcommand \"%s\" (try meshreg --help)\n", cmd);
    return 2;
}
