/* `drnode --probe-once CONFIG`: one round of health probes, printed as JSON,
 * for operators debugging a config (and for the integration tests). */
#ifndef DR_PROBE_ONCE_H
#define DR_PROBE_ONCE_H

/* Load the config at path, run one probe round on a fresh loop, print one
 * JSON object with a member per service on stdout, close everything.
 * Returns the exit code: 0 when every configured probe is up, 1 when one is
 * down (or the loop did not close cleanly), 2 when the config (or a key
 * file it names) is invalid; problems go to stderr. */
int probe_once_main(const char *path);

#endif /* DR_PROBE_ONCE_H */
