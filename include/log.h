/* log.h - where the daemon's messages go.
 *
 * Until log_to_syslog() is called (in the foreground, and before a mount
 * daemonises) a message is one line "gguffs: <msg>" on stderr. Once the
 * daemon has detached, stderr is /dev/null, so messages go to syslog(3)
 * instead: ident "gguffs", facility LOG_DAEMON, with the pid (read them
 * with `journalctl -t gguffs` or in /var/log/syslog).
 *
 * Thread-safe: each message is one fprintf or one syslog call.
 */
#ifndef GGUFFS_LOG_H
#define GGUFFS_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* From now on, send messages to syslog (openlog ident "gguffs"). */
void log_to_syslog(void);
bool log_uses_syslog(void);

/* Log one message at a syslog priority (LOG_ERR, LOG_WARNING, LOG_INFO).
 * Newlines in the text become spaces: one message, one line. */
void log_msg(int priority, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
