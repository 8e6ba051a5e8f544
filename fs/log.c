/* log.c - stderr or syslog (contract in log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

static atomic_bool use_syslog;

void log_to_syslog(void)
{
	openlog("gguffs", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	atomic_store(&use_syslog, true);
}

bool log_uses_syslog(void)
{
	return atomic_load(&use_syslog);
}

void log_msg(int priority, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	for (char *p = buf; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	if (atomic_load(&use_syslog))
		syslog(priority, "%s", buf);
	else
		fprintf(stderr, "gguffs: %s\n", buf);
}
