/* common.c: the error out-parameter shared by every module. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

void
cbd_err_set(struct cbd_err *err, int status, const char *type,
	    const char *field, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	err->status = status;
	snprintf(err->type, sizeof(err->type), "%s", type ? type : "");
	snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
	va_end(ap);
}

void
cbd_err_clear(struct cbd_err *err)
{
	if (err == NULL)
		return;
	free(err->extra_json);
	memset(err, 0, sizeof(*err));
}
