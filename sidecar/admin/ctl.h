/* `meshreg drain|undrain|status`: the command-line client of a running
 * sidecar's admin endpoint (like hacheck's hadown/haup/hastatus). A plain
 * blocking client with a deadline on every call: it runs as its own process
 * (a preStop hook, a shell), never inside the sidecar's event loop. */
#ifndef MESHREG_CTL_H
#define MESHREG_CTL_H

/* cmd: "drain", "undrain" or "status". argv holds the arguments after the
 * subcommand word (argv[0] is the first option, not a program name).
 * Returns the exit status: 0 done, 1 failure (cannot connect, refused,
 * error answer), 2 bad usage. Writes results on stdout, errors on stderr. */
int ctl_main(const char *cmd, int argc, char **argv);

#endif
